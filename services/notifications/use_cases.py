"""What notifications does: plan a message for each recipient of an event, deliver it when due.

Planning (the consumers) turns each event into timers in the durable timer store, one per
recipient, with deterministic ids. Delivery (the timer runner) loads the notification's
``Delivery``, lets it decide, and saves it: every notification, immediate or delayed, goes
the same way. A recipient whose contact is not known yet waits: the firing asks to run
again later, with backoff (events arrive out of order across topics), and after
``wait_attempts`` the delivery fails with ``no_contact``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

from services.notifications.composing import Composed, Composer, Missing, Undeliverable
from services.notifications.domain import plans as planning
from services.notifications.domain.delivery import Delivery, DeliveryPolicy, OperatorAction
from services.notifications.domain.message import message_id
from services.notifications.domain.plans import Plan
from services.notifications.domain.unconfirmed import policy_for
from services.notifications.sessions import SessionMail
from services.notifications.smtp import Mailer, PermanentSmtpError, TemporarySmtpError, UnconfirmedSmtpSend
from services.notifications.store import NotificationStore
from shared.aggregate_store import Conflict
from shared.contracts.matching import FollowUpDue, MeetingCancelled, MeetingRescheduled, MeetingScheduled
from shared.contracts.missions import MissionPlanned
from shared.contracts.registration import (
    CompanyErased,
    CompanyRegistered,
    CompanyUpdated,
    ContactDetailsRecorded,
    EnrollmentConfirmed,
    SignupRejected,
)
from shared.logging import get_logger, redact_text
from shared.messaging import Contention
from shared.outbox import DocumentRef
from shared.timers import ClaimedTimer, Clock, RetryAt, TimerStore

log = get_logger("outgoing.notifications")
NOTIFY = "notify"
SAVE_TRIES = 5

Flush = Callable[[list[DocumentRef]], Awaitable[int]]
"""Publishes the outbox entries of the documents named (shared/outbox.Outbox.flush)."""


class AttemptTaken(Exception):
    """Another process began this attempt: its lease holder finishes it."""


@dataclass
class Notifications:
    store: NotificationStore
    timers: TimerStore
    composer: Composer
    mailer: Mailer
    flush: Flush
    clock: Clock
    reminder_offsets_s: list[float]
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    sessions: SessionMail = field(init=False)
    """Training and orientation sessions (sessions.py)."""

    def __post_init__(self) -> None:
        self.sessions = SessionMail(self.store, self.timers, self._plan, self.reminder_offsets_s)

    # ------------------------------------------------------------ read models

    async def contact_recorded(self, event: ContactDetailsRecorded) -> None:
        details = event.data
        contact = {
            "name": details.contact.name,
            "email": str(details.contact.email),
            "contact_language": details.contact.preferred_language,
            "language": details.preferred_language,
        }
        await self.store.save_contact(details.company_id, contact, event.time)

    async def contact_erased(self, company_id: str) -> None:
        await self.store.delete_contact(company_id)

    async def company_changed(self, event: CompanyRegistered | CompanyUpdated) -> None:
        profile = event.data if isinstance(event, CompanyRegistered) else event.data.profile
        await self.store.save_company(profile.model_dump(mode="json"), event.time)

    async def mission_planned(self, event: MissionPlanned) -> None:
        await self.store.save_mission(event.data.model_dump(mode="json"), event.time)

    async def company_erased(self, event: CompanyErased) -> None:
        company_id = event.data.company_id
        cancelled = await self.timers.cancel_group(company_id)
        scrubbed = await self.store.erase(company_id, event.time)
        log.info("company erased from notifications", company_id=company_id, timers_cancelled=cancelled, **scrubbed)

    # ------------------------------------------------------------ planning

    async def enrollment_confirmed(self, event: EnrollmentConfirmed) -> None:
        enrollment = event.data
        plan = planning.single(
            "enrollment_confirmation",
            event.id,
            event.correlation_id,
            enrollment.company_id,
            event.time,
            mission_id=enrollment.mission_id,
            details={"role": enrollment.role},
        )
        await self._plan([plan])

    async def signup_rejected(self, event: SignupRejected) -> None:
        rejection = event.data
        if rejection.company_id is None:
            log.warning("rejection without a company id: nobody to address", signup_id=str(rejection.signup_id))
            return
        details = {
            "violations": [v.model_dump(mode="json") for v in rejection.violations],
            "role": rejection.role,
            "language": rejection.preferred_language,
        }
        await self._plan(
            [planning.single("signup_rejection", event.id, event.correlation_id, rejection.company_id, event.time, details=details)]
        )

    async def meeting_scheduled(self, event: MeetingScheduled | MeetingRescheduled) -> None:
        if isinstance(event, MeetingScheduled):
            meeting, kind, extra = event.data, "meeting_invitation", {}
        else:
            meeting, kind = event.data.meeting, "meeting_update"
            extra = {
                "previous_start": event.data.previous_start.isoformat(),
                "previous_end": event.data.previous_end.isoformat(),
                "reason": event.data.reason,
            }
        if await self._stale(meeting.meeting_id, meeting.sequence, event.id):
            return
        known = {"sequence": meeting.sequence, "status": "scheduled", "event_id": str(event.id), "participants": meeting.participants}
        await self.store.save_meeting(meeting.meeting_id, known | {"external_ids": meeting.external_ids})
        reminders, too_late = planning.reminder_plans(event.id, event.correlation_id, meeting, self.reminder_offsets_s, event.time)
        await self._plan(planning.meeting_plans(kind, event.id, event.correlation_id, meeting, event.time, extra) + reminders)
        for timer_id in too_late:
            await self.timers.cancel(timer_id)

    async def meeting_cancelled(self, event: MeetingCancelled) -> None:
        cancellation = event.data
        if await self._stale(cancellation.meeting_id, cancellation.sequence, event.id, cancelling=True):
            return
        known = {
            "sequence": cancellation.sequence,
            "status": "cancelled",
            "event_id": str(event.id),
            "participants": cancellation.participants,
            "external_ids": cancellation.external_ids,
        }
        await self.store.save_meeting(cancellation.meeting_id, known)
        for timer_id in planning.reminder_ids(cancellation.meeting_id, cancellation.participants, self.reminder_offsets_s):
            await self.timers.cancel(timer_id)
        extra = {"reason": cancellation.reason}
        await self._plan(planning.meeting_plans("meeting_cancellation", event.id, event.correlation_id, cancellation, event.time, extra))

    async def followup_due(self, event: FollowUpDue) -> None:
        await self._plan(planning.followup_plans(event.id, event.correlation_id, event.data))

    async def _stale(self, meeting_id: str, sequence: int, event_id: UUID, cancelling: bool = False) -> bool:
        """An older version of the meeting than the one already seen; a replay of the latest is not stale."""
        known = await self.store.meeting(meeting_id)
        if known is None or known.get("event_id") == str(event_id):
            return False
        if known["sequence"] > sequence or (known["status"] == "cancelled" and not cancelling and known["sequence"] >= sequence):
            log.info("stale meeting event ignored", meeting_id=meeting_id, sequence=sequence, known=known["sequence"])
            return True
        return False

    async def _plan(self, plans: list[Plan]) -> None:
        for plan in plans:
            if await self.store.erased_and_gone(plan.company_id):
                continue
            await self.timers.schedule(plan.timer_id, plan.due_at, NOTIFY, plan.as_data(), group=plan.company_id)

    # ------------------------------------------------------------ delivery

    async def fire(self, item: ClaimedTimer) -> None:
        """The timer callback: deliver one notification, or ask to be fired again later."""
        plan = Plan.from_data(item.timer_id, item.timer.due_at, item.timer.data)
        try:
            for _ in range(SAVE_TRIES):
                try:
                    await self._deliver(plan, item)
                    return
                except Conflict:
                    continue
                except AttemptTaken:
                    log.warning("attempt already begun elsewhere; leaving it", notification_id=plan.notification_id)
                    return
            raise Contention(f"delivery {plan.notification_id} kept changing under this firing")
        finally:
            await self.flush(self.store.drain_touched())

    async def _deliver(self, plan: Plan, item: ClaimedTimer) -> None:
        delivery = await self.store.delivery(plan.notification_id) or Delivery.planned(plan)
        now = self.clock()
        if delivery.finished:
            self.store.touch(self.store.deliveries.name, delivery.id)  # what a crash left in its outbox goes out now
            return
        if delivery.conclude_from_attempts(now):
            await self.store.deliveries.save(delivery)
            return
        if delivery.in_doubt:
            policy = policy_for(plan.kind, self.policy.unconfirmed)
            resend = delivery.settle_unconfirmed(policy, now)
            if delivery.changed:
                log.error("unconfirmed send", notification_id=delivery.id, kind=plan.kind, attempt=len(delivery.attempts), policy=policy)
                await self.store.deliveries.save(delivery)
            if not resend:
                return
        meeting = await self.store.meeting(plan.meeting_id)
        company = await self.store.company(plan.company_id)
        delivery.label((company or {}).get("external_ids") or {}, (meeting or {}).get("external_ids") or {})
        superseded = planning.superseded(plan, meeting) or await self.sessions.superseded(plan)
        if superseded and not await self.store.erased_and_gone(plan.company_id):
            delivery.supersede(superseded)
            await self.store.deliveries.save(delivery)
            return
        try:
            composed = await self.composer.compose(plan, company, wait_for_partner=item.attempt < self.policy.wait_attempts)
        except Missing as missing:
            if item.attempt < self.policy.wait_attempts:
                raise RetryAt(now + self.policy.backoff(self.policy.wait_backoff_s, item.attempt), f"waiting for {missing}") from None
            await self._fail(delivery, "no_contact", f"no contact recorded for the company after {item.attempt} attempts")
            return
        except Undeliverable as failure:
            await self._fail(delivery, failure.reason, failure.detail)
            return
        await self._send(delivery, composed)

    async def _send(self, delivery: Delivery, composed: Composed) -> None:
        attempt = delivery.begin_attempt(composed.language, composed.address, message_id(delivery.id), self.clock())
        try:
            await self.store.deliveries.save(delivery)
        except Conflict:
            current = await self.store.delivery(delivery.id)
            if current is not None and len(current.attempts) >= attempt.n:
                raise AttemptTaken from None
            raise
        n = attempt.n
        try:
            await self.mailer.send(composed.message)
        except UnconfirmedSmtpSend as failure:
            log.warning("send not confirmed by the mail server", notification_id=delivery.id, attempt=n, detail=_redacted(failure.detail))
            raise RetryAt(self.clock(), "unconfirmed send") from None  # the attempt stays "sending": the next firing applies the policy
        except (TemporarySmtpError, PermanentSmtpError) as failure:
            await self._failed_attempt(delivery, n, failure.code, failure.detail, permanent=isinstance(failure, PermanentSmtpError))
            return
        await self._conclude(delivery, lambda d: d.attempt_sent(n, self.clock()))

    async def _failed_attempt(self, delivery: Delivery, n: int, code: int | None, detail: str, *, permanent: bool) -> None:
        retry = await self._conclude(
            delivery,
            lambda d: d.attempt_failed(
                n, code, _redacted(detail), self.clock(), permanent=permanent, attempts_allowed=self.policy.send_attempts
            ),
        )
        if retry:
            raise RetryAt(self.clock() + self.policy.backoff(self.policy.send_backoff_s, n), f"temporary SMTP failure {code}")

    async def _fail(self, delivery: Delivery, reason: str, detail: str) -> None:
        await self._conclude(delivery, lambda d: d.fail(reason, _redacted(detail), self.clock()))  # type: ignore[arg-type]

    async def _conclude(self, delivery: Delivery, decide: Callable[[Delivery], bool | None]) -> bool:
        """Decide and save; on a conflict (an erasure meanwhile), load and decide again."""
        for _ in range(SAVE_TRIES):
            outcome = bool(decide(delivery))
            if not delivery.changed:
                return outcome
            try:
                await self.store.deliveries.save(delivery)
            except Conflict:
                reloaded = await self.store.delivery(delivery.id)
                if reloaded is None:
                    raise
                delivery = reloaded
                continue
            self._log_outcome(delivery)
            return outcome
        raise Contention(f"delivery {delivery.id} kept changing under its outcome")

    def _log_outcome(self, delivery: Delivery) -> None:
        about = {
            "notification_id": delivery.id,
            "kind": delivery.kind,
            "company_id": delivery.company_id,
            "attempts": len(delivery.attempts),
        }
        if delivery.state == "sent":
            log.info("notification sent", **about)
        elif delivery.state == "failed":
            last = delivery.last_attempt
            log.warning("notification failed", reason=delivery.reason, smtp_code=last.code if last else None, **about)

    async def resolve_unconfirmed(self, notification_id: str, action: OperatorAction, operator: str) -> bool:
        """An operator's verdict on a held send: ``delivered``, ``resend`` or ``drop``.

        False when nothing is held under that id (already resolved, or never held).
        """
        delivery = await self.store.delivery(notification_id)
        if delivery is None or not delivery.held:
            return False
        try:
            if not await self._conclude(delivery, lambda d: d.resolve(action, operator, self.clock())):
                return False
        finally:
            await self.flush(self.store.drain_touched())
        log.info("unconfirmed send resolved", notification_id=notification_id, action=action, operator=operator)
        if action == "resend":
            return await self.timers.move(delivery.timer_id, self.clock())
        return True


def _redacted(detail: str) -> str:
    return redact_text(detail)[:1000]
