"""Session mail: each session event updates the company's ``Invitee`` and plans its messages.

The rules are in domain/sessions.py; this reads and saves the invitee, schedules the plans
as every other notification is scheduled (``plan``), and cancels the reminders a seat no
longer holds. At send time ``superseded`` judges a session message by the invitee as it is then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.notifications.domain import sessions as rules
from services.notifications.domain.plans import Plan
from services.notifications.domain.sessions import Invitee
from services.notifications.store import NotificationStore
from shared.contracts.sessions import SessionAttendanceRecorded, SessionInvited, SessionSeatChanged
from shared.logging import get_logger
from shared.timers import TimerStore

log = get_logger("outgoing.notifications")


@dataclass
class SessionMail:
    store: NotificationStore
    timers: TimerStore
    plan: Callable[[list[Plan]], Awaitable[None]]
    reminder_offsets_s: list[float]

    async def invited(self, event: SessionInvited) -> None:
        invitation = event.data
        known = await self.store.invitee(invitation.session.session_id, invitation.company_id)
        decided = rules.announce(known, invitation, event.id)
        if decided is None:
            log.info(
                "stale session invitation ignored",
                session_id=invitation.session.session_id,
                company_id=invitation.company_id,
                sequence=invitation.sequence,
            )
            return
        invitee, announcement = decided
        await self.store.save_invitee(invitee)
        await self._plan(event, [rules.announcement_plan(event.id, event.correlation_id, invitation, announcement, event.time)], invitee)

    async def seat_changed(self, event: SessionSeatChanged) -> None:
        seat = event.data
        known = await self.store.invitee(seat.session.session_id, seat.company_id)
        invitee = rules.take_seat(known, seat, event.id, event.time)
        if invitee is None:
            log.info("stale seat change ignored", session_id=seat.session.session_id, company_id=seat.company_id, status=seat.status)
            return
        await self.store.save_invitee(invitee)
        await self._plan(event, rules.seat_plans(event.id, event.correlation_id, seat, event.time), invitee)

    async def attendance_recorded(self, event: SessionAttendanceRecorded) -> None:
        await self.plan(rules.missed_plans(event.id, event.correlation_id, event.data, event.time))

    async def superseded(self, plan: Plan) -> str | None:
        if plan.kind not in rules.SESSION_KINDS:
            return None
        return rules.superseded(plan, await self.store.invitee(plan.details["session"]["session_id"], plan.company_id))

    async def _plan(self, event: SessionInvited | SessionSeatChanged, messages: list[Plan], invitee: Invitee) -> None:
        """The messages, and the reminders as the seat and the session now stand: (re-)armed, or cancelled."""
        reminders, cancelled = rules.reminder_plans(event.id, event.correlation_id, invitee, self.reminder_offsets_s, event.time)
        await self.plan(messages + reminders)
        for timer_id in cancelled:
            await self.timers.cancel(timer_id)
