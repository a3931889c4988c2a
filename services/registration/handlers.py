"""FastStream subscribers: each turns one kind of event into a call on the use cases.

Inputs arrive keyed however upstream chose. The intake subscribers re-publish each one to
registration's command topic keyed by company id, so that one consumer, and only one,
writes a given company's documents (single writer: see shared/outbox.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from services.registration.orientation import Orientation
from services.registration.use_cases import Registration
from shared.contracts.crm import CompanyLinked, EnrollmentLinked, RegistrationLink
from shared.contracts.envelope import Envelope
from shared.contracts.internal import OutboxFlushRequested
from shared.contracts.missions import MissionPlanned
from shared.contracts.registration import (
    CompanySignupSubmitted,
    ErasureRequested,
    OperatorOverride,
    RegistrationCommand,
    SignupApprovedByOperator,
    SignupFormEvent,
    SignupRejectedByOperator,
    SignupUpdated,
    SignupWithdrawn,
)
from shared.contracts.sessions import (
    SessionAttendanceReported,
    SessionFormEvent,
    SessionInviteRequested,
    SessionOperatorCommand,
    SessionPlanned,
    SessionSeatReleased,
    SessionSeatRequested,
)
from shared.contracts.topics import Topic
from shared.messaging import consumer, publish_event
from shared.outbox import Outbox
from shared.service import Runtime

FormEvent = Annotated[SignupFormEvent | SessionFormEvent, Field(discriminator="type")]
OperatorCommand = Annotated[OperatorOverride | SessionOperatorCommand, Field(discriminator="type")]
SessionCommand = Annotated[
    SessionPlanned | SessionSeatRequested | SessionSeatReleased | SessionAttendanceReported | SessionInviteRequested,
    Field(discriminator="type"),
]
Command = Annotated[RegistrationCommand | SessionCommand, Field(discriminator="type")]
SESSION_INPUTS = (SessionPlanned, SessionSeatRequested, SessionSeatReleased, SessionAttendanceReported)


def register(runtime: Runtime, registration: Registration, orientation: Orientation, outbox: Outbox) -> None:
    broker, topics, group = runtime.broker, runtime.topics, runtime.group_id
    parallel = runtime.settings.consumers_per_topic

    async def route_to_owner(event: Envelope[Any]) -> None:
        """A session's inputs go to the session's writer; everything else to its company's."""
        key = event.data.session_id if isinstance(event, SESSION_INPUTS) else await registration.owner_of(event)
        await publish_event(broker, topics(Topic.REGISTRATION_COMMANDS), event, key=key)

    @consumer(broker, topics(Topic.MISSIONS), group)
    async def on_mission_planned(event: MissionPlanned) -> None:
        await registration.plan_mission(event)

    @consumer(broker, topics(Topic.SIGNUP_FORMS), group, concurrency=parallel)
    async def on_signup_form(event: FormEvent) -> None:
        await route_to_owner(event)

    @consumer(broker, topics(Topic.OPERATOR_COMMANDS), group)
    async def on_operator_command(event: OperatorCommand) -> None:
        await route_to_owner(event)

    @consumer(broker, topics(Topic.CRM_LINKS), group)
    async def on_crm_link(event: RegistrationLink) -> None:
        await route_to_owner(event)

    @consumer(broker, topics(Topic.REGISTRATION_COMMANDS), group, concurrency=parallel)
    async def on_command(event: Command) -> None:
        match event:
            case SessionPlanned():
                await orientation.plan(event)
            case SessionSeatRequested():
                await orientation.take_seat(event)
            case SessionSeatReleased():
                await orientation.release_seat(event)
            case SessionAttendanceReported():
                await orientation.record_attendance(event)
            case SessionInviteRequested():
                await orientation.invite(event)
            case CompanySignupSubmitted() | SignupUpdated():
                await registration.apply_signup(event)
            case SignupWithdrawn():
                await registration.withdraw(event)
            case ErasureRequested():
                await registration.erase(event)
            case SignupApprovedByOperator():
                await registration.approve_by_operator(event)
            case SignupRejectedByOperator():
                await registration.reject_by_operator(event)
            case CompanyLinked():
                await registration.link_company(event)
            case EnrollmentLinked():
                await registration.link_enrollment(event)
            case OutboxFlushRequested():
                registration.store.touch(event.data.collection, event.data.document_id)
        await outbox.flush(registration.store.drain_touched())
