"""A notification's delivery: its SMTP attempts, its outcome, and the events these cause.

At most once per (source event, recipient, kind). An attempt is saved as "sending" before
the message goes to the server: that save is conditional on the version loaded, so two
processes can never both begin attempt n. An attempt still "sending" when the notification
fires again means the process died during it, or the server never answered after DATA:
the message may or may not have been queued, and the kind's policy decides
(domain/unconfirmed.py). The outcome and its event are one write, so a crash loses
neither without the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from services.notifications.domain.plans import Plan
from shared.aggregate import Aggregate
from shared.contracts import notifications as events
from shared.contracts.topics import Topic
from shared.redaction import redact_text

SOURCE = "/outgoing/notifications"

DeliveryState = Literal["planned", "sending", "retrying", "unconfirmed", "sent", "failed", "superseded", "dropped"]
AttemptState = Literal["sending", "sent", "temporary", "permanent", "unconfirmed_resent", "abandoned"]
FailureReason = Literal["permanent_smtp_error", "retries_exhausted", "invalid_recipient", "invalid_content", "no_contact"]
OperatorAction = Literal["delivered", "resend", "drop"]

TERMINAL: frozenset[str] = frozenset({"sent", "failed", "superseded", "dropped"})
DETAIL_MAX = 1000


def without_addresses(detail: str, recipient: str | None) -> str:
    """What an outcome may store and publish of a server's reply or an error: no address, in any
    script, nor any other personal data the logs' redaction knows (shared/redaction.py)."""
    if recipient:
        detail = re.sub(re.escape(recipient), "[recipient]", detail, flags=re.IGNORECASE)
    return redact_text(detail)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How long a notification waits for missing data, and how often SMTP is retried."""

    wait_attempts: int = 12
    wait_backoff_s: tuple[float, float] = (60.0, 1800.0)
    send_attempts: int = 5
    send_backoff_s: tuple[float, float] = (30.0, 900.0)
    unconfirmed: tuple[tuple[str, events.UnconfirmedPolicy], ...] = ()
    """Per kind, what to do with an unconfirmed send, over domain/unconfirmed.py's defaults."""

    @staticmethod
    def backoff(bounds: tuple[float, float], attempt: int) -> timedelta:
        low, high = bounds
        return timedelta(seconds=min(high, low * 2 ** max(0, attempt - 1)))


@dataclass
class Attempt:
    n: int
    state: AttemptState
    message_id: str
    started_at: datetime
    finished_at: datetime | None = None
    code: int | None = None
    detail: str = ""
    resolved_by: Literal["policy", "operator"] | None = None
    operator: str | None = None


