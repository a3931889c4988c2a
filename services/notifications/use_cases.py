"""What the service does: plan notifications from events, and deliver them when due.

Planning (consumers) turns each event into timers in the durable timer store, one per
recipient, with deterministic ids. Delivery (the timer runner) renders and sends each one
when due. Every notification, immediate or delayed, goes the same way, so a recipient
whose contact is not known yet simply waits: the firing asks to be retried later with
backoff (nothing is lost when events arrive out of order across topics) and after
``wait_attempts`` it is recorded as failed with reason ``no_contact``.

At most once per (source event, recipient, kind): before each SMTP attempt an attempt
document is inserted under a unique id (the intent); the outcome is recorded after. An
attempt found still "sending" means the process died while talking to the server: it may
or may not have been delivered, so it is never resent automatically (see
docs/notifications.md for how an operator resolves it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.utils import parseaddr
from typing import Any
from uuid import UUID

from services.notifications.domain import plans as planning
from services.notifications.domain.content import calendar_description, partner_of, template_context
from services.notifications.domain.ics import CalendarEntry, build_calendar
from services.notifications.domain.language import choose_language
from services.notifications.domain.message import Attachment, build_message, message_id
from services.notifications.domain.plans import Plan
from services.notifications.domain.safety import InvalidContent, InvalidRecipient, recipient
from services.notifications.domain.unconfirmed import policy_for
from services.notifications.rendering import Renderer
from services.notifications.smtp import Mailer, PermanentSmtpError, TemporarySmtpError, UnconfirmedSmtpSend
from services.notifications.store import DELIVERIES, NotificationStore
from shared.contracts.matching import FollowUpDue, MeetingCancelled, MeetingRescheduled, MeetingScheduled
from shared.contracts.missions import MissionPlanned
from shared.contracts.notifications import (
    Delivery,
    DeliveryFailure,
    NotificationFailed,
    NotificationSent,
    NotificationUnconfirmed,
    NotificationUnconfirmedResolved,
    UnconfirmedPolicy,
    UnconfirmedResolution,
    UnconfirmedSend,
)
from shared.contracts.registration import (
    CompanyErased,
    CompanyRegistered,
    CompanyUpdated,
    ContactDetailsRecorded,
    EnrollmentConfirmed,
    SignupRejected,
)
from shared.contracts.topics import Topic
from shared.logging import get_logger, redact_text
from shared.outbox import DocumentRef, Outbox, pending
from shared.timers import ClaimedTimer, Clock, RetryAt, TimerStore

log = get_logger("outgoing.notifications")
SOURCE = "notifications"
NOTIFY = "notify"
TERMINAL = frozenset({"sent", "failed", "superseded"})


# ---------------------------------------------------------------- planning


@dataclass
class Planner:
    store: NotificationStore
    timers: TimerStore
    reminder_offsets_s: list[float]

    async def contact_recorded(self, event: ContactDetailsRecorded) -> None:
        details = event.payload
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
        profile = event.payload if isinstance(event, CompanyRegistered) else event.payload.profile
        await self.store.save_company(profile.model_dump(mode="json"), event.time)

    async def mission_planned(self, event: MissionPlanned) -> None:
        await self.store.save_mission(event.payload.model_dump(mode="json"), event.time)

    async def company_erased(self, event: CompanyErased) -> None:
        company_id = event.payload.company_id
        cancelled = await self.timers.cancel_group(company_id)
        scrubbed = await self.store.erase(company_id, event.time)
        log.info("company erased from notifications", company_id=company_id, timers_cancelled=cancelled, **scrubbed)

    async def enrollment_confirmed(self, event: EnrollmentConfirmed) -> None:
        enrollment = event.payload
        await self._plan(
            [
                planning.single(
                    "enrollment_confirmation",
                    event.id,
                    event.correlation_id,
                    enrollment.company_id,
                    event.time,
                    mission_id=enrollment.mission_id,
                    details={"role": enrollment.role},
                )
            ]
        )

    async def signup_rejected(self, event: SignupRejected) -> None:
        rejection = event.payload
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
            meeting, kind, extra = event.payload, "meeting_invitation", {}
        else:
            meeting, kind = event.payload.meeting, "meeting_update"
            extra = {
                "previous_start": event.payload.previous_start.isoformat(),
                "previous_end": event.payload.previous_end.isoformat(),
                "reason": event.payload.reason,
            }
        if await self._stale(meeting.meeting_id, meeting.sequence, event.id):
            return
        await self.store.save_meeting(
            meeting.meeting_id,
            {"sequence": meeting.sequence, "status": "scheduled", "event_id": str(event.id), "participants": meeting.participants},
        )
        reminders, too_late = planning.reminder_plans(event.id, event.correlation_id, meeting, self.reminder_offsets_s, event.time)
        await self._plan(planning.meeting_plans(kind, event.id, event.correlation_id, meeting, event.time, extra) + reminders)
        for timer_id in too_late:
            await self.timers.cancel(timer_id)

    async def meeting_cancelled(self, event: MeetingCancelled) -> None:
        cancellation = event.payload
        if await self._stale(cancellation.meeting_id, cancellation.sequence, event.id, cancelling=True):
            return
        await self.store.save_meeting(
            cancellation.meeting_id,
            {
                "sequence": cancellation.sequence,
                "status": "cancelled",
                "event_id": str(event.id),
                "participants": cancellation.participants,
            },
        )
        for timer_id in planning.reminder_ids(cancellation.meeting_id, cancellation.participants, self.reminder_offsets_s):
            await self.timers.cancel(timer_id)
        await self._plan(
            planning.meeting_plans(
                "meeting_cancellation", event.id, event.correlation_id, cancellation, event.time, {"reason": cancellation.reason}
            )
        )

    async def followup_due(self, event: FollowUpDue) -> None:
        await self._plan(planning.followup_plans(event.id, event.correlation_id, event.payload))

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
            if await self.store.erased_at(plan.company_id) is not None:
                continue
            await self.timers.schedule(plan.timer_id, plan.due_at, NOTIFY, plan.as_data(), group=plan.company_id)


# ---------------------------------------------------------------- delivery


@dataclass(frozen=True)
class DeliveryPolicy:
    """How long a notification waits for missing data, and how often SMTP is retried."""

    wait_attempts: int = 12
    wait_backoff_s: tuple[float, float] = (60.0, 1800.0)
    send_attempts: int = 5
    send_backoff_s: tuple[float, float] = (30.0, 900.0)
    unconfirmed: tuple[tuple[str, UnconfirmedPolicy], ...] = ()
    """Per kind, what to do with an unconfirmed send, over domain/unconfirmed.py's defaults."""

    @staticmethod
    def backoff(bounds: tuple[float, float], attempt: int) -> timedelta:
        low, high = bounds
        return timedelta(seconds=min(high, low * 2 ** max(0, attempt - 1)))


