"""What matching does with each event: load the mission, let it decide (re-planning when
needed), save it with its events; then the side effects.

One writer per mission: every mission-scoped input reaches ``handle`` through the
matching command topic keyed by mission id. A command is applied once: its id is saved
with the state it produced and the events it caused, so a redelivery only completes the
side effects (bookings, timers, publishing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.matching.domain.mission import Mission, MissionCommand
from services.matching.domain.outcomes import SurveyDelays, mission_outcomes
from services.matching.domain.planning import Change, plan_agenda
from services.matching.store import MISSION_STATES, MatchingStore
from shared.aggregate import Refused
from shared.aggregate_store import Conflict
from shared.contracts.crm import MeetingLinked
from shared.contracts.envelope import Envelope
from shared.contracts.internal import MissionReportDue, MissionSessionNoted, ParticipantProfileReady, ProfileReady, SessionNote
from shared.contracts.matching import FollowUpAnswered, ScheduleRequested
from shared.contracts.missions import MissionPlanned
from shared.contracts.registration import CompanyErased, CompanyRegistered, CompanyUpdated
from shared.contracts.reporting import MissionOutcomes
from shared.contracts.sessions import SessionAttendanceRecorded, SessionInvited
from shared.links import LinkKeys
from shared.logging import get_logger
from shared.messaging import Contention

log = get_logger("outgoing.matching")
SOURCE = "/outgoing/matching"
PROPOSALS_PER_COMPANY_FACTOR = 2
INCREMENTAL_TIME_LIMIT_S = 10.0

FollowUpSync = Callable[[str, list[Change], Mapping[str, dict[str, str]]], Awaitable[None]]
"""Schedules, moves or cancels a mission's follow-up timers after its agenda changed."""
ReplanRequest = Callable[[ParticipantProfileReady], Awaitable[None]]
FollowUpRelabel = Callable[[list[str], Mapping[str, dict[str, str]]], Awaitable[None]]
"""Gives the meetings' existing follow-up timers the CRMs' latest ids, creating none."""
"""Delivers a ParticipantProfileReady to the mission's writer."""


@dataclass
class MatchingConfig:
    video_base_url: str
    links: LinkKeys
    default_time_limit_s: float = 30.0
    surveys: SurveyDelays = field(default_factory=lambda: SurveyDelays(timedelta(days=7), timedelta(days=90), timedelta(days=30)))

    def video_url(self, meeting_id: str) -> str:
        return f"{self.video_base_url.rstrip('/')}/{self.links.room_id(meeting_id)}"


