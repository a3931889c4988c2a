"""Wiring of the matching service: store, use cases, subscribers, outbox and follow-up timers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from faststream import FastStream

from services.matching import handlers
from services.matching.domain.outcomes import SurveyDelays
from services.matching.followups import FollowUpPublisher, FollowUpTimers, ReportTimer
from services.matching.store import INDEXES, OWNER_KEYS, MatchingStore
from services.matching.use_cases import Matching, MatchingConfig
from shared.contracts.internal import ParticipantProfileReady
from shared.contracts.topics import Topic
from shared.links import link_keys
from shared.messaging import publish_event
from shared.outbox import Outbox, StaleOutboxScanner, ask_owners
from shared.service import BackgroundLoop, Runtime, build_service
from shared.settings import Settings
from shared.timers import FIRED, Clock, TimerRunner, TimerStore, timer_indexes, utc_now

SERVICE = "matching"
TIMERS = "followup_timers"


def create_app(settings: Settings | None = None, configure_logs: bool = True, clock: Clock = utc_now) -> tuple[FastStream, Runtime]:
    settings = settings or Settings()

    def register(runtime: Runtime) -> list[BackgroundLoop]:
        store = MatchingStore(runtime.db)
        outbox = Outbox(runtime.db, runtime.broker, runtime.topics)
        timers = TimerStore(runtime.db, TIMERS, clock=clock)
        delays, config = followup_delays(settings), matching_config(settings)
        commands = runtime.topics(Topic.MATCHING_COMMANDS)

        async def request_replan(ready: ParticipantProfileReady) -> None:
            await publish_event(runtime.broker, commands, ready)

        followups = FollowUpTimers(timers, delays)
        matching = Matching(
            store,
            config,
            sync_followups=followups.sync,
            relabel_followups=followups.relabel,
            request_replan=request_replan,
            clock=clock,
        )
        handlers.register(runtime, matching, outbox)
        scanner = StaleOutboxScanner(
            runtime.db,
            OWNER_KEYS,
            ask_owners(runtime.broker, runtime.topics(Topic.MATCHING_COMMANDS), OWNER_KEYS, source=f"/outgoing/{SERVICE}"),
            grace=timedelta(seconds=settings.outbox_grace_s),
            interval_s=settings.outbox_scan_interval_s,
            max_interval_s=settings.idle_poll_max_s,
        )
        runner = TimerRunner(
            timers,
            FollowUpPublisher(runtime.broker, runtime.topics, ReportTimer(timers, clock, config.surveys.close_after)),
            instance_id=settings.instance_id,
            max_idle_s=settings.timer_max_idle_s,
            concurrency=settings.timer_concurrency,
        )
        runtime.components["timer_runner"] = runner

        async def figures() -> dict[str, Any]:
            return {"missions": await store.mission_figures(), "followups_fired": await timers.count(FIRED)}

        async def outcomes() -> dict[str, Any]:
            return {"missions": [m.model_dump(mode="json") for m in await matching.outcomes()]}

        runtime.views["figures"] = figures
        runtime.views["outcomes"] = outcomes
        return [scanner.run_forever, runner.run_forever]

    return build_service(
        SERVICE,
        settings,
        dead_letter_topic=Topic.MATCHING_DLQ,
        indexes=[*INDEXES, *timer_indexes(TIMERS)],
        register=register,
        configure_logs=configure_logs,
    )


def followup_delays(settings: Settings) -> dict[str, timedelta]:
    return {
        "attendance": timedelta(seconds=settings.followup_attendance_after_s),
        "satisfaction": timedelta(seconds=settings.followup_satisfaction_after_s),
        "outcome": timedelta(seconds=settings.followup_outcome_after_s),
    }


def matching_config(settings: Settings) -> MatchingConfig:
    delays = followup_delays(settings)
    surveys = SurveyDelays(delays["satisfaction"], delays["outcome"], timedelta(seconds=settings.followup_close_after_s))
    return MatchingConfig(
        video_base_url=settings.video_base_url,
        links=link_keys(settings),
        default_time_limit_s=settings.schedule_time_limit_s,
        surveys=surveys,
    )