class Undeliverable(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail[:1000]


@dataclass
class Deliverer:
    store: NotificationStore
    renderer: Renderer
    mailer: Mailer
    outbox: Outbox
    sender: str
    survey_base_url: str
    clock: Clock
    policy: DeliveryPolicy = DeliveryPolicy()

    async def fire(self, item: ClaimedTimer) -> None:
        """The timer callback: deliver one notification, or ask to be fired again later."""
        plan = Plan.from_data(item.timer_id, item.timer.due_at, item.timer.data)
        delivery = await self.store.delivery(plan.notification_id)
        if delivery is not None and delivery.get("state") in TERMINAL:
            await self.outbox.flush([DocumentRef(DELIVERIES, plan.notification_id)])
            return
        attempts = await self.store.attempts(plan.notification_id)
        last = attempts[-1] if attempts else None
        if last is not None and last["state"] == "sending":
            if not await self._settle_unconfirmed(plan, last["n"], last.get("message_id") or message_id(plan.notification_id)):
                return
            attempts = await self.store.attempts(plan.notification_id)
            last = attempts[-1]
        if last is not None and last["state"] == "sent":
            await self._finish_sent(plan, delivery, len(attempts))
            return
        if last is not None and last["state"] == "permanent":
            await self._fail(plan, "permanent_smtp_error", last.get("detail", ""), len(attempts), last.get("code"))
            return
        superseded = planning.superseded(plan, await self.store.meeting(plan.meeting_id))
        if superseded and await self.store.erased_at(plan.company_id) is None:
            await self.store.record(plan.notification_id, {**_summary(plan), "state": "superseded", "reason": superseded})
            return
        try:
            message, language, address = await self._compose(plan, item)
        except Undeliverable as failure:
            await self._fail(plan, failure.reason, failure.detail, len(attempts))
            return
        await self._send(plan, message, language, address, len(attempts) + 1)

    async def _compose(self, plan: Plan, item: ClaimedTimer) -> tuple[Any, str, str]:
        """The message to send, its language and its address."""
        if await self.store.erased_at(plan.company_id) is not None:
            raise Undeliverable("no_contact", "the company was erased")
        contact = await self.store.contact(plan.company_id)
        company = await self.store.company(plan.company_id)
        partner_id = partner_of(plan.details.get("meeting") or plan.details.get("followup") or {}, plan.company_id)
        partner = await self.store.company(partner_id) if partner_id else None
        partner_known = partner is not None or not partner_id or await self.store.erased_at(partner_id) is not None
        missing = [what for what, ok in (("contact", contact), ("partner", partner_known)) if not ok]
        if missing:
            if item.attempt < self.policy.wait_attempts:
                raise RetryAt(
                    self.clock() + self.policy.backoff(self.policy.wait_backoff_s, item.attempt), f"waiting for {', '.join(missing)}"
                )
            if contact is None:
                raise Undeliverable("no_contact", f"no contact recorded for the company after {item.attempt} attempts")
        assert contact is not None
        language = choose_language(
            contact.get("contact_language"),
            contact.get("language") or plan.details.get("language"),
            (company or {}).get("preferred_language"),
            (company or {}).get("role") or plan.details.get("role"),
        )
        mission = await self.store.mission(plan.mission_id)
        try:
            to = recipient(contact["email"], contact["name"])
        except InvalidRecipient as error:
            raise Undeliverable("invalid_recipient", str(error)) from None
        try:
            context = template_context(plan, language, contact["name"], company, partner, mission, self.survey_base_url)
            rendered = self.renderer.render(plan.kind, language, context)
            sender = _address(self.sender)
            calendar = self._calendar(plan, context, sender, to)
            message = build_message(plan.notification_id, sender, to, rendered, language, self.clock(), calendar)
        except (InvalidContent, ValueError) as error:
            raise Undeliverable("invalid_content", str(error)) from None
        return message, language, contact["email"]

    def _calendar(self, plan: Plan, context: dict[str, Any], sender: Address, to: Address) -> Attachment | None:
        if plan.kind not in ("meeting_invitation", "meeting_update", "meeting_cancellation"):
            return None
        meeting = plan.details["meeting"]
        method = "CANCEL" if plan.kind == "meeting_cancellation" else "REQUEST"
        entry = CalendarEntry(
            meeting_id=meeting["meeting_id"],
            sequence=meeting["sequence"],
            start=datetime.fromisoformat(meeting["start"]),
            end=datetime.fromisoformat(meeting["end"]),
            summary=context["summary"],
            description=calendar_description(context),
            video_url=context["video_url"],
            organizer=sender,
            attendee=to,
            stamp=plan.due_at,
            method=method,
        )
        return Attachment(build_calendar(entry), method)

    async def _send(self, plan: Plan, message: Any, language: str, address: str, n: int) -> None:
        now = self.clock()
        intent = {"company_id": plan.company_id, "recipient": address, "started_at": now, "message_id": message_id(plan.notification_id)}
        if not await self.store.begin_attempt(plan.notification_id, n, intent):
            log.warning("attempt already begun elsewhere; leaving it", notification_id=plan.notification_id, attempt=n)
            return
        await self.store.record(
            plan.notification_id, {**_summary(plan), "state": "sending", "language": language, "attempts": n, "recipient": address}
        )
        try:
            await self.mailer.send(message)
        except UnconfirmedSmtpSend as failure:
            log.warning(
                "send not confirmed by the mail server", notification_id=plan.notification_id, attempt=n, detail=_redacted(failure.detail)
            )
            raise RetryAt(self.clock(), "unconfirmed send") from None  # the attempt stays "sending": the next firing applies the policy
        except TemporarySmtpError as failure:
            await self.store.finish_attempt(
                plan.notification_id, n, {"state": "temporary", "code": failure.code, "detail": failure.detail, "finished_at": self.clock()}
            )
            if n >= self.policy.send_attempts:
                await self._fail(plan, "retries_exhausted", failure.detail, n, failure.code)
                return
            await self.store.record(plan.notification_id, {"state": "retrying", "last_error": failure.detail})
            raise RetryAt(
                self.clock() + self.policy.backoff(self.policy.send_backoff_s, n), f"temporary SMTP failure {failure.code}"
            ) from None
        except PermanentSmtpError as failure:
            await self.store.finish_attempt(
                plan.notification_id, n, {"state": "permanent", "code": failure.code, "detail": failure.detail, "finished_at": self.clock()}
            )
            await self._fail(plan, "permanent_smtp_error", failure.detail, n, failure.code)
            return
        await self.store.finish_attempt(plan.notification_id, n, {"state": "sent", "finished_at": self.clock()})
        await self._finish_sent(plan, {"language": language}, n)

    async def _finish_sent(self, plan: Plan, delivery: dict[str, Any] | None, attempts: int) -> None:
        language = (delivery or {}).get("language") or "en"
        payload = Delivery(
            notification_id=plan.notification_id,
            kind=plan.kind,
            company_id=plan.company_id,
            source_event_id=plan.source_event_id,
            language=language,
            attempts=max(1, attempts),
            meeting_id=plan.meeting_id,
            mission_id=plan.mission_id,
        )
        event = NotificationSent.derived(plan.notification_id, payload=payload, **self._about(plan))
        await self.store.record(
            plan.notification_id,
            {**_summary(plan), "state": "sent", "attempts": attempts, "sent_at": self.clock()},
            [pending(Topic.NOTIFICATION_EVENTS, event, key=plan.company_id)],
        )
        await self.outbox.flush([DocumentRef(DELIVERIES, plan.notification_id)])
        log.info("notification sent", notification_id=plan.notification_id, kind=plan.kind, company_id=plan.company_id, attempts=attempts)

    async def _fail(self, plan: Plan, reason: str, detail: str, attempts: int, code: int | None = None) -> None:
        payload = DeliveryFailure(
            notification_id=plan.notification_id,
            kind=plan.kind,
            company_id=plan.company_id,
            source_event_id=plan.source_event_id,
            attempts=attempts,
            reason=reason,
            detail=_redacted(detail),
            smtp_code=code,
            meeting_id=plan.meeting_id,
            mission_id=plan.mission_id,
        )
        event = NotificationFailed.derived(plan.notification_id, payload=payload, **self._about(plan))
        await self.store.record(
            plan.notification_id,
            {**_summary(plan), "state": "failed", "reason": reason, "detail": payload.detail, "attempts": attempts},
            [pending(Topic.NOTIFICATION_EVENTS, event, key=plan.company_id)],
        )
        await self.outbox.flush([DocumentRef(DELIVERIES, plan.notification_id)])
        log.warning(
            "notification failed",
            notification_id=plan.notification_id,
            kind=plan.kind,
            company_id=plan.company_id,
            reason=reason,
            smtp_code=code,
        )

    async def _settle_unconfirmed(self, plan: Plan, n: int, mid: str) -> bool:
        """Apply the kind's policy to attempt ``n``, left "sending"; True when a resend follows now."""
        policy = policy_for(plan.kind, self.policy.unconfirmed)
        noticed = self._event(
            NotificationUnconfirmed,
            plan,
            n,
            UnconfirmedSend(
                notification_id=plan.notification_id,
                kind=plan.kind,
                company_id=plan.company_id,
                attempt=n,
                message_id=mid,
                policy=policy,
                meeting_id=plan.meeting_id,
                mission_id=plan.mission_id,
            ),
        )
        log.error("unconfirmed send", notification_id=plan.notification_id, kind=plan.kind, attempt=n, policy=policy)
        if policy == "hold":
            await self._record(
                plan.notification_id, {**_summary(plan), "state": "unconfirmed", "unconfirmed": True, "unconfirmed_attempt": n}, [noticed]
            )
            return False
        resolution = "resent" if policy == "resend" else "dropped"
        await self.store.finish_attempt(
            plan.notification_id,
            n,
            {"state": "unconfirmed_resent" if policy == "resend" else "abandoned", "resolved_by": "policy", "finished_at": self.clock()},
        )
        state = {"state": "retrying"} if policy == "resend" else {"state": "dropped", "reason": "unconfirmed"}
        await self._record(
            plan.notification_id,
            {**_summary(plan), **state, "unconfirmed": False},
            [noticed, self._resolution(plan, n, resolution, "policy", None)],
        )
        return policy == "resend"

    async def resolve_unconfirmed(self, notification_id: str, action: str, operator: str, timers: TimerStore) -> bool:
        """An operator's verdict on a held unconfirmed send: ``delivered``, ``resend`` or ``drop``.

        False when there is nothing held under that id (already resolved, or never held).
        """
        delivery = await self.store.delivery(notification_id)
        attempts = await self.store.attempts(notification_id)
        if delivery is None or not delivery.get("unconfirmed") or not attempts or attempts[-1]["state"] != "sending":
            return False
        plan_fields = _plan_fields(delivery)
        n = attempts[-1]["n"]
        outcome = {"delivered": "sent", "resend": "unconfirmed_resent", "drop": "abandoned"}[action]
        await self.store.finish_attempt(
            notification_id, n, {"state": outcome, "resolved_by_operator": operator, "finished_at": self.clock()}
        )
        resolution = {"delivered": "delivered", "resend": "resent", "drop": "dropped"}[action]
        state = {"state": "dropped", "reason": "unconfirmed"} if action == "drop" else {"state": "retrying"}
        await self._record(
            notification_id, {**state, "unconfirmed": False}, [self._resolution(plan_fields, n, resolution, "operator", operator)]
        )
        log.info("unconfirmed send resolved", notification_id=notification_id, action=action, operator=operator)
        if action == "drop":
            return True
        return await timers.move(delivery.get("timer_id", notification_id), self.clock())

    def _resolution(self, plan: Plan | _PlanFields, n: int, resolution: str, by: str, operator: str | None) -> dict[str, Any]:
        return self._event(
            NotificationUnconfirmedResolved,
            plan,
            n,
            UnconfirmedResolution(
                notification_id=plan.notification_id,
                kind=plan.kind,
                company_id=plan.company_id,
                attempt=n,
                resolution=resolution,  # type: ignore[arg-type]
                by=by,
                operator=operator,
                meeting_id=plan.meeting_id,
                mission_id=plan.mission_id,  # type: ignore[arg-type]
            ),
        )

    def _event(self, event_class: Any, plan: Plan | _PlanFields, n: int, payload: Any) -> dict[str, Any]:
        event = event_class.derived(f"{plan.notification_id}|{n}", payload=payload, **self._about(plan))
        return pending(Topic.NOTIFICATION_EVENTS, event, key=plan.company_id)

    def _about(self, plan: Plan | _PlanFields) -> dict[str, Any]:
        """The envelope fields of an outcome: it concerns the company, and follows from the plan's source event."""
        return {
            "source": SOURCE,
            "subject": plan.company_id,
            "correlation_id": plan.correlation_id,
            "causation_id": plan.source_event_id,
            "time": self.clock(),
        }

    async def _record(self, notification_id: str, fields: dict[str, Any], outbox: list[dict[str, Any]]) -> None:
        await self.store.record(notification_id, fields, outbox)
        await self.outbox.flush([DocumentRef(DELIVERIES, notification_id)])


@dataclass(frozen=True)
class _PlanFields:
    """What the delivery log keeps of a plan: enough to name it in an event."""

    notification_id: str
    kind: str
    company_id: str
    source_event_id: UUID
    correlation_id: UUID
    mission_id: str | None
    meeting_id: str | None


def _plan_fields(delivery: dict[str, Any]) -> _PlanFields:
    source = UUID(delivery["source_event_id"])
    return _PlanFields(
        notification_id=delivery["_id"],
        kind=delivery["kind"],
        company_id=delivery["company_id"],
        source_event_id=source,
        correlation_id=UUID(delivery["correlation_id"]) if delivery.get("correlation_id") else source,
        mission_id=delivery.get("mission_id"),
        meeting_id=delivery.get("meeting_id"),
    )


def _summary(plan: Plan) -> dict[str, Any]:
    """What the log keeps about a notification besides its address: enough for counts."""
    return {
        "kind": plan.kind,
        "company_id": plan.company_id,
        "timer_id": plan.timer_id,
        "source_event_id": str(plan.source_event_id),
        "correlation_id": str(plan.correlation_id),
        "mission_id": plan.mission_id,
        "meeting_id": plan.meeting_id,
    }


def _redacted(detail: str) -> str:
    return redact_text(detail)[:1000]


def _address(value: str) -> Address:
    name, addr = parseaddr(value)
    local, _, domain = addr.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)
