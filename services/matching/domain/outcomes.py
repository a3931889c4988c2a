"""A mission's outcomes: who took part, what was met, what the follow-ups said.

Pure: computed from the mission as matching holds it, the participants' profiles and the
follow-up delays. A meeting's attendance rests on both sides' answers: both or the only
one saying it took place make it held; all saying it did not make it a no-show; one of
each keeps both answers and lists the meeting as contradictory. Surveys count as sent
once their due time (meeting end plus the kind's delay) has passed. A meeting's business
outcome is the furthest either side reports, so a contract both sides report is one
contract; its value, per currency, the larger of the two given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.matching.domain.mission import Mission
from shared.contracts.missions import Mission as MissionDefinition
from shared.contracts.registration import CompanyProfile
from shared.contracts.reporting import Figures, MissionOutcomes

UNKNOWN_SECTOR = "unknown"


@dataclass(frozen=True)
class SurveyDelays:
    satisfaction: timedelta
    outcome: timedelta
    close_after: timedelta
    """How long answers to the last survey are awaited before the mission's report closes."""


class _Tally:
    """Figures being counted, for the total or one sector."""

    def __init__(self) -> None:
        self.ids: dict[str, set[str]] = defaultdict(set)
        self.counts: dict[str, int] = defaultdict(int)
        self.scores: dict[str, int] = defaultdict(int)
        self.outcomes: dict[str, int] = defaultdict(int)
        self.values: dict[str, float] = defaultdict(float)

    def figures(self) -> Figures:
        return Figures.model_validate(
            {
                **{k: sorted(v) for k, v in self.ids.items()},
                **self.counts,
                "satisfaction": dict(self.scores),
                "outcomes": dict(self.outcomes),
                "contract_values": {k: round(v, 2) for k, v in self.values.items()},
            }
        )


def sector_of(company_id: str | None, profiles: Mapping[str, CompanyProfile]) -> str:
    profile = profiles.get(company_id or "")
    return profile.sectors[0] if profile is not None and profile.sectors else UNKNOWN_SECTOR


def outcome_kind(answer: Mapping[str, Any]) -> str | None:
    """The outcome an answer gives; older forms say it with two booleans."""
    if answer.get("outcome"):
        return str(answer["outcome"])
    if answer.get("contract_signed"):
        return "contract_signed"
    if answer.get("under_negotiation"):
        return "negotiation"
    if answer.get("contract_signed") is False or answer.get("under_negotiation") is False:
        return "no_further_contact"
    return None


def mission_outcomes(
    mission: Mission, definition: MissionDefinition, profiles: Mapping[str, CompanyProfile], as_of: datetime, delays: SurveyDelays
) -> MissionOutcomes:
    total, sectors = _Tally(), defaultdict[str, _Tally](_Tally)

    def both(company_id: str | None) -> tuple[_Tally, _Tally]:
        return total, sectors[sector_of(company_id, profiles)]

    for company_id, participant in mission.participants.items():
        for tally in both(company_id):
            if participant.status == "confirmed" and participant.role in ("lombard", "foreign"):
                tally.ids[participant.role].add(company_id)
            if participant.invited:
                tally.ids["invited"].add(company_id)
            if participant.oriented_in:
                tally.ids["attended"].add(company_id)
    lombard_of = {m.meeting_id: m.lombard_id for m in mission.agenda.values() if m.active}
    for request in mission.requests:
        if request.requester and request.target:
            lombard = request.requester if mission.role_of(request.requester) == "lombard" else request.target
            for tally in both(lombard):
                tally.counts["meetings_requested"] += 1
    for placed in mission.agenda.values():
        if not placed.active:
            continue
        for tally in both(placed.lombard_id):
            tally.counts["meetings_scheduled"] += 1
            tally.counts["satisfaction_surveys"] += 2 if placed.end + delays.satisfaction <= as_of else 0
            tally.counts["outcome_surveys"] += 2 if placed.end + delays.outcome <= as_of else 0
    _count_answers(mission, lombard_of, both)
    ends = [p.end for p in mission.agenda.values() if p.active]
    return MissionOutcomes(
        mission_id=definition.mission_id,
        edition=definition.window_start.year,
        market=definition.market,
        country=definition.country,
        total=total.figures(),
        by_sector={name: tally.figures() for name, tally in sorted(sectors.items())},
        closed=bool(ends) and max(ends) + delays.outcome + delays.close_after <= as_of,
        as_of=as_of,
    )


