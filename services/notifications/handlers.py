"""FastStream subscribers: each turns one kind of event into a call on the planner."""

from __future__ import annotations

from faststream.kafka.annotations import KafkaMessage

from services.notifications.use_cases import Deliverer, Planner
from shared.contracts.matching import FollowUpDue, MatchingEvent, MeetingCancelled, MeetingRescheduled, MeetingScheduled
from shared.contracts.missions import MissionPlanned
from shared.contracts.notifications import UnconfirmedResolutionRequested
from shared.contracts.registration import (
    CompanyErased,
    CompanyRegistered,
    CompanyUpdated,
    ContactDetailsRecorded,
    EnrollmentConfirmed,
    RegistrationEvent,
    SignupRejected,
)
from shared.contracts.topics import Topic
from shared.logging import get_logger
from shared.messaging import consumer
from shared.service import Runtime
from shared.timers import TimerStore

log = get_logger("outgoing.notifications")


def register(runtime: Runtime, planner: Planner) -> None:
    broker, topics, group = runtime.broker, runtime.topics, runtime.group_id
    parallel = runtime.settings.consumers_per_topic

    @consumer(broker, topics(Topic.CONTACTS), group, concurrency=parallel)
    async def on_contact(event: ContactDetailsRecorded | None, message: KafkaMessage) -> None:
        if event is None:
            await planner.contact_erased(message.raw_message.key.decode())
        else:
            await planner.contact_recorded(event)

    @consumer(broker, topics(Topic.MISSIONS), group)
    async def on_mission(event: MissionPlanned) -> None:
        await planner.mission_planned(event)

    @consumer(broker, topics(Topic.REGISTRATION_EVENTS), group, concurrency=parallel)
    async def on_registration_event(event: RegistrationEvent) -> None:
        match event:
            case CompanyRegistered() | CompanyUpdated():
                await planner.company_changed(event)
            case EnrollmentConfirmed():
                await planner.enrollment_confirmed(event)
            case SignupRejected():
                await planner.signup_rejected(event)
            case CompanyErased():
                await planner.company_erased(event)

    @consumer(broker, topics(Topic.MATCHING_EVENTS), group, concurrency=parallel)
    async def on_matching_event(event: MatchingEvent) -> None:
        match event:
            case MeetingScheduled() | MeetingRescheduled():
                await planner.meeting_scheduled(event)
            case MeetingCancelled():
                await planner.meeting_cancelled(event)
            case FollowUpDue():
                await planner.followup_due(event)


def register_operator_commands(runtime: Runtime, deliverer: Deliverer, timers: TimerStore) -> None:
    broker, topics, group = runtime.broker, runtime.topics, runtime.group_id

    @consumer(broker, topics(Topic.OPERATOR_COMMANDS), group)
    async def on_unconfirmed_resolution(event: UnconfirmedResolutionRequested) -> None:
        order = event.payload
        if not await deliverer.resolve_unconfirmed(order.notification_id, order.action, order.operator, timers):
            log.warning(
                "nothing held under that notification id; already resolved?", notification_id=order.notification_id, operator=order.operator
            )
