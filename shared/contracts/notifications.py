"""Notifications' contracts: the outcome of every message it sends, for the CRMs.

No addresses travel here: a recipient is named by company id and a one-way reference
to the contact, so a CRM can count and correlate without holding personal data.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.crm import ExternalIds
from shared.contracts.envelope import Contract, Envelope
from shared.contracts.ids import CompanyId

KindV1 = Literal[
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
"""The kinds the ``.v1`` outcome events may name: a closed enum, so it never grows (docs/crm.md)."""
NotificationKind = Literal[
    KindV1,
    "session_invitation",
    "session_update",
    "session_cancellation",
    "session_seat",
    "session_reminder",
    "session_missed",
]
"""Every kind notifications sends. Messages of a kind v1 does not know have ``.v2`` outcome events only."""
V1_KINDS: frozenset[str] = frozenset(KindV1.__args__)  # type: ignore[attr-defined]
OpenKind = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{1,63}$",
        description="an open set: new kinds may appear in any release, so a reader must pass over one it does not know",
    ),
]


class Delivery(Contract):
    notification_id: Annotated[str, Field(min_length=1, max_length=200)]
    kind: KindV1
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
    kind: KindV1
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
    kind: KindV1
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
    kind: KindV1
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


class DeliveryV2(Delivery):
    kind: OpenKind  # type: ignore[assignment]


class DeliveryFailureV2(DeliveryFailure):
    kind: OpenKind  # type: ignore[assignment]


class UnconfirmedSendV2(UnconfirmedSend):
    kind: OpenKind  # type: ignore[assignment]


class UnconfirmedResolutionV2(UnconfirmedResolution):
    kind: OpenKind  # type: ignore[assignment]


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


class NotificationSentV2(Envelope[DeliveryV2]):
    """As ``.v1``, with ``kind`` an open set: every message has one, whatever its kind."""

    type: Literal["notification.sent.v2"] = "notification.sent.v2"


class NotificationFailedV2(Envelope[DeliveryFailureV2]):
    type: Literal["notification.failed.v2"] = "notification.failed.v2"


class NotificationUnconfirmedV2(Envelope[UnconfirmedSendV2]):
    type: Literal["notification.unconfirmed.v2"] = "notification.unconfirmed.v2"


class NotificationUnconfirmedResolvedV2(Envelope[UnconfirmedResolutionV2]):
    type: Literal["notification.unconfirmed_resolved.v2"] = "notification.unconfirmed_resolved.v2"


class UnconfirmedResolutionRequested(Envelope[UnconfirmedAction]):
    """On operator.commands, keyed by the notification's company."""

    type: Literal["notification.unconfirmed_resolution_requested.v1"] = "notification.unconfirmed_resolution_requested.v1"


NotificationEvent = Annotated[
    NotificationSent
    | NotificationFailed
    | NotificationUnconfirmed
    | NotificationUnconfirmedResolved
    | NotificationSentV2
    | NotificationFailedV2
    | NotificationUnconfirmedV2
    | NotificationUnconfirmedResolvedV2,
    Field(discriminator="type"),
]
OUTCOMES: dict[str, tuple[tuple[type[Envelope[Any]], type[Contract]], tuple[type[Envelope[Any]], type[Contract]]]] = {
    "sent": ((NotificationSent, Delivery), (NotificationSentV2, DeliveryV2)),
    "failed": ((NotificationFailed, DeliveryFailure), (NotificationFailedV2, DeliveryFailureV2)),
    "unconfirmed": ((NotificationUnconfirmed, UnconfirmedSend), (NotificationUnconfirmedV2, UnconfirmedSendV2)),
    "unconfirmed_resolved": (
        (NotificationUnconfirmedResolved, UnconfirmedResolution),
        (NotificationUnconfirmedResolvedV2, UnconfirmedResolutionV2),
    ),
}
"""Each outcome's event and payload, in ``.v1`` and ``.v2``: both are published while ``.v1`` is kept (docs/crm.md)."""
