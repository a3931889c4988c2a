"""Training and orientation sessions: what each session event means for one company's mail.

Session events are keyed by company id, so a company's events are handled one at a time,
in order. For each session and company notifications keeps an ``Invitee``: the newest
version of the session any event carried, the invitation last planned, and the seat. It
plays the part the meetings read model plays for meetings: it tells a new invitation from
an update or a stale version, and, when a message falls due, whether it still holds
(``superseded``). Plan ids follow plans.py, (kind, source event, recipient[, offset]); a
reminder's timer is stable per session, company and offset, so a move re-arms it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from services.notifications.domain.plans import Plan, notification_id, single
from shared.contracts.sessions import Attendance, Invitation, OrientationSession, Seat, SessionFacts

SESSION_KINDS = frozenset(
    {"session_invitation", "session_update", "session_cancellation", "session_seat", "session_reminder", "session_missed"}
)
CALENDAR_KINDS = frozenset({"session_invitation", "session_update", "session_cancellation"})

SeatState = Literal["none", "confirmed", "waitlisted", "released"]


@dataclass(frozen=True)
class Announcement:
    """The invitation last planned for the company: enough to plan the same one again when its event is replayed."""

    event_id: str
    kind: str
    sequence: int
    status: str
    start: datetime
    end: datetime
    previous_start: datetime | None = None
    previous_end: datetime | None = None


@dataclass(frozen=True)
class Invitee:
    """One company's place in one session, as its events told it."""

    company_id: str
    session: OrientationSession
    sequence: int
    announced: Announcement | None = None
    seat: SeatState = "none"
    seat_event_id: str | None = None
    seat_at: datetime | None = None


def _newest(known: Invitee | None, facts: SessionFacts) -> Invitee:
    """``known`` with the newer of its session and the one ``facts`` carry."""
    if known is None:
        return Invitee(facts.company_id, facts.session, facts.sequence)
    newer = facts.sequence > known.sequence or (facts.sequence == known.sequence and facts.session.status == "cancelled")
    return replace(known, session=facts.session, sequence=facts.sequence) if newer else known


def announce(known: Invitee | None, invitation: Invitation, event_id: UUID) -> tuple[Invitee, Announcement] | None:
    """The invitee after an invitation, and what to tell the company; None when that version was announced already."""
    last = known.announced if known is not None else None
    if known is not None and last is not None and last.event_id == str(event_id):
        return known, last
    if _outdated(last, invitation):
        return None
    session = invitation.session
    moved = last is not None and (last.start, last.end) != (session.start, session.end)
    announcement = Announcement(
        str(event_id),
        _kind(last, session),
        invitation.sequence,
        session.status,
        session.start,
        session.end,
        last.start if last is not None and moved else None,
        last.end if last is not None and moved else None,
    )
    return replace(_newest(known, invitation), announced=announcement), announcement


def _outdated(last: Announcement | None, invitation: Invitation) -> bool:
    """Older than the version announced, or that version again under another event id: nothing new to say."""
    if last is None:
        return False
    if last.sequence != invitation.sequence:
        return last.sequence > invitation.sequence
    return invitation.session.status != "cancelled" or last.status == "cancelled"


def _kind(last: Announcement | None, session: OrientationSession) -> str:
    if session.status == "cancelled":
        return "session_cancellation"
    return "session_update" if last is not None and last.status != "cancelled" else "session_invitation"


def take_seat(known: Invitee | None, seat: Seat, event_id: UUID, at: datetime) -> Invitee | None:
    """The invitee after a seat change; None for a change older than the one known (a late copy)."""
    if known is not None and known.seat_event_id == str(event_id):
        return known
    if known is not None and known.seat_at is not None and known.seat_at > at:
        return None
    return replace(_newest(known, seat), seat=seat.status, seat_event_id=str(event_id), seat_at=at)


def _details(session: OrientationSession, sequence: int, **extra: Any) -> dict[str, Any]:
    return {"session": session.model_dump(mode="json"), "sequence": sequence, **extra}


