"""The events a new plan causes: proposals, each meeting's change, the agenda's summary.

Ids derive from the causing event (``Envelope.caused_by``), so a plan decided again after
a crash yields the same events, which consumers drop as duplicates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo

from services.matching.domain.planning import Change, Placed, Plan
from services.matching.domain.scoring import ScoredPair, proposals_by_company
from shared.contracts.envelope import Envelope
from shared.contracts.matching import (
    AgendaPublished,
    AgendaSummary,
    LocalTime,
    MatchesProposed,
    MatchList,
    Meeting,
    MeetingCancellation,
    MeetingCancelled,
    MeetingMove,
    MeetingRescheduled,
    MeetingScheduled,
    Proposal,
)
from shared.contracts.registration import CompanyProfile

SOURCE = "/outgoing/matching"


def meeting_event(
    cause: Envelope[Any],
    change: Change,
    profiles: Mapping[str, CompanyProfile],
    mission_id: str,
    video_url: Callable[[str], str],
    external_ids: Mapping[str, str],
) -> Envelope[Any]:
    placed = change.meeting
    discriminator = f"{placed.meeting_id}:{placed.sequence}"
    if change.kind == "cancelled":
        payload = MeetingCancellation(
            meeting_id=placed.meeting_id,
            mission_id=mission_id,
            participants=[placed.lombard_id, placed.foreign_id],
            start=placed.start,
            end=placed.end,
            sequence=placed.sequence,
            reason=change.reason,
            external_ids=dict(external_ids),
        )
        cancelled: Envelope[Any] = MeetingCancelled.caused_by(
            cause, source=SOURCE, subject=mission_id, data=payload, discriminator=discriminator
        )
        return cancelled
    meeting = meeting_payload(placed, mission_id, profiles, video_url).model_copy(update={"external_ids": dict(external_ids)})
    if change.kind == "rescheduled" and change.previous is not None:
        move = MeetingMove(meeting=meeting, previous_start=change.previous.start, previous_end=change.previous.end, reason=change.reason)
        moved: Envelope[Any] = MeetingRescheduled.caused_by(
            cause, source=SOURCE, subject=mission_id, data=move, discriminator=discriminator
        )
        return moved
    scheduled: Envelope[Any] = MeetingScheduled.caused_by(
        cause, source=SOURCE, subject=mission_id, data=meeting, discriminator=discriminator
    )
    return scheduled


def proposal_events(
    cause: Envelope[Any], plan: Plan, mission_id: str, limit: int, told: dict[str, str], profiles: Mapping[str, CompanyProfile]
) -> Iterator[Envelope[Any]]:
    """MatchesProposed for each company whose list changed since it was last told; ``told`` is updated."""
    for company_id, items in sorted(proposals_by_company(plan.scored, limit).items()):
        proposals = [_proposal(company_id, item) for item in items]
        digest = hashlib.sha256(json.dumps([p.model_dump(mode="json") for p in proposals], sort_keys=True).encode()).hexdigest()[:16]
        if told.get(company_id) == digest:
            continue
        told[company_id] = digest
        known = profiles.get(company_id)
        external_ids = dict(known.external_ids) if known is not None else {}
        payload = MatchList(mission_id=mission_id, company_id=company_id, proposals=proposals, external_ids=external_ids)
        event: Envelope[Any] = MatchesProposed.caused_by(cause, source=SOURCE, subject=mission_id, data=payload, discriminator=company_id)
        yield event


def agenda_published(cause: Envelope[Any], mission_id: str, version: int, plan: Plan) -> AgendaPublished:
    schedule = plan.schedule
    summary = AgendaSummary(
        mission_id=mission_id,
        version=version,
        status="heuristic" if schedule.solver == "heuristic" else schedule.status,
        meetings=sum(1 for p in plan.agenda.values() if p.active),
        unscheduled=len(schedule.unscheduled),
        total_breaks=schedule.total_breaks,
        bound=schedule.bound,
        solver=schedule.solver,
        seconds=round(schedule.seconds, 3),
        breaks=dict(schedule.breaks),
        moved=len(schedule.moved),
    )
    published: AgendaPublished = AgendaPublished.caused_by(cause, source=SOURCE, subject=mission_id, data=summary)
    return published


def meeting_payload(placed: Placed, mission_id: str, profiles: Mapping[str, CompanyProfile], video_url: Callable[[str], str]) -> Meeting:
    """The meeting as both sides see it, each in its own time zone; ``video_url`` names its room."""
    local_times = []
    for company_id in (placed.lombard_id, placed.foreign_id):
        profile = profiles[company_id]
        zone = ZoneInfo(profile.timezone)
        local_times.append(
            LocalTime(
                company_id=company_id,
                role=profile.role,
                timezone=profile.timezone,
                start_local=placed.start.astimezone(zone).isoformat(),
                end_local=placed.end.astimezone(zone).isoformat(),
            )
        )
    return Meeting(
        meeting_id=placed.meeting_id,
        mission_id=mission_id,
        participants=[placed.lombard_id, placed.foreign_id],
        start=placed.start,
        end=placed.end,
        local_times=local_times,
        video_url=video_url(placed.meeting_id),
        sequence=placed.sequence,
        slot_id=placed.slot_id,
    )


def _proposal(company_id: str, item: ScoredPair) -> Proposal:
    is_lombard = company_id == item.lombard_id
    requested: Literal["none", "by_company", "by_partner", "mutual"] = {
        "none": "none",
        "mutual": "mutual",
        "by_lombard": "by_company" if is_lombard else "by_partner",
        "by_foreign": "by_partner" if is_lombard else "by_company",
    }[item.requested]
    partner = item.foreign_id if is_lombard else item.lombard_id
    return Proposal(partner_id=partner, score=item.score, reasons=list(item.reasons), requested=requested, forced=item.forced)
