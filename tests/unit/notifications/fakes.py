"""Notifications' store, timers and mail server in memory: the real codecs and conditional saves, no server."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, TypeVar

from services.notifications.composing import Composer
from services.notifications.rendering import Renderer
from services.notifications.smtp import PermanentSmtpError, TemporarySmtpError, UnconfirmedSmtpSend
from services.notifications.store import COMPANY_FIELDS, NotificationStore, attempt_id
from services.notifications.use_cases import DeliveryPolicy, Notifications
from shared.aggregate import Aggregate, Recorded
from shared.outbox import DocumentRef
from shared.timers import ClaimedTimer, Timer
from tests.factories import TEST_LINKS
from tests.mail_factories import T0, FakeClock
from tests.unit.fakes import InMemoryAggregates

A = TypeVar("A", bound=Aggregate)


class FakeNotificationStore(NotificationStore):
    def __init__(self) -> None:
        self.published: list[Recorded] = []
        self.read_models: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in ("contacts", "companies", "missions", "meetings")}
        self.erasures: dict[str, datetime] = {}
        self.legacy_attempts: dict[str, dict[str, Any]] = {}
        super().__init__(db=None)  # type: ignore[arg-type]

    def aggregates(
        self, name: str, to_document: Callable[[A], dict[str, Any]], from_document: Callable[[dict[str, Any]], A]
    ) -> InMemoryAggregates[A]:
        return InMemoryAggregates(name, to_document=to_document, from_document=from_document, touched=self, published=self.published)

    @property
    def docs(self) -> dict[str, dict[str, Any]]:
        return self.deliveries.docs  # type: ignore[attr-defined,no-any-return]

    def _save(self, collection: str, key: str, doc: dict[str, Any], as_of: datetime) -> bool:
        known = self.read_models[collection].get(key)
        if known is not None and known["as_of"] > as_of:
            return False
        self.read_models[collection][key] = {**copy.deepcopy(doc), "as_of": as_of}
        return True

    async def save_contact(self, company_id: str, contact: dict[str, Any], as_of: datetime) -> bool:
        if company_id in self.erasures and self.erasures[company_id] >= as_of:
            return False
        return self._save("contacts", company_id, contact, as_of)

    async def contact(self, company_id: str) -> dict[str, Any] | None:
        return self.read_models["contacts"].get(company_id)

    async def delete_contact(self, company_id: str) -> None:
        self.read_models["contacts"].pop(company_id, None)

    async def save_company(self, profile: dict[str, Any], as_of: datetime) -> bool:
        if profile["company_id"] in self.erasures and self.erasures[profile["company_id"]] >= as_of:
            return False
        return self._save("companies", profile["company_id"], {k: profile.get(k) for k in COMPANY_FIELDS}, as_of)

    async def company(self, company_id: str) -> dict[str, Any] | None:
        return self.read_models["companies"].get(company_id)

    async def save_mission(self, mission: dict[str, Any], as_of: datetime) -> bool:
        return self._save("missions", mission["mission_id"], mission, as_of)

    async def mission(self, mission_id: str | None) -> dict[str, Any] | None:
        return self.read_models["missions"].get(mission_id) if mission_id else None

    async def meeting(self, meeting_id: str | None) -> dict[str, Any] | None:
        return self.read_models["meetings"].get(meeting_id) if meeting_id else None

    async def save_meeting(self, meeting_id: str, state: dict[str, Any]) -> None:
        self.read_models["meetings"][meeting_id] = copy.deepcopy(state)

    async def erased_at(self, company_id: str) -> datetime | None:
        return self.erasures.get(company_id)

    async def erase(self, company_id: str, at: datetime) -> dict[str, int]:
        """As the real store: one update of every delivery of the company, which bumps its version."""
        self.erasures[company_id] = max(at, self.erasures.get(company_id, at))
        self.read_models["contacts"].pop(company_id, None)
        self.read_models["companies"].pop(company_id, None)
        scrubbed = 0
        for doc in self.docs.values():
            if doc["company_id"] == company_id:
                doc.pop("recipient", None)
                doc["erased"] = True
                doc["version"] = doc.get("version", 0) + 1
                scrubbed += 1
        return {"deliveries": scrubbed, "attempts": 0}

    async def _legacy_attempts(self, notification_id: str) -> list[Any]:
        from services.notifications.store import _attempt

        found = []
        while (doc := self.legacy_attempts.get(attempt_id(notification_id, len(found) + 1))) is not None:
            found.append(_attempt(doc))
        return found

    def events(self, event_type: str | None = None) -> list[Any]:
        return [r.event for r in self.published if r.event is not None and (event_type is None or r.event.type == event_type)]


@dataclass
class FakeTimers:
    """Timers by id; ``claim`` builds the firing the runner would hand to the callback."""

    clock: FakeClock
    timers: dict[str, Timer] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)

    async def schedule(
        self, timer_id: str, due_at: datetime, kind: str, data: dict[str, Any] | None = None, group: str | None = None
    ) -> Timer:
        known = self.timers.get(timer_id)
        if known is None or known.due_at != due_at:
            self.timers[timer_id] = Timer(timer_id, kind, data or {}, group, due_at, (known.epoch + 1) if known else 1, "pending")
        return self.timers[timer_id]

    async def move(self, timer_id: str, new_due_at: datetime) -> bool:
        known = self.timers.get(timer_id)
        if known is None or known.state == "cancelled":
            return False
        self.timers[timer_id] = Timer(timer_id, known.kind, known.data, known.group, new_due_at, known.epoch + 1, "pending")
        self.attempts[timer_id] = 0
        return True

    async def cancel(self, timer_id: str) -> bool:
        known = self.timers.get(timer_id)
        if known is None:
            return False
        self.timers[timer_id] = Timer(timer_id, known.kind, known.data, known.group, known.due_at, known.epoch, "cancelled")
        return True

    async def cancel_group(self, group: str) -> int:
        pending = [t.timer_id for t in self.timers.values() if t.group == group and t.state == "pending"]
        for timer_id in pending:
            await self.cancel(timer_id)
        return len(pending)

    def pending(self) -> list[Timer]:
        return sorted((t for t in self.timers.values() if t.state == "pending"), key=lambda t: (t.due_at, t.timer_id))

    def claim(self, timer_id: str) -> ClaimedTimer:
        self.attempts[timer_id] = self.attempts.get(timer_id, 0) + 1
        return ClaimedTimer(self.timers[timer_id], self.attempts[timer_id], "unit", self.clock() + timedelta(minutes=5))

    def done(self, timer_id: str) -> None:
        known = self.timers[timer_id]
        self.timers[timer_id] = Timer(timer_id, known.kind, known.data, known.group, known.due_at, known.epoch, "fired")


class Crash(BaseException):
    """The process dies in the middle of a send: nothing after it runs."""


@dataclass
class FakeMailServer:
    """Plays the next outcomes in order (``ok`` once the list is empty): ``ok``, ``temporary``,
    ``permanent``, ``unconfirmed`` (queued, answer lost), ``lost`` (not queued, answer lost)
    and ``crash`` (queued, then the sender dies)."""

    outcomes: list[str] = field(default_factory=list)
    received: list[EmailMessage] = field(default_factory=list)
    during_send: Callable[[], Awaitable[None]] | None = None

    async def send(self, message: EmailMessage) -> None:
        if self.during_send is not None:
            hook, self.during_send = self.during_send, None
            await hook()
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome in ("ok", "unconfirmed", "crash"):
            self.received.append(message)
        if outcome == "temporary":
            raise TemporarySmtpError(451, "4.3.0 try again later")
        if outcome == "permanent":
            raise PermanentSmtpError(550, "5.1.1 <someone@example.test>: mailbox unavailable")
        if outcome in ("unconfirmed", "lost"):
            raise UnconfirmedSmtpSend(None, "connection lost after DATA")
        if outcome == "crash":
            raise Crash


@dataclass
class Harness:
    store: FakeNotificationStore
    timers: FakeTimers
    mail: FakeMailServer
    clock: FakeClock
    notifications: Notifications
    flushed: list[DocumentRef] = field(default_factory=list)


def harness(policy: DeliveryPolicy | None = None) -> Harness:
    clock = FakeClock(T0)
    store = FakeNotificationStore()
    timers = FakeTimers(clock)
    mail = FakeMailServer()
    flushed: list[DocumentRef] = []

    async def flush(refs: list[DocumentRef]) -> int:
        flushed.extend(refs)
        return len(refs)

    composer = Composer(
        store, Renderer(None), "Outgoing <missions@outgoing.example>", "https://survey.outgoing.example/f", clock, TEST_LINKS
    )
    notifications = Notifications(
        store,
        timers,
        composer,
        mail,
        flush,
        clock,
        [86400.0, 3600.0],
        policy or DeliveryPolicy(),  # type: ignore[arg-type]
    )
    return Harness(store, timers, mail, clock, notifications, flushed)