@dataclass
class Matching:
    store: MatchingStore
    config: MatchingConfig
    sync_followups: FollowUpSync | None = None
    relabel_followups: FollowUpRelabel | None = None
    request_replan: ReplanRequest | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # ------------------------------------------------------------ read models

    async def plan_mission(self, event: MissionPlanned) -> None:
        await self.store.save_mission(event.data)

    async def record_company(self, event: CompanyRegistered | CompanyUpdated | CompanyErased) -> None:
        match event:
            case CompanyRegistered():
                await self.store.save_profile(event.data, event.time)
            case CompanyUpdated():
                await self.store.save_profile(event.data.profile, event.time)
            case CompanyErased():
                await self.store.forget_company(event.data.company_id, event.time)
                return
        company_id = event.data.company_id if isinstance(event, CompanyRegistered) else event.data.profile.company_id
        for mission_id in await self.store.missions_awaiting_profile(company_id):
            await self._ask_replan(mission_id, company_id, event)

    async def _ask_replan(self, mission_id: str, company_id: str, cause: Envelope[Any]) -> None:
        """Derived from its cause, so a redelivered cause asks again under the same id."""
        if self.request_replan is not None:
            ready = ParticipantProfileReady.caused_by(
                cause,
                source=SOURCE,
                subject=mission_id,
                data=ProfileReady(company_id=company_id, mission_id=mission_id),
                discriminator=company_id,
            )
            await self.request_replan(ready)

    async def _chase_missing_profiles(self, mission: Mission, cause: Envelope[Any]) -> None:
        """Closes the race with ``record_company``: a profile stored while this writer was
        planning without it is noticed here, after the save, if not there."""
        waiting = mission.awaiting_profile
        for company_id in await self.store.profiles(waiting) if waiting else {}:
            await self._ask_replan(mission.id, company_id, cause)

    # ------------------------------------------------------------ the mission's single writer

    async def handle(self, event: MissionCommand) -> None:
        """Load, decide, save; then the side effects, which a redelivery re-does in full."""
        if isinstance(event, FollowUpAnswered):
            self._check_token(event)
        mission = await self.store.mission_state(mission_of(event))
        if mission.has_applied(event):
            if isinstance(event, MeetingLinked):  # its one side effect: never the agenda's, which would re-arm purged timers
                await self._relabel(mission, [event.data.meeting_id])
                return
            await self._redo_side_effects(mission)
            return
        replan = mission.apply(event)
        for message, details in mission.warnings:
            log.warning(message, mission_id=mission.id, **details)
        changes = await self._replan(mission, event) if replan and mission.scheduled else None
        prepared = self.store.missions.prepare(mission)  # refused before any booking if it cannot be stored
        if changes is not None:
            await self.store.reconcile_bookings(mission.id, mission.bookings())
        try:
            await self.store.missions.save(mission, prepared)
        except Conflict as conflict:
            raise Contention(str(conflict)) from conflict
        if mission.relinked:
            await self._relabel(mission, mission.relinked)
        await self._complete_side_effects(mission, changes or [])
        await self._chase_missing_profiles(mission, event)

    async def _replan(self, mission: Mission, event: MissionCommand) -> list[Change] | None:
        """The changes a new plan made to the agenda; None when no plan could be made."""
        definition = await self.store.mission(mission.id)
        if definition is None:
            log.warning("mission not in the catalogue yet; planned when its definition arrives", mission_id=mission.id)
            return None
        enrolled = mission.schedulable()
        state = mission.planning_input(
            definition, await self.store.profiles(enrolled), await self.store.bookings_elsewhere(enrolled, mission.id)
        )
        options = mission.schedule_options
        first_time = not mission.agenda
        time_limit = INCREMENTAL_TIME_LIMIT_S
        if first_time or isinstance(event, ScheduleRequested):
            time_limit = options.time_limit_s if options is not None else self.config.default_time_limit_s
        # In a thread: the solver holds no lock, and the event loop must keep the consumer's heartbeats going.
        plan = await asyncio.to_thread(plan_agenda, state, time_limit_s=time_limit, fairness=options.fairness if options else None)
        limit = definition.max_meetings_per_company * PROPOSALS_PER_COMPANY_FACTOR
        changes = mission.adopt(plan, event, state, self.config.video_url, limit)
        summary = mission.summary
        assert summary is not None
        figures = summary.model_dump(include={"status", "meetings", "unscheduled", "total_breaks", "moved", "seconds"})
        log.info("agenda planned", mission_id=mission.id, version=mission.agenda_version, changes=len(changes), **figures)
        return changes

    def _check_token(self, event: FollowUpAnswered) -> None:
        """Only the company a survey was sent to can answer it: its link carries the token."""
        answer = event.data
        if not self.config.links.valid_survey_token(answer.token, answer.meeting_id, answer.company_id, answer.kind):
            what = "has no token" if answer.token is None else "has a token that is not this survey's"
            raise Refused(f"the {answer.kind} answer of company {answer.company_id} on meeting {answer.meeting_id} {what}")

    async def outcomes(self) -> list[MissionOutcomes]:
        """Every mission's outcomes now: the read model behind ``GET /views/outcomes`` and ``outgoing report``."""
        found, now = [], self.clock()
        for mission in await self.store.missions.find({}):
            definition = await self.store.mission(mission.id)
            if definition is not None:
                profiles = await self.store.profiles(list(mission.participants))
                found.append(mission_outcomes(mission, definition, profiles, now, self.config.surveys))
        return found

    async def publish_report(self, event: MissionReportDue) -> None:
        """The mission's outcomes to the CRMs, once: its report timer fires when the answer window after its
        last outcome survey has passed, which closes it."""
        mission = await self.store.mission_state(event.data.mission_id)
        definition = await self.store.mission(mission.id)
        if definition is None or mission.has_applied(event):
            return
        profiles = await self.store.profiles(list(mission.participants))
        outcomes = mission_outcomes(mission, definition, profiles, max(self.clock(), event.time), self.config.surveys)
        mission.publish_report(event, outcomes.model_copy(update={"closed": True}))
        try:
            await self.store.missions.save(mission)
        except Conflict as conflict:
            raise Contention(str(conflict)) from conflict
        self.store.touch(MISSION_STATES, mission.id)
        log.info("mission report", mission_id=mission.id, published=mission.report_published, closed=outcomes.closed)

    async def _relabel(self, mission: Mission, meeting_ids: list[str]) -> None:
        if self.relabel_followups is not None:
            await self.relabel_followups(meeting_ids, mission.meeting_links)
        self.store.touch(MISSION_STATES, mission.id)

    async def _redo_side_effects(self, mission: Mission) -> None:
        """A redelivery cannot know how far the first delivery got: it re-does all of it."""
        await self.store.reconcile_bookings(mission.id, mission.bookings())
        await self._complete_side_effects(mission, mission.standing_changes())

    async def _complete_side_effects(self, mission: Mission, changes: list[Change]) -> None:
        """Idempotent follow-through of a saved decision: follow-up timers, then the outbox."""
        if self.sync_followups is not None and changes:
            await self.sync_followups(mission.id, changes, mission.meeting_links)
        self.store.touch(MISSION_STATES, mission.id)


def mission_of(event: MissionCommand) -> str:
    return event.data.mission_id


def session_notes(event: SessionInvited | SessionAttendanceRecorded) -> list[MissionSessionNoted]:
    """One note per mission the session counts for, each with an id derived from the event and the mission."""
    attended = event.data.attended if isinstance(event, SessionAttendanceRecorded) else None
    if attended is None and (event.data.sequence > 0 or event.data.session.status == "cancelled"):
        return []  # a change or a cancellation re-sent to an invitee: the mission knows of the invitation already
    return [
        MissionSessionNoted.caused_by(
            event,
            source=SOURCE,
            subject=mission_id,
            data=SessionNote(
                mission_id=mission_id, company_id=event.data.company_id, session_id=event.data.session.session_id, attended=attended
            ),
            discriminator=event.data.company_id,
        )
        for mission_id in event.data.missions
    ]
