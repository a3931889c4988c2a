"""Notifications' contracts: the outcome of every message it sends, for the CRMs.

No addresses travel here: a recipient is named by company id and a one-way reference
to the contact, so a CRM can count and correlate without holding personal data.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.envelope import Contract, Envelope
from shared.contracts.registration import CompanyId

NotificationKind = Literal[
    "enrollment_confirmation",
    "signup_rejection",
    "meeting_invitation",
    "meeting_update",
    "meeting_cancellation",
    "reminder",
    "followup_attendance",
    "followup_satisfaction",
    "followup_outcome",
]


class Delivery(Contract):
    notification_id: Annotated[str, Field(min_length=1, max_length=200)]
    kind: NotificationKind
    company_id: CompanyId
    source_event_id: UUID
    language: Literal["it", "en"]
    attempts: Annotated[int, Field(ge=1)]
    meeting_id: str | None = None
    mission_id: str | None = None


class DeliveryFailure(Contract):
    notification_id: Annotated[str, Field(min_length=1, max_length=200)]
    kind: NotificationKind
    company_id: CompanyId
    source_event_id: UUID
    attempts: Annotated[int, Field(ge=0)]
    reason: Literal["permanent_smtp_error", "retries_exhausted", "invalid_recipient", "invalid_content", "no_contact"]
    detail: Annotated[str, Field(max_length=1000)]
    smtp_code: int | None = None
    meeting_id: str | None = None
    mission_id: str | None = None


class NotificationSent(Envelope[Delivery]):
    type: Literal["notification.sent.v1"] = "notification.sent.v1"


class NotificationFailed(Envelope[DeliveryFailure]):
    type: Literal["notification.failed.v1"] = "notification.failed.v1"


NotificationEvent = Annotated[NotificationSent | NotificationFailed, Field(discriminator="type")]