STAGES = ("no_further_contact", "negotiation", "contract_signed")
"""Outcomes in the order a business relationship moves through them."""


def _count_answers(mission: Mission, lombard_of: Mapping[str, str], both: Any) -> None:
    attendance: dict[str, set[bool]] = defaultdict(set)
    furthest: dict[str, str] = {}
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for answer in mission.followup_answers.values():
        meeting_id = answer.get("meeting_id", "")
        if meeting_id not in lombard_of:
            continue
        kind = answer.get("kind")
        if kind == "attendance" and answer.get("attended") is not None:
            attendance[meeting_id].add(bool(answer["attended"]))
        elif kind == "satisfaction" and answer.get("satisfaction"):
            for tally in both(lombard_of[meeting_id]):
                tally.scores[str(int(answer["satisfaction"]))] += 1
        elif kind == "outcome" and (outcome := outcome_kind(answer)) is not None:
            furthest[meeting_id] = max(furthest.get(meeting_id, outcome), outcome, key=STAGES.index)
            if outcome == "contract_signed" and answer.get("contract_value") is not None and answer.get("currency"):
                currency = str(answer["currency"])
                values[meeting_id][currency] = max(values[meeting_id].get(currency, 0.0), float(answer["contract_value"]))
    for meeting_id, outcome in furthest.items():
        for tally in both(lombard_of[meeting_id]):
            tally.outcomes[outcome] += 1
            for currency, value in values[meeting_id].items() if outcome == "contract_signed" else ():
                tally.values[currency] += value
    for meeting_id, said in attendance.items():
        for tally in both(lombard_of[meeting_id]):
            if said == {True, False}:
                tally.ids["contradictory"].add(meeting_id)
            else:
                tally.counts["meetings_held" if True in said else "meetings_no_show"] += 1


def figures(mission: Mission) -> dict[str, Any]:
    """What tools outside the service may know of the mission (``GET /views/figures``)."""
    enrolled = [p for p in mission.participants.values() if p.status == "confirmed"]
    asked = [r for r in mission.requests if r.requester]
    answers = list(mission.followup_answers.values())
    attendance = [a["attended"] for a in answers if a.get("kind") == "attendance" and a.get("attended") is not None]
    scores = [int(a["satisfaction"]) for a in answers if a.get("kind") == "satisfaction" and a.get("satisfaction")]
    outcomes = [outcome_kind(a) for a in answers if a.get("kind") == "outcome"]
    return {
        "participants": {role: sum(1 for p in enrolled if p.role == role) for role in ("lombard", "foreign")},
        "requests": {
            "recorded": len(asked),
            "answered": sum(1 for r in asked if r.answer),
            "accepted": sum(1 for r in asked if r.answer == "accepted"),
            "declined": sum(1 for r in asked if r.answer == "declined"),
        },
        "orientation": {
            "invited": sum(1 for p in mission.participants.values() if p.invited),
            "attended": sum(1 for p in mission.participants.values() if p.oriented_in),
        },
        "planned": mission.summary is not None,
        "active_meetings": sum(1 for m in mission.agenda.values() if m.active),
        "followup_answers": {
            "total": len(answers),
            "attendance": {"answers": len(attendance), "attended": sum(1 for a in attendance if a)},
            "satisfaction": {str(score): scores.count(score) for score in range(1, 6)},
            "contracts_signed": outcomes.count("contract_signed"),
            "under_negotiation": outcomes.count("negotiation"),
        },
    }
