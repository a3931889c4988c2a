"""An orientation session: whom it invites, who holds a seat, who waits, who attended.

One aggregate per session, changed by one writer (the session id is its key on the
command topic). Seats go first come, first served up to the capacity; the rest wait in
order, and a released seat goes to the first who waits. Every event names the company and
carries the session as planned, so its readers need nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.aggregate import Aggregate, Refused
from shared.contracts import sessions as events
from shared.contracts.envelope import Envelope
from shared.contracts.topics import Topic

SOURCE = "/outgoing/registration"


@dataclass(frozen=True)
class Invitee:
    """The invited company's missions the session counts for, and those that require it."""

    missions: tuple[str, ...]
    required_by: tuple[str, ...] = ()


@dataclass(kw_only=True)
class Session(Aggregate):
    definition: events.OrientationSession
    sequence: int = 0
    planned_at: datetime | None = None
    """The time of the plan in force: an older one, replayed or overtaken, changes nothing."""
    invitees: dict[str, Invitee] = field(default_factory=dict)
    seats: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    attendance: dict[str, bool] = field(default_factory=dict)

    @property
    def cancelled(self) -> bool:
        return self.definition.status == "cancelled"

    @classmethod
    def plan(cls, current: Session | None, cause: events.SessionPlanned, audience: dict[str, Invitee]) -> Session:
        """Plans the session, or changes it: every invitee hears of a change, and newcomers to the audience are invited."""
        if current is None:
            session = cls(id=cause.data.session_id, definition=cause.data, planned_at=cause.time)
            session.applying(cause)
            for company_id, invitee in sorted(audience.items()):
                session.invite(cause, company_id, invitee)
            return session
        if not current.has_applied(cause) and (current.planned_at is None or cause.time > current.planned_at):
            current.replan(cause, audience)
        return current

    def replan(self, cause: events.SessionPlanned, audience: dict[str, Invitee]) -> None:
        self.applying(cause)
        changed = cause.data.model_dump(exclude={"operator"}) != self.definition.model_dump(exclude={"operator"})
        was_cancelled, self.definition, self.planned_at = self.cancelled, cause.data, cause.time
        if changed and not (was_cancelled and self.cancelled):
            self.sequence += 1
            for company_id in sorted(self.invitees):
                self._record_invitation(cause, company_id)
        if self.cancelled:
            for company_id in [*self.seats, *self.waiting]:
                self._record_seat(cause, company_id, "released", reason="session_cancelled")
            self.seats, self.waiting = [], []
            return
        for company_id, invitee in sorted(audience.items()):
            self.invite(cause, company_id, invitee)
        self._fill_seats(cause)

    def invite(self, cause: Envelope[Any], company_id: str, invitee: Invitee, at: datetime | None = None) -> None:
        """Invites a company once, if the session had not started ``at`` (the cause's time by default);
        a later enrollment adds the missions it counts for, silently."""
        self.applying(cause)
        known = self.invitees.get(company_id)
        if known is not None:
            merged = Invitee(tuple(sorted({*known.missions, *invitee.missions})), tuple(sorted({*known.required_by, *invitee.required_by})))
            self.invitees[company_id] = merged
            return
        if self.cancelled or (at or cause.time) >= self.definition.start:
            return
        self.invitees[company_id] = invitee
        self._record_invitation(cause, company_id)

    def request_seat(self, cause: events.SessionSeatRequested) -> None:
        self._open_to(cause, cause.data.company_id)
        self.applying(cause)
        company_id = cause.data.company_id
        if company_id in self.seats or company_id in self.waiting:
            return
        if len(self.seats) < self.definition.capacity:
            self.seats.append(company_id)
            self._record_seat(cause, company_id, "confirmed")
        else:
            self.waiting.append(company_id)
            self._record_seat(cause, company_id, "waitlisted", position=len(self.waiting))

    def release_seat(self, cause: events.SessionSeatReleased) -> None:
        self.applying(cause)
        company_id = cause.data.company_id
        if company_id in self.seats:
            self.seats.remove(company_id)
        elif company_id in self.waiting:
            self.waiting.remove(company_id)
        else:
            return
        self._record_seat(cause, company_id, "released", reason="company")
        self._fill_seats(cause)

    def record_attendance(self, cause: events.SessionAttendanceReported) -> list[str]:
        """Records who attended; each invitee whose attendance is new or changed hears of it.
        Returns the companies on the report that were never invited, for the operator's log."""
        if self.cancelled:
            raise Refused(f"session {self.id} was cancelled: it has no attendance")
        self.applying(cause)
        present = set(cause.data.attended)
        for company_id in sorted(self.invitees):
            attended = company_id in present
            if self.attendance.get(company_id) != attended:
                self.attendance[company_id] = attended
                self._record(
                    cause,
                    company_id,
                    events.SessionAttendanceRecorded,
                    events.Attendance(**self._facts(company_id), attended=attended, registered=company_id in self.seats),
                )
        return sorted(present - set(self.invitees))

    def _open_to(self, cause: Envelope[Any], company_id: str) -> None:
        if company_id not in self.invitees:
            raise Refused(f"company {company_id} was not invited to session {self.id}")
        if self.cancelled:
            raise Refused(f"session {self.id} was cancelled")
        if cause.time >= self.definition.start:
            raise Refused(f"session {self.id} started at {self.definition.start.isoformat()}: seats are taken before it")

    def _fill_seats(self, cause: Envelope[Any]) -> None:
        while self.waiting and len(self.seats) < self.definition.capacity:
            promoted = self.waiting.pop(0)
            self.seats.append(promoted)
            self._record_seat(cause, promoted, "confirmed", promoted=True)

    def _facts(self, company_id: str) -> dict[str, Any]:
        invitee = self.invitees[company_id]
        return {
            "session": self.definition,
            "sequence": self.sequence,
            "company_id": company_id,
            "missions": list(invitee.missions),
            "required_by": list(invitee.required_by),
        }

    def _record_invitation(self, cause: Envelope[Any], company_id: str) -> None:
        self._record(cause, company_id, events.SessionInvited, events.Invitation(**self._facts(company_id)))

    def _record_seat(
        self,
        cause: Envelope[Any],
        company_id: str,
        status: Literal["confirmed", "waitlisted", "released"],
        *,
        position: int = 0,
        promoted: bool = False,
        reason: Literal["company", "session_cancelled"] | None = None,
    ) -> None:
        seat = events.Seat(**self._facts(company_id), status=status, position=position, promoted=promoted, reason=reason)
        self._record(cause, company_id, events.SessionSeatChanged, seat)

    def _record(self, cause: Envelope[Any], company_id: str, kind: type[Envelope[Any]], data: Any) -> None:
        event = kind.caused_by(cause, source=SOURCE, subject=company_id, data=data, discriminator=f"{self.id}|{self.sequence}")
        self.record(Topic.REGISTRATION_EVENTS, event)
