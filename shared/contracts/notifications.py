"""Notifications' contracts: the outcome of every message it sends, for the CRMs.

No addresses travel here: a recipient is named by company id and a one-way reference
to the contact, so a CRM can count and correlate without holding personal data.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.crm import ExternalIds
from shared.contracts.envelope import Contract, Envelope
from shared.contracts.ids import CompanyId

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
    attempts: Annotated[int, Field(ge=1, lt=2**31)]
    meeting_id: str | None = None
    mission_id: str | None = None
    external_ids: ExternalIds = {}
    """The company's, as CRMs set them."""
    meeting_external_ids: ExternalIds = {}


class DeliveryFailure(Contract):
    notification_id: Annotated[str, Field(min_length=1, max_length=200)]
    kind: NotificationKind
    company_id: CompanyId
    source_event_id: UUID
    attempts: Annotated[int, Field(ge=0, lt=2**31)]
    reason: Literal["permanent_smtp_error", "retries_exhausted", "invalid_recipient", "invalid_content", "no_contact"]
    detail: Annotated[str, Field(max_length=1000)]
    smtp_code: Annotated[int, Field(ge=100, le=999)] | None = None
    meeting_id: str | None = None
    mission_id: str | None = None
    external_ids: ExternalIds = {}
    """The company's, as CRMs set them."""
    meeting_external_ids: ExternalIds = {}


UnconfirmedPolicy = Literal["resend", "drop", "hold"]
"""What happens to a message whose send was not confirmed (docs/notifications.md)."""


class UnconfirmedSend(Contract):
    """An attempt whose outcome is unknown: the process died during it, or the connection
    broke after the message was handed over and before the server answered."""

    notification_id: Annotated[str, Field(min_length=1, max_length=200)]
    kind: NotificationKind
    company_id: CompanyId
    attempt: Annotated[int, Field(ge=1, lt=2**31)]
    message_id: Annotated[str, Field(min_length=1, max_length=300)]
    policy: UnconfirmedPolicy
    meeting_id: str | None = None
    mission_id: str | None = None
    external_ids: ExternalIds = {}
    """The company's, as CRMs set them."""
    meeting_external_ids: ExternalIds = {}


class UnconfirmedResolution(Contract):
    notification_id: Annotated[str, Field(min_length=1, max_length=200)]
    kind: NotificationKind
    company_id: CompanyId
    attempt: Annotated[int, Field(ge=1, lt=2**31)]
    resolution: Literal["resent", "dropped", "delivered"]
    by: Literal["policy", "operator"]
    operator: Annotated[str, Field(max_length=200)] | None = None
    meeting_id: str | None = None
    mission_id: str | None = None
    external_ids: ExternalIds = {}
    """The company's, as CRMs set them."""
    meeting_external_ids: ExternalIds = {}


class UnconfirmedAction(Contract):
    """An operator's verdict on a held unconfirmed send."""

    notification_id: Annotated[str, Field(min_length=1, max_length=200)]
    action: Literal["resend", "drop", "delivered"]
    operator: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Annotated[str, Field(max_length=1000)] = ""


class NotificationSent(Envelope[Delivery]):
    type: Literal["notification.sent.v1"] = "notification.sent.v1"


class NotificationFailed(Envelope[DeliveryFailure]):
    type: Literal["notification.failed.v1"] = "notification.failed.v1"


class NotificationUnconfirmed(Envelope[UnconfirmedSend]):
    type: Literal["notification.unconfirmed.v1"] = "notification.unconfirmed.v1"


class NotificationUnconfirmedResolved(Envelope[UnconfirmedResolution]):
    type: Literal["notification.unconfirmed_resolved.v1"] = "notification.unconfirmed_resolved.v1"


class UnconfirmedResolutionRequested(Envelope[UnconfirmedAction]):
    """On operator.commands, keyed by the notification's company."""

    type: Literal["notification.unconfirmed_resolution_requested.v1"] = "notification.unconfirmed_resolution_requested.v1"


NotificationEvent = Annotated[
    NotificationSent | NotificationFailed | NotificationUnconfirmed | NotificationUnconfirmedResolved, Field(discriminator="type")
]