def announcement_plan(event_id: UUID, correlation_id: UUID, invitation: Invitation, announcement: Announcement, due_at: datetime) -> Plan:
    extra: dict[str, Any] = {"required_by": list(invitation.required_by)}
    if announcement.previous_start is not None and announcement.previous_end is not None:
        extra |= {"previous_start": announcement.previous_start.isoformat(), "previous_end": announcement.previous_end.isoformat()}
    details = _details(invitation.session, invitation.sequence, **extra)
    return single(
        announcement.kind,
        event_id,
        correlation_id,
        invitation.company_id,
        due_at,
        mission_id=invitation.session.mission_id,
        details=details,
    )


def seat_plans(event_id: UUID, correlation_id: UUID, seat: Seat, due_at: datetime) -> list[Plan]:
    """One message per seat change, but none for a seat freed by the session's cancellation: the cancellation says it."""
    if seat.reason == "session_cancelled":
        return []
    details = _details(seat.session, seat.sequence, seat=seat.status, position=seat.position, promoted=seat.promoted)
    return [single("session_seat", event_id, correlation_id, seat.company_id, due_at, mission_id=seat.session.mission_id, details=details)]


def missed_plans(event_id: UUID, correlation_id: UUID, attendance: Attendance, due_at: datetime) -> list[Plan]:
    """Only a company that missed the session while a mission of its waits for it is told."""
    if attendance.attended or not attendance.required_by:
        return []
    details = _details(attendance.session, attendance.sequence, required_by=list(attendance.required_by))
    session = attendance.session
    return [
        single("session_missed", event_id, correlation_id, attendance.company_id, due_at, mission_id=session.mission_id, details=details)
    ]


def reminder_timer_id(session_id: str, company_id: str, offset_s: float) -> str:
    return f"session_reminder:{session_id}:{company_id}:{int(offset_s)}"


def reminder_plans(
    event_id: UUID, correlation_id: UUID, invitee: Invitee, offsets_s: list[float], now: datetime
) -> tuple[list[Plan], list[str]]:
    """For a confirmed seat in a session still planned, the reminders ahead; and the timers of every other reminder, to cancel."""
    session, company = invitee.session, invitee.company_id
    if invitee.seat != "confirmed" or session.status == "cancelled":
        return [], [reminder_timer_id(session.session_id, company, offset) for offset in offsets_s]
    plans: list[Plan] = []
    too_late: list[str] = []
    for offset in offsets_s:
        timer_id = reminder_timer_id(session.session_id, company, offset)
        due = session.start - timedelta(seconds=offset)
        if due < now:
            too_late.append(timer_id)
            continue
        nid = notification_id("session_reminder", event_id, company, str(int(offset)))
        details = _details(session, invitee.sequence, offset_s=offset)
        plans.append(Plan(nid, timer_id, "session_reminder", company, due, event_id, correlation_id, session.mission_id, None, details))
    return plans, too_late


def superseded(plan: Plan, invitee: Invitee | None) -> str | None:
    """Why a session message must no longer go out, judged by the company's latest session events."""
    if plan.kind not in SESSION_KINDS or plan.kind == "session_missed" or invitee is None:
        return None
    cancelled = invitee.session.status == "cancelled"
    planned_sequence = int(plan.details.get("sequence", 0))
    if plan.kind == "session_cancellation":
        return "session planned again since" if not cancelled and invitee.sequence > planned_sequence else None
    if cancelled:
        return "session cancelled"
    if plan.kind == "session_seat":
        return "seat changed since" if invitee.seat_event_id != str(plan.source_event_id) else None
    if plan.kind == "session_reminder":
        planned = plan.details["session"]
        if invitee.seat != "confirmed":
            return "seat no longer held"
        moved = (datetime.fromisoformat(planned["start"]), datetime.fromisoformat(planned["end"])) != (
            invitee.session.start,
            invitee.session.end,
        )
        return "session moved" if moved else None
    return "session changed since" if invitee.sequence > planned_sequence else None
