"""Follow-ups after each meeting, on durable timers: attendance, satisfaction, outcome.

The mission's writer keeps one timer per meeting and kind in step with the agenda; the
runner fires them on whichever instance claims them and publishes FollowUpDue with an id
derived from the timer's firing, so a firing repeated after a crash is a duplicate that
consumers drop, not a second survey.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

from faststream.kafka import KafkaBroker

from services.matching.domain.planning import Change
from shared.contracts.internal import MissionReportDue, ReportDue
from shared.contracts.matching import FollowUp, FollowUpDue
from shared.contracts.topics import Topic, TopicNames
from shared.messaging import publish_event
from shared.timers import ClaimedTimer, TimerStore

TIMER_KIND = "matching.followup"
REPORT_KIND = "matching.report"


def timer_id(meeting_id: str, kind: str) -> str:
    return f"followup:{meeting_id}:{kind}"


@dataclass
class FollowUpTimers:
    timers: TimerStore
    delays: dict[str, timedelta]

    async def sync(self, mission_id: str, changes: list[Change], links: Mapping[str, dict[str, str]]) -> None:
        """Each changed meeting's timers in step with it; the CRMs' ids for the meeting travel in each timer's data."""
        for change in changes:
            placed = change.meeting
            for kind, delay in self.delays.items():
                tid = timer_id(placed.meeting_id, kind)
                if not placed.active:
                    await self.timers.cancel(tid)
                    continue
                due = placed.end + delay
                followup = FollowUp(
                    meeting_id=placed.meeting_id,
                    mission_id=mission_id,
                    kind=kind,
                    participants=[placed.lombard_id, placed.foreign_id],
                    meeting_start=placed.start,
                    meeting_end=placed.end,
                    due_at=due,
                    external_ids=links.get(placed.meeting_id, {}),
                )
                await self.timers.schedule(tid, due, TIMER_KIND, followup.model_dump(mode="json"), group=f"followup:{placed.meeting_id}")

    async def relabel(self, meeting_ids: list[str], links: Mapping[str, dict[str, str]]) -> None:
        """The CRMs' new ids into the meetings' existing timers; a timer that fired and was purged stays gone."""
        for meeting_id in meeting_ids:
            for kind in self.delays:
                timer = await self.timers.get(timer_id(meeting_id, kind))
                if timer is not None:
                    await self.timers.relabel(timer.timer_id, {**timer.data, "external_ids": links.get(meeting_id, {})})


@dataclass
class ReportTimer:
    """One timer per mission, pushed back by each outcome survey sent: it fires once the answer
    window after the mission's last outcome survey has passed."""

    timers: TimerStore
    clock: Callable[[], datetime]
    close_after: timedelta

    async def outcome_survey_sent(self, mission_id: str) -> None:
        due = self.clock() + self.close_after
        await self.timers.schedule(f"report:{mission_id}", due, REPORT_KIND, {"mission_id": mission_id}, group=f"report:{mission_id}")


@dataclass
class FollowUpPublisher:
    """Fires follow-ups as FollowUpDue, and a mission's report timer as a command to its writer."""

    broker: KafkaBroker
    topics: TopicNames
    report: ReportTimer | None = None

    async def __call__(self, item: ClaimedTimer) -> None:
        if item.timer.kind == REPORT_KIND:
            due = MissionReportDue.new(
                source="/outgoing/matching",
                subject=item.timer.data["mission_id"],
                data=ReportDue(mission_id=item.timer.data["mission_id"]),
                event_id=uuid5(NAMESPACE_URL, f"outgoing:{item.firing_id}"),
            )
            await publish_event(self.broker, self.topics(Topic.MATCHING_COMMANDS), due)
            return
        followup = FollowUp.model_validate(item.timer.data, strict=False)
        event = FollowUpDue.new(
            source="/outgoing/matching",
            subject=followup.mission_id,
            data=followup,
            event_id=uuid5(NAMESPACE_URL, f"outgoing:{item.firing_id}"),
            time=followup.due_at,
        )
        await publish_event(self.broker, self.topics(Topic.MATCHING_EVENTS), event)
        if self.report is not None and followup.kind == "outcome":
            await self.report.outcome_survey_sent(followup.mission_id)
