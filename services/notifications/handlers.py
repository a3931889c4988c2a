"""FastStream subscribers: each turns one kind of event into one use case call."""

from __future__ import annotations

from typing import Annotated

from faststream.kafka.annotations import KafkaMessage
from pydantic import Field, TypeAdapter

from services.notifications.use_cases import Notifications
from shared.contracts.matching import FollowUpDue, MatchingEvent, MeetingCancelled, MeetingRescheduled, MeetingScheduled
from shared.contracts.missions import MissionPlanned
from shared.contracts.notifications import UnconfirmedResolutionRequested
from shared.contracts.registration import (
    CompanyErased,
    CompanyId,
    CompanyRegistered,
    CompanyUpdated,
    ContactDetailsRecorded,
    EnrollmentConfirmed,
    RegistrationEvent,
    SignupRejected,
)
from shared.contracts.sessions import SessionAttendanceRecorded, SessionEvent, SessionInvited, SessionSeatChanged
from shared.contracts.topics import Topic
from shared.logging import get_logger
from shared.messaging import consumer
from shared.service import Runtime

log = get_logger("outgoing.notifications")
COMPANY_ID: TypeAdapter[str] = TypeAdapter(CompanyId)
RegistrationInput = Annotated[RegistrationEvent | SessionEvent, Field(discriminator="type")]
"""What registration publishes on its events topic, sessions included: one tagged union, flattened by pydantic."""


def _tombstone_company(key: bytes | None) -> str:
    """A contact's tombstone names its company by its key alone: one that is not a company id
    is invalid input (dead-lettered at once), not a handler error retried first."""
    return COMPANY_ID.validate_python(key.decode("utf-8", "replace") if key else "")


def register(runtime: Runtime, notifications: Notifications) -> None:
    broker, topics, group = runtime.broker, runtime.topics, runtime.group_id
    parallel = runtime.settings.consumers_per_topic

    @consumer(broker, topics(Topic.CONTACTS), group, concurrency=parallel)
    async def on_contact(event: ContactDetailsRecorded | None, message: KafkaMessage) -> None:
        if event is None:
            await notifications.contact_erased(_tombstone_company(message.raw_message.key))
        else:
            await notifications.contact_recorded(event)

    @consumer(broker, topics(Topic.MISSIONS), group)
    async def on_mission(event: MissionPlanned) -> None:
        await notifications.mission_planned(event)

    @consumer(broker, topics(Topic.REGISTRATION_EVENTS), group, concurrency=parallel)
    async def on_registration_event(event: RegistrationInput) -> None:
        match event:
            case CompanyRegistered() | CompanyUpdated():
                await notifications.company_changed(event)
            case EnrollmentConfirmed():
                await notifications.enrollment_confirmed(event)
            case SignupRejected():
                await notifications.signup_rejected(event)
            case CompanyErased():
                await notifications.company_erased(event)
            case SessionInvited():
                await notifications.sessions.invited(event)
            case SessionSeatChanged():
                await notifications.sessions.seat_changed(event)
            case SessionAttendanceRecorded():
                await notifications.sessions.attendance_recorded(event)

    @consumer(broker, topics(Topic.MATCHING_EVENTS), group, concurrency=parallel)
    async def on_matching_event(event: MatchingEvent) -> None:
        match event:
            case MeetingScheduled() | MeetingRescheduled():
                await notifications.meeting_scheduled(event)
            case MeetingCancelled():
                await notifications.meeting_cancelled(event)
            case FollowUpDue():
                await notifications.followup_due(event)


def register_operator_commands(runtime: Runtime, notifications: Notifications) -> None:
    broker, topics, group = runtime.broker, runtime.topics, runtime.group_id

    @consumer(broker, topics(Topic.OPERATOR_COMMANDS), group)
    async def on_unconfirmed_resolution(event: UnconfirmedResolutionRequested) -> None:
        order = event.data
        if not await notifications.resolve_unconfirmed(order.notification_id, order.action, order.operator):
            log.warning(
                "nothing held under that notification id; already resolved?", notification_id=order.notification_id, operator=order.operator
            )
