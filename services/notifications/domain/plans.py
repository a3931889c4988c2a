"""What to send for each event: one planned notification per recipient company.

A plan is due at a deterministic time (the event's own time, a reminder's offset, a
follow-up's due time) and has a deterministic id: (kind, source event, recipient[, offset]).
Replaying the event yields the same plans, so nothing is planned or sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from shared.contracts.matching import FollowUp, Meeting, MeetingCancellation

MEETING_KINDS = frozenset({"meeting_invitation", "meeting_update", "meeting_cancellation", "reminder"})


@dataclass(frozen=True)
class Plan:
    notification_id: str
    timer_id: str
    kind: str
    company_id: str
    due_at: datetime
    source_event_id: UUID
    correlation_id: UUID
    mission_id: str | None = None
    meeting_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_data(self) -> dict[str, Any]:
        """What the timer carries: ids and business data, never an address."""
        return {
            "notification_id": self.notification_id,
            "kind": self.kind,
            "company_id": self.company_id,
            "source_event_id": str(self.source_event_id),
            "correlation_id": str(self.correlation_id),
            "mission_id": self.mission_id,
            "meeting_id": self.meeting_id,
            "details": self.details,
        }

    @classmethod
    def from_data(cls, timer_id: str, due_at: datetime, data: dict[str, Any]) -> Plan:
        return cls(
            notification_id=data["notification_id"],
            timer_id=timer_id,
            kind=data["kind"],
            company_id=data["company_id"],
            due_at=due_at,
            source_event_id=UUID(data["source_event_id"]),
            correlation_id=UUID(data["correlation_id"]),
            mission_id=data.get("mission_id"),
            meeting_id=data.get("meeting_id"),
            details=data.get("details") or {},
        )


def notification_id(kind: str, source_event_id: UUID, company_id: str, extra: str = "") -> str:
    return ":".join(part for part in (kind, str(source_event_id), company_id, extra) if part)


def reminder_timer_id(meeting_id: str, company_id: str, offset_s: float) -> str:
    """Stable across reschedules: a move re-arms the same timer instead of adding one."""
    return f"reminder:{meeting_id}:{company_id}:{int(offset_s)}"


def single(kind: str, event_id: UUID, correlation_id: UUID, company_id: str, due_at: datetime, **fields: Any) -> Plan:
    nid = notification_id(kind, event_id, company_id)
    return Plan(nid, nid, kind, company_id, due_at, event_id, correlation_id, **fields)


def meeting_plans(
    kind: str, event_id: UUID, correlation_id: UUID, meeting: Meeting | MeetingCancellation, due_at: datetime, extra: dict[str, Any]
) -> list[Plan]:
    """The invitation, update or cancellation for each participant."""
    details = {"meeting": meeting.model_dump(mode="json"), **extra}
    return [
        single(
            kind, event_id, correlation_id, company, due_at, mission_id=meeting.mission_id, meeting_id=meeting.meeting_id, details=details
        )
        for company in meeting.participants
    ]


def reminder_plans(
    event_id: UUID, correlation_id: UUID, meeting: Meeting, offsets_s: list[float], now: datetime
) -> tuple[list[Plan], list[str]]:
    """Reminders still in the future, and the ids of those already too late to send."""
    plans: list[Plan] = []
    too_late: list[str] = []
    for company in meeting.participants:
        for offset in offsets_s:
            timer_id = reminder_timer_id(meeting.meeting_id, company, offset)
            due = meeting.start - timedelta(seconds=offset)
            if due < now:
                too_late.append(timer_id)
                continue
            nid = notification_id("reminder", event_id, company, str(int(offset)))
            details = {"meeting": meeting.model_dump(mode="json"), "offset_s": offset}
            plans.append(
                Plan(nid, timer_id, "reminder", company, due, event_id, correlation_id, meeting.mission_id, meeting.meeting_id, details)
            )
    return plans, too_late


def reminder_ids(meeting_id: str, participants: list[str], offsets_s: list[float]) -> list[str]:
    return [reminder_timer_id(meeting_id, company, offset) for company in participants for offset in offsets_s]


def followup_plans(event_id: UUID, correlation_id: UUID, followup: FollowUp) -> list[Plan]:
    kind = f"followup_{followup.kind}"
    details = {"followup": followup.model_dump(mode="json")}
    return [
        single(
            kind,
            event_id,
            correlation_id,
            company,
            followup.due_at,
            mission_id=followup.mission_id,
            meeting_id=followup.meeting_id,
            details=details,
        )
        for company in followup.participants
    ]


def survey_link(base_url: str, meeting_id: str, company_id: str, kind: str, token: str) -> str:
    """The survey's page; its token is what lets the upstream form's answer in (shared/links.py)."""
    return f"{base_url.rstrip('/')}/{meeting_id}/{company_id}/{kind}?token={token}"


def superseded(plan: Plan, meeting_state: dict[str, Any] | None) -> str | None:
    """Why a meeting notification must no longer go out, judged by the meeting's latest state."""
    if plan.kind not in MEETING_KINDS or plan.kind == "meeting_cancellation" or meeting_state is None:
        return None
    if meeting_state.get("status") == "cancelled":
        return "meeting cancelled"
    planned_sequence = plan.details.get("meeting", {}).get("sequence", 0)
    if meeting_state.get("sequence", 0) > planned_sequence:
        return "meeting changed since"
    return None
