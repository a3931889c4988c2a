"""The demo's meeting forms: requests and answers between its firms, and the follow-up
answers participants give months later. Drawn from the seed, never from arrival order."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from outgoing_cli.demo.firms import Company, event_id
from shared.contracts.matching import (
    FollowUpAnswer,
    FollowUpAnswered,
    FollowUpDue,
    MeetingRequest,
    MeetingRequestAnswer,
    MeetingRequestAnswered,
    MeetingRequested,
)
from shared.contracts.missions import Mission
from shared.contracts.registration import (
    LombardApplicant,
)
from shared.links import LinkKeys

REQUESTS_AT = datetime(2020, 10, 8, 9, 0, tzinfo=UTC)
RESPONSE_RATES = {"attendance": 0.6, "satisfaction": 0.45, "outcome": 0.35}


def meeting_requests(
    seed: int, rng: random.Random, missions: list[Mission], lombard: list[Company], foreign: list[Company]
) -> tuple[list[MeetingRequested], list[MeetingRequestAnswered]]:
    """About a third of the firms ask for a partner with a sector in common; most say yes."""
    requests: list[MeetingRequested] = []
    answers: list[MeetingRequestAnswered] = []
    for mission in missions:
        here_l = [c for c in lombard if mission.mission_id in c.applicant.missions]
        here_f = [c for c in foreign if mission.mission_id in c.applicant.missions]
        if not here_l or not here_f:
            continue
        asked: set[tuple[str, str]] = set()
        for requester in here_l + here_f:
            if rng.random() >= (0.35 if requester in here_l else 0.15):
                continue
            others = here_f if requester in here_l else here_l
            fitting = [o for o in others if set(_sectors(o)) & set(_sectors(requester))] or others
            target = rng.choice(fitting)
            pair = tuple(sorted((requester.handle, target.handle)))
            if pair in asked:
                continue
            asked.add(pair)
            request_id = f"req-{len(requests) + 1:04d}"
            at = REQUESTS_AT + timedelta(minutes=len(requests))
            payload = MeetingRequest(
                request_id=request_id,
                mission_id=mission.mission_id,
                requester_id=requester.handle,
                target_id=target.handle,
                note=f"{requester.name} would like to meet {target.name}.",
            )
            requests.append(
                MeetingRequested.new(
                    source="/outgoing/demo/forms",
                    subject=mission.mission_id,
                    data=payload,
                    time=at,
                    event_id=event_id(seed, "request", request_id),
                )
            )
            answer = MeetingRequestAnswer(
                request_id=request_id,
                mission_id=mission.mission_id,
                answered_by=target.handle,
                answer="accepted" if rng.random() < 0.8 else "declined",
            )
            answers.append(
                MeetingRequestAnswered.new(
                    source="/outgoing/demo/forms",
                    subject=mission.mission_id,
                    data=answer,
                    time=at + timedelta(days=1),
                    event_id=event_id(seed, "answer", request_id),
                )
            )
    return requests, answers


def _sectors(company: Company) -> list[str]:
    applicant = company.applicant
    return [applicant.sector] if isinstance(applicant, LombardApplicant) else list(applicant.sectors)


def followup_answers(seed: int, due: Iterable[FollowUpDue], keys: LinkKeys) -> list[FollowUpAnswered]:
    """Each participant's answer to each follow-up it was sent, or silence.

    Drawn per (meeting, company, kind), so the answers do not depend on the order the
    follow-ups arrived in. Fewer answer each later survey, as with real ones; most attend,
    satisfaction leans high, as the programme reported; some meetings lead to contracts.
    Each answer carries its survey link's token, as the upstream form passes it on.
    """
    answers = []
    for event in sorted(due, key=lambda e: (e.data.meeting_id, e.data.kind)):
        followup = event.data
        for company_id in followup.participants:
            rng = random.Random(f"{seed}:{followup.meeting_id}:{company_id}:{followup.kind}")
            if rng.random() >= RESPONSE_RATES[followup.kind]:
                continue
            fields: dict[str, Any]
            match followup.kind:
                case "attendance":
                    fields = {"attended": rng.random() < 0.93}
                case "satisfaction":
                    fields = {"satisfaction": rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 4, 14, 12])[0]}
                case _:
                    fields = _outcome(rng)
            token = keys.survey_token(followup.meeting_id, company_id, followup.kind)
            payload = FollowUpAnswer(
                meeting_id=followup.meeting_id,
                mission_id=followup.mission_id,
                company_id=company_id,
                kind=followup.kind,
                token=token,
                **fields,
            )
            answers.append(
                FollowUpAnswered.new(
                    source="/outgoing/demo/forms",
                    subject=followup.mission_id,
                    data=payload,
                    time=followup.due_at + timedelta(days=2),
                    event_id=event_id(seed, "followup", followup.meeting_id, company_id, followup.kind),
                )
            )
    return answers


def _outcome(rng: random.Random) -> dict[str, Any]:
    """Some meetings lead to a contract, more to a negotiation; most signed contracts say their value."""
    if rng.random() < 0.12:
        fields: dict[str, Any] = {"outcome": "contract_signed"}
        if rng.random() < 0.7:
            fields |= {"contract_value": 1000.0 * rng.randint(5, 250), "currency": rng.choice(["EUR", "EUR", "EUR", "USD"])}
        return fields
    return {"outcome": "negotiation" if rng.random() < 0.3 else "no_further_contact"}