@dataclass(kw_only=True)
class Delivery(Aggregate):
    """``recipient`` is the address of the latest attempt: personal data, scrubbed on erasure."""

    kind: events.NotificationKind
    company_id: str
    timer_id: str
    source_event_id: UUID
    correlation_id: UUID
    mission_id: str | None = None
    meeting_id: str | None = None
    state: DeliveryState = "planned"
    attempts: list[Attempt] = field(default_factory=list)
    language: Literal["it", "en"] | None = None
    recipient: str | None = None
    sent_at: datetime | None = None
    reason: str | None = None
    detail: str | None = None
    last_error: str | None = None
    erased: bool = False
    external_ids: dict[str, str] = field(default_factory=dict)
    """The CRMs' ids of the company and of the meeting, as last known: every outcome event carries them."""
    meeting_external_ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def planned(cls, plan: Plan) -> Delivery:
        return cls(
            id=plan.notification_id,
            kind=plan.kind,  # type: ignore[arg-type]
            company_id=plan.company_id,
            timer_id=plan.timer_id,
            source_event_id=plan.source_event_id,
            correlation_id=plan.correlation_id,
            mission_id=plan.mission_id,
            meeting_id=plan.meeting_id,
        )

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def last_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def in_doubt(self) -> bool:
        """The latest attempt was begun and never confirmed either way."""
        return self.last_attempt is not None and self.last_attempt.state == "sending"

    @property
    def held(self) -> bool:
        return self.state == "unconfirmed" and self.in_doubt

    # ------------------------------------------------------------ decisions

    def supersede(self, reason: str) -> None:
        if not self.finished:
            self.state, self.reason = "superseded", reason
            self.changed = True

    def begin_attempt(self, language: Literal["it", "en"], address: str, message_id: str, now: datetime) -> Attempt:
        """The intent to send, saved before the send."""
        if self.finished or self.in_doubt:
            raise ValueError(f"{self.id}: no new attempt while {self.state} with attempt {len(self.attempts)} unresolved")
        attempt = Attempt(len(self.attempts) + 1, "sending", message_id, now)
        self.attempts.append(attempt)
        self.state, self.language, self.recipient = "sending", language, None if self.erased else address
        self.changed = True
        return attempt

    def conclude_from_attempts(self, now: datetime) -> bool:
        """A delivery stored before its attempts and its outcome were one write can hold an
        attempt's outcome without its own: that outcome is the delivery's."""
        last = self.last_attempt
        if self.finished or last is None or last.state not in ("sent", "permanent"):
            return False
        if last.state == "sent":
            self._sent(now)
        else:
            self.fail("permanent_smtp_error", last.detail, now, last.code)
        return True

    def attempt_sent(self, n: int, now: datetime) -> None:
        attempt = self._open(n)
        if attempt is not None:
            attempt.state, attempt.finished_at = "sent", now
            self._sent(now)

    def attempt_failed(self, n: int, code: int | None, detail: str, now: datetime, *, permanent: bool, attempts_allowed: int) -> bool:
        """True when the message is to be tried again later."""
        attempt = self._open(n)
        if attempt is None:
            return False
        detail = without_addresses(detail, self.recipient)
        attempt.state, attempt.code, attempt.detail, attempt.finished_at = ("permanent" if permanent else "temporary"), code, detail, now
        if permanent:
            self.fail("permanent_smtp_error", detail, now, code)
            return False
        if n >= attempts_allowed:
            self.fail("retries_exhausted", detail, now, code)
            return False
        self.state, self.last_error = "retrying", detail[:DETAIL_MAX]
        self.changed = True
        return True

    def fail(self, reason: FailureReason, detail: str, now: datetime, code: int | None = None) -> None:
        if self.finished:
            return
        self.state, self.reason, self.detail = "failed", reason, without_addresses(detail, self.recipient)[:DETAIL_MAX]
        payload = {
            **self._names(),
            "source_event_id": self.source_event_id,
            "attempts": len(self.attempts),
            "reason": reason,
            "detail": self.detail,
            "smtp_code": code,
        }
        self._record("failed", self.id, payload, now)

    def settle_unconfirmed(self, policy: events.UnconfirmedPolicy, now: datetime) -> bool:
        """Applies the kind's policy to an attempt left "sending"; True when a resend may follow now."""
        attempt = self.last_attempt
        if attempt is None or attempt.state != "sending" or self.state == "unconfirmed":
            return False
        self._record(
            "unconfirmed",
            f"{self.id}|{attempt.n}",
            {**self._names(), "attempt": attempt.n, "message_id": attempt.message_id, "policy": policy},
            now,
        )
        if policy == "hold":
            self.state = "unconfirmed"
            return False
        self._resolve(attempt, "resent" if policy == "resend" else "dropped", None, now)
        return policy == "resend"

    def resolve(self, action: OperatorAction, operator: str, now: datetime) -> bool:
        """An operator's verdict on a held send; False when nothing is held."""
        attempt = self.last_attempt
        if not self.held or attempt is None:
            return False
        self._resolve(attempt, {"delivered": "delivered", "resend": "resent", "drop": "dropped"}[action], operator, now)  # type: ignore[arg-type]
        return True

    # ------------------------------------------------------------ helpers

    def _resolve(
        self, attempt: Attempt, resolution: Literal["resent", "dropped", "delivered"], operator: str | None, now: datetime
    ) -> None:
        attempt.state = {"resent": "unconfirmed_resent", "dropped": "abandoned", "delivered": "sent"}[resolution]  # type: ignore[assignment]
        attempt.resolved_by, attempt.operator, attempt.finished_at = ("operator" if operator else "policy"), operator, now
        self._record(
            "unconfirmed_resolved",
            f"{self.id}|{attempt.n}",
            {
                **self._names(),
                "attempt": attempt.n,
                "resolution": resolution,
                "by": "operator" if operator else "policy",
                "operator": operator,
            },
            now,
        )
        if resolution == "delivered":
            self._sent(now)
        elif resolution == "dropped":
            self.state, self.reason = "dropped", "unconfirmed"
        else:
            self.state = "retrying"

    def _open(self, n: int) -> Attempt | None:
        """Attempt ``n`` if it still waits for its outcome: a repeated outcome changes nothing."""
        if 0 < n <= len(self.attempts) and self.attempts[n - 1].state == "sending":
            return self.attempts[n - 1]
        return None

    def _sent(self, now: datetime) -> None:
        self.state, self.sent_at = "sent", now
        payload = {
            **self._names(),
            "source_event_id": self.source_event_id,
            "language": self.language or "en",
            "attempts": max(1, len(self.attempts)),
        }
        self._record("sent", self.id, payload, now)

    def label(self, external_ids: dict[str, str], meeting_external_ids: dict[str, str]) -> None:
        """The CRMs' latest ids of the company and the meeting, for the outcome events still to come."""
        if (self.external_ids, self.meeting_external_ids) != (external_ids, meeting_external_ids):
            self.external_ids, self.meeting_external_ids, self.changed = dict(external_ids), dict(meeting_external_ids), True

    def _names(self) -> dict[str, Any]:
        """What every outcome payload names: the notification, its kind, company, meeting and mission, and the CRMs' ids."""
        return {
            "notification_id": self.id,
            "kind": self.kind,
            "company_id": self.company_id,
            "meeting_id": self.meeting_id,
            "mission_id": self.mission_id,
            "external_ids": self.external_ids,
            "meeting_external_ids": self.meeting_external_ids,
        }

    def _record(self, outcome: str, name: str, fields: dict[str, Any], now: datetime) -> None:
        """An outcome concerns the company and follows from the plan's source event. It is published
        as ``.v2``, and also as ``.v1`` while that is kept, if ``.v1`` knows the message's kind."""
        v1, v2 = events.OUTCOMES[outcome]
        for event_type, payload_type in (v1, v2) if self.kind in events.V1_KINDS else (v2,):
            event = event_type.derived(
                name,
                source=SOURCE,
                subject=self.company_id,
                correlation_id=self.correlation_id,
                causation_id=self.source_event_id,
                time=now,
                data=payload_type.model_validate(fields),
            )
            self.record(Topic.NOTIFICATION_EVENTS, event, key=self.company_id)
