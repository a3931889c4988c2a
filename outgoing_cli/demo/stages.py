"""The demo's stages: each publishes what the forms and the operator would, then waits until
the services have settled.

Progress is read where any outside tool could read it: the topics, the consumer groups'
offsets, and the read model each service exposes (``GET /views/figures``); never the
services' collections.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from deploy.local import infra
from outgoing_cli.demo.mail_sink import MailSink
from outgoing_cli.demo.meetings import followup_answers
from outgoing_cli.demo.orientation import attendance_reports, confirmed_seats, planned_sessions, seat_forms, session_mail
from outgoing_cli.demo.population import Population
from outgoing_cli.demo.programme import programme_figures
from outgoing_cli.demo.summary import DemoSummary, matching_figures, notification_figures, pick_agendas, registration_figures, unique
from outgoing_cli.demo.watch import Watch
from outgoing_cli.kafka_read import GroupLag, consumer_group_lags, decode, read_topic, topic_sizes
from outgoing_cli.publish import envelope_record, publish
from shared.contracts.matching import (
    FollowUpDue,
    MatchingEvent,
    MeetingCancelled,
    MeetingRequested,
    MeetingRescheduled,
    MeetingScheduled,
    ScheduleRequest,
    ScheduleRequested,
)
from shared.contracts.notifications import NotificationEvent
from shared.contracts.registration import CompanyRegistered, RegistrationEvent, SignupRejected
from shared.contracts.sessions import SessionEvent, SessionInvited, SessionSeatRequested
from shared.contracts.topics import Topic, TopicNames
from shared.links import link_keys
from shared.messaging import GROUP_TOPIC_SEPARATOR
from shared.settings import Settings

SERVICES = infra.SERVICES
OPERATOR = "Demo Operator"


@dataclass
class Stages:
    settings: Settings
    population: Population
    watch: Watch
    sink: MailSink
    service_cfg: infra.Config
    """Where the demo's services keep their pid files, which name their health ports."""
    time_limit_s: float
    enrolled: int = 0
    active_meetings: int = 0
    meeting_changes: int = 0
    due: list[FollowUpDue] = field(default_factory=list)

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.settings.topic_prefix)

    async def run(self) -> int:
        """All stages in order; the number of e-mails the events ask for."""
        await self.plan_missions()
        await self.sign_up()
        await self.orient()
        await self.request_meetings()
        await self.schedule()
        await self.follow_up()
        return await self.mail()

    async def plan_missions(self) -> None:
        missions = self.population.missions
        await self._publish(Topic.MISSIONS, self.population.mission_events())
        await self.watch.until(f"planning the {len(missions)} missions", lambda: self._consumed_by_all(Topic.MISSIONS), len(missions))

    async def sign_up(self) -> None:
        await self._publish(Topic.SIGNUP_FORMS, self.population.signups)
        signups = len(self.population.signups)
        await self.watch.until(
            "signups decided", lambda: self._figure("registration", "signups"), signups, also=self._settled("registration")
        )
        self.enrolled = await self._figure("registration", "enrollments_confirmed")

        async def participants() -> int:
            return await self._per_mission("participants", "lombard") + await self._per_mission("participants", "foreign")

        await self.watch.until("enrollments reach matching", participants, self.enrolled, also=self._settled("matching"))

    async def orient(self) -> None:
        """One orientation webinar per market: invitations, seats and the waiting list, then who attended."""
        seed, lombard = self.population.seed, {mid: _dig(m, "participants", "lombard") for mid, m in (await self._missions()).items()}
        planned = planned_sessions(seed, self.population.missions, lombard)
        await self._publish(Topic.OPERATOR_COMMANDS, planned)
        invited = sum(lombard.values())
        label, settled = "orientation invitations", self._settled("registration")
        await self.watch.until(label, lambda: self._figure("registration", "sessions", "invited"), invited, also=settled)
        forms = seat_forms(seed, [e for e in await self._events(Topic.REGISTRATION_EVENTS, SessionEvent) if isinstance(e, SessionInvited)])
        await self._publish(Topic.SIGNUP_FORMS, forms)
        holding = sum(1 if isinstance(f, SessionSeatRequested) else -1 for f in forms)

        async def seated() -> int:
            return await self._figure("registration", "sessions", "seats") + await self._figure("registration", "sessions", "waiting")

        await self.watch.until("seats taken and given up", seated, holding, also=settled)
        seats = confirmed_seats(await self._events(Topic.REGISTRATION_EVENTS, SessionEvent))
        await self._publish(Topic.OPERATOR_COMMANDS, attendance_reports(seed, [e.data for e in planned], seats))
        recorded = lambda: self._figure("registration", "sessions", "attendance_recorded")  # noqa: E731
        await self.watch.until("attendance recorded", recorded, invited, also=settled)
        await self.watch.until("attendance reaches matching", self._oriented, await self._figure("registration", "sessions", "attended"))

    async def _oriented(self) -> int:
        return await self._per_mission("orientation", "attended") if await self._settled("matching")() else 0

    async def request_meetings(self) -> None:
        registered = [e for e in await self._events(Topic.REGISTRATION_EVENTS, RegistrationEvent) if isinstance(e, CompanyRegistered)]
        forms = self.population.meeting_forms(self.population.company_ids(registered))
        await self._publish(Topic.MEETING_FORMS, forms)
        requested = sum(1 for f in forms if isinstance(f, MeetingRequested))
        await self.watch.until("meeting requests and answers", lambda: self._per_mission("requests", "answered"), requested)

    async def schedule(self) -> None:
        missions = self.population.missions
        orders = [
            ScheduleRequested.new(
                source="/outgoing/demo/operator",
                subject=m.mission_id,
                data=ScheduleRequest(mission_id=m.mission_id, operator=OPERATOR, time_limit_s=self.time_limit_s),
            )
            for m in missions
        ]
        await self._publish(Topic.OPERATOR_COMMANDS, orders)

        async def agendas() -> int:
            return sum(1 for m in (await self._missions()).values() if m.get("planned"))

        label = f"agendas (CP-SAT, {self.time_limit_s:g} s each)"
        await self.watch.until(label, agendas, len(missions), also=self._settled("matching"))
        changes = MeetingScheduled | MeetingRescheduled | MeetingCancelled
        self.meeting_changes = len({e.id for e in await self._events(Topic.MATCHING_EVENTS, MatchingEvent) if isinstance(e, changes)})
        self.active_meetings = await self._per_mission("active_meetings")

    async def follow_up(self) -> None:
        expected = 3 * self.active_meetings
        await self.watch.until("follow-ups due", lambda: self._figure("matching", "followups_fired"), expected)

        async def published() -> int:
            self.due = [e for e in await self._events(Topic.MATCHING_EVENTS, MatchingEvent) if isinstance(e, FollowUpDue)]
            return len({e.id for e in self.due})

        await self.watch.until("follow-ups on the topic", published, expected)
        answers = followup_answers(self.population.seed, {e.id: e for e in self.due}.values(), link_keys(self.settings))
        await self._publish(Topic.MEETING_FORMS, answers)
        await self.watch.until("follow-up answers recorded", lambda: self._per_mission("followup_answers", "total"), len(answers))

    async def mail(self) -> int:
        """Waits until every e-mail the events ask for was sent, or dropped as overtaken (a waiting-list
        notice whose seat came before it went out); returns how many were asked for."""
        records = await read_topic(self.settings, self.topics(Topic.REGISTRATION_EVENTS))
        rejections = unique([e for e in decode(records, RegistrationEvent)[0] if isinstance(e, SignupRejected)])
        reachable = sum(1 for r in rejections if all(v.code != "consent.missing" for v in r.data.violations))  # no consent, no contact
        expected = self.enrolled + reachable + 2 * (self.meeting_changes + len({e.id for e in self.due}))
        expected += session_mail(unique(decode(records, SessionEvent)[0]))

        async def settled() -> int:
            deliveries = (await self._figures("notifications")).get("deliveries") or {}
            return _dig(deliveries, "sent") + _dig(deliveries, "superseded")

        async def delivered() -> bool:
            sent = _dig(await self._figures("notifications"), "deliveries", "sent")
            events = await self._events(Topic.NOTIFICATION_EVENTS, NotificationEvent)
            return sent == self.sink.count == len({e.data.notification_id for e in events if e.type == "notification.sent.v2"})

        await self.watch.until("e-mails sent", settled, expected, also=delivered, soft=True)
        return expected

    async def summarise(self, summary: DemoSummary) -> DemoSummary:
        registration_events = await self._events(Topic.REGISTRATION_EVENTS, RegistrationEvent)
        registration_figures(summary, registration_events, await self._figures("registration"))
        matching_events = await self._events(Topic.MATCHING_EVENTS, MatchingEvent)
        meetings = matching_figures(summary, self.population.missions, matching_events, await self._missions())
        notification_figures(summary, await self._events(Topic.NOTIFICATION_EVENTS, NotificationEvent), self.sink.count)
        summary.emails_superseded = await self._figure("notifications", "deliveries", "superseded")
        pick_agendas(summary, meetings, registration_events)
        outcomes = await asyncio.to_thread(infra.service_view, self.service_cfg, "matching", "outcomes")
        sessions = (await self._figures("registration")).get("sessions") or {}
        report = self.service_cfg.run_dir / "reports" / f"{self.settings.topic_prefix}.html"
        summary.programme = programme_figures(outcomes, sessions, report)
        return summary

    # ------------------------------------------------------------ what the services expose

    async def _figures(self, service: str) -> dict[str, Any]:
        return await asyncio.to_thread(infra.service_view, self.service_cfg, service, "figures") or {}

    async def _figure(self, service: str, *path: str) -> int:
        return _dig(await self._figures(service), *path)

    async def _missions(self) -> dict[str, dict[str, Any]]:
        found = (await self._figures("matching")).get("missions")
        return found if isinstance(found, dict) else {}

    async def _per_mission(self, *path: str) -> int:
        return sum(_dig(m, *path) for m in (await self._missions()).values())

    async def _saved(self) -> int:
        return self.sink.count

    async def _publish(self, topic: Topic, events: list[Any]) -> None:
        if events:
            await publish(self.settings, [envelope_record(self.topics(topic), e) for e in events])

    async def _events(self, topic: Topic, kind: Any) -> list[Any]:
        events, _ = decode(await read_topic(self.settings, self.topics(topic)), kind)
        return events

    async def _consumed_by_all(self, topic: Topic) -> int:
        """Records of ``topic`` every service has committed past (the fewest of the three)."""
        name = self.topics(topic)
        lags = await consumer_group_lags(self.settings)
        size = (await topic_sizes(self.settings, [name])).get(name) or 0
        done = []
        for service in SERVICES:
            group = f"{self.settings.topic_prefix}.{service}{GROUP_TOPIC_SEPARATOR}{name}"
            lag = next((g.lag for g in lags if g.group == group), None)
            done.append(size - lag if lag is not None else 0)
        return min(done)

    def _settled(self, service: str) -> Any:
        """Nothing left to consume for the service's groups (``<prefix>.<service>@<topic>``)."""

        async def settled() -> bool:
            lags: list[GroupLag] = await consumer_group_lags(self.settings)
            mine = [lag for lag in lags if lag.group.startswith(f"{self.settings.topic_prefix}.{service}{GROUP_TOPIC_SEPARATOR}")]
            return bool(mine) and all(lag.lag == 0 for lag in mine)

        return settled


def _dig(found: Any, *path: str) -> int:
    for key in path:
        found = found.get(key) if isinstance(found, dict) else None
    return int(found) if isinstance(found, int | float) else 0
