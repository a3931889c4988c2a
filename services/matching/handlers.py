"""FastStream subscribers: each turns one kind of event into a call on matching's use cases.

Mission-scoped inputs arrive keyed however their producer chose. The intake subscribers
re-publish each one to matching's command topic keyed by mission id, so that one
consumer, and only one, writes a mission's state and agenda (see shared/outbox.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from services.matching.use_cases import Matching, MissionCommand, mission_of, session_notes
from shared.contracts.crm import MeetingLinked
from shared.contracts.envelope import Envelope
from shared.contracts.internal import MissionReportDue, OutboxFlushRequested
from shared.contracts.matching import MatchingOperatorCommand, MeetingFormEvent
from shared.contracts.missions import MissionPlanned
from shared.contracts.registration import (
    CompanyErased,
    CompanyRegistered,
    CompanyUpdated,
    EnrollmentCancelled,
    EnrollmentConfirmed,
    RegistrationEvent,
)
from shared.contracts.sessions import SessionAttendanceRecorded, SessionInvited
from shared.contracts.topics import Topic
from shared.messaging import consumer, publish_event
from shared.outbox import Outbox
from shared.service import Runtime

MissionCommandOrFlush = Annotated[MissionCommand | OutboxFlushRequested | MissionReportDue, Field(discriminator="type")]
RegistrationInput = Annotated[RegistrationEvent | SessionInvited | SessionAttendanceRecorded, Field(discriminator="type")]


def register(runtime: Runtime, matching: Matching, outbox: Outbox) -> None:
    broker, topics, group = runtime.broker, runtime.topics, runtime.group_id
    parallel = runtime.settings.consumers_per_topic

    async def route_to_mission(event: Envelope[Any]) -> None:
        await publish_event(broker, topics(Topic.MATCHING_COMMANDS), event, key=mission_of(event))

    @consumer(broker, topics(Topic.MISSIONS), group)
    async def on_mission_planned(event: MissionPlanned) -> None:
        await matching.plan_mission(event)
        await route_to_mission(event)

    @consumer(broker, topics(Topic.REGISTRATION_EVENTS), group, concurrency=parallel)
    async def on_registration_event(event: RegistrationInput) -> None:
        match event:
            case SessionInvited() | SessionAttendanceRecorded():
                for note in session_notes(event):
                    await route_to_mission(note)
            case CompanyRegistered() | CompanyUpdated() | CompanyErased():
                await matching.record_company(event)
            case EnrollmentConfirmed() | EnrollmentCancelled():
                await route_to_mission(event)

    @consumer(broker, topics(Topic.MEETING_FORMS), group, concurrency=parallel)
    async def on_meeting_form(event: MeetingFormEvent) -> None:
        await route_to_mission(event)

    @consumer(broker, topics(Topic.OPERATOR_COMMANDS), group)
    async def on_operator_command(event: MatchingOperatorCommand) -> None:
        await route_to_mission(event)

    @consumer(broker, topics(Topic.CRM_LINKS), group)
    async def on_crm_link(event: MeetingLinked) -> None:
        await route_to_mission(event)

    @consumer(broker, topics(Topic.MATCHING_COMMANDS), group, concurrency=parallel)
    async def on_mission_command(event: MissionCommandOrFlush) -> None:
        if isinstance(event, OutboxFlushRequested):
            matching.store.touch(event.data.collection, event.data.document_id)
        elif isinstance(event, MissionReportDue):
            await matching.publish_report(event)
        else:
            await matching.handle(event)
        await outbox.flush(matching.store.drain_touched())
