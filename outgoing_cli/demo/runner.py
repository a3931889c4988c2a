"""`outgoing demo`: the 2020 edition replayed through the real broker, database and services.

Each run gets an environment of its own (topic prefix ``demo<timestamp>`` and one
database per service), so its counts are only its own; older demo environments are
dropped at start and the latest one is kept for inspection. The three services run as
processes whose pid files live in ``<run dir>/demo``, apart from those `make run` /
`outgoing dev up` keep in the run dir itself, and exactly those are stopped at the end,
also on Ctrl-C or an error. Kafka and the database are stopped only if the demo started
them. Every stage publishes, then polls topics and collections until what it caused has
settled, with a bound on how long that may take.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from deploy.local import infra
from outgoing_cli.demo.mail_sink import MailSink
from outgoing_cli.demo.population import Population, followup_answers, generate
from outgoing_cli.demo.summary import (
    DemoSummary,
    matching_figures,
    notification_figures,
    pick_agendas,
    registration_figures,
    render,
    unique,
)
from outgoing_cli.kafka_read import GroupLag, consumer_group_lags, decode, read_topic, topic_sizes
from outgoing_cli.publish import envelope_record, publish
from shared.contracts.envelope import Envelope
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
from shared.contracts.topics import Topic, TopicNames
from shared.kafka import delete_topics, ensure_topics
from shared.messaging import GROUP_TOPIC_SEPARATOR
from shared.mongo import create_client
from shared.settings import Settings

SERVICES = infra.SERVICES
DEMO_NAME = re.compile(r"^demo\d{14}$")
POLL_S = 1.0
OPERATOR = "Demo Operator"


class DemoError(RuntimeError):
    """A stage did not settle in time, or a server could not be started: what and where to look."""


@dataclass
class DemoOptions:
    seed: int = 2020
    lombard: int = 60
    foreign: int = 75
    max_meetings: int = 3
    """Meetings per company at most, in every mission (the 2020 catalogue says 8)."""
    time_limit_s: float = 8.0
    """CP-SAT's time limit for each mission's agenda."""
    stage_timeout_s: float = 180.0
    keep_running: bool = False
    environment: str | None = None
    """Topic prefix and database-name stem; default ``demo<UTC timestamp>``."""
    partitions: int | None = None
    """Partitions per topic; default OUTGOING_TOPIC_PARTITIONS, as in production."""
    drop_previous: bool = True
    """Drop the topics and databases of earlier ``demo<timestamp>`` environments."""
    run_dir: Path | None = None
    """Pid files and logs of the demo's services; default ``<OUTGOING_RUN_DIR>/demo``."""
    mail_dir: Path | None = None
    """Where .eml files go; default ``<run dir>/mail/<environment>``."""


@dataclass(frozen=True)
class DemoEnvironment:
    name: str
    settings: Settings

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.name)

    def database(self, service: str) -> str:
        return self.settings.database_for(service)

    def service_variables(self, service: str, smtp_port: int) -> dict[str, str]:
        return {
            "OUTGOING_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "OUTGOING_MONGO_URL": self.settings.mongo_url,
            "OUTGOING_TOPIC_PREFIX": self.name,
            "OUTGOING_TOPIC_PARTITIONS": str(self.settings.topic_partitions),
            "OUTGOING_MONGO_DB": self.name,
            "OUTGOING_SMTP_HOST": "127.0.0.1",
            "OUTGOING_SMTP_PORT": str(smtp_port),
            "OUTGOING_LOG_JSON": "true",
        }


def run_demo(options: DemoOptions, console: Console, cfg: infra.Config | None = None) -> DemoSummary:
    """Replay the edition end to end; print the summary and return it.

    ``cfg`` says where Kafka and the database are (default: the OUTGOING_* variables).
    """
    began = time.monotonic()
    cfg = cfg or infra.Config.from_env()
    name = options.environment or f"demo{datetime.now(UTC):%Y%m%d%H%M%S}"
    base = Settings()
    env = DemoEnvironment(
        name,
        base.model_copy(
            update={
                "topic_prefix": name,
                "mongo_db": name,
                "topic_partitions": options.partitions or base.topic_partitions,
                "kafka_bootstrap": f"{cfg.kafka_host}:{cfg.kafka_port}",
                "mongo_url": cfg.mongo_url,
            }
        ),
    )
    demo_cfg = dataclasses.replace(cfg, run_dir=(options.run_dir or cfg.run_dir / "demo").resolve())
    mail_dir = (options.mail_dir or demo_cfg.run_dir / "mail" / name).resolve()
    sink = MailSink(mail_dir)
    started_servers: list[str] = []
    started_services: list[str] = []
    _interrupt_on_sigterm()
    try:
        console.print(f"[bold]Outgoing demo[/] — environment [cyan]{name}[/], seed {options.seed}")
        started_servers = _start_servers(cfg, console)
        population = generate(options.seed, options.lombard, options.foreign, options.max_meetings)
        console.print(
            f"population: {len(population.lombard)} Lombard firms, {len(population.foreign)} foreign partners, "
            f"{len(population.bad)} signups made to fail, {len(population.requests)} meeting requests"
        )
        asyncio.run(_prepare(env, options.drop_previous, console))
        if options.drop_previous and options.mail_dir is None:
            _drop_old_mail(mail_dir)
        sink.start()
        infra.stop_all(demo_cfg, list(SERVICES))  # a previous demo's, left running with --keep-running
        for service in SERVICES:
            with _exported(env.service_variables(service, sink.port)):
                infra.spawn_service(demo_cfg, service)
            started_services.append(service)
        with console.status("starting the services…"):
            for service in SERVICES:
                infra.wait_for_service(demo_cfg, service)
        console.print(f"services: {', '.join(SERVICES)} started (logs in {demo_cfg.run_dir / 'logs'}); e-mails go to {mail_dir}")
        summary = asyncio.run(_stages(env, population, options, sink, console, demo_cfg))
        summary.seconds = time.monotonic() - began
        render(summary, console)
        console.print(f"demo finished in {summary.seconds:.0f} s")
        return summary
    except infra.InfraError as error:
        raise DemoError(f"{error.problem}\n  fix: {error.fix}") from None
    finally:
        _tear_down(cfg, demo_cfg, started_servers, started_services, sink, options.keep_running, console)


def _interrupt_on_sigterm() -> None:
    """A terminated demo cleans up as an interrupted one does (only the main thread may set handlers)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def _start_servers(cfg: infra.Config, console: Console) -> list[str]:
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    started = []
    for name, start in (("kafka", infra.start_kafka), ("mongo", infra.start_mongo)):
        with console.status(f"starting {name}…"):
            outcome = start(cfg)
        console.print(f"{name}: {outcome}")
        if outcome == "started":
            started.append(name)
    return started


def _tear_down(
    cfg: infra.Config, demo_cfg: infra.Config, servers: list[str], services: list[str], sink: MailSink, keep: bool, console: Console
) -> None:
    if keep:
        if services:
            console.print(
                f"kept running: {', '.join(services + servers)}; stop the demo's services with "
                f"`OUTGOING_RUN_DIR={demo_cfg.run_dir} .venv/bin/python deploy/local/infra.py down`"
                + (", the servers with `make down`" if servers else "")
            )
        sink.stop()
        return
    infra.stop_all(demo_cfg, list(reversed(services)))
    sink.stop()
    for name in reversed(servers):
        infra.stop(cfg, name)
    if services or servers:
        console.print(f"stopped: {', '.join(reversed(services + servers))}")


@contextlib.contextmanager
def _exported(variables: dict[str, str]) -> Iterator[None]:
    """infra spawns services with this process's environment: lend them the demo's, then restore."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def _prepare(env: DemoEnvironment, drop_previous: bool, console: Console) -> None:
    settings = env.settings
    if drop_previous:
        from outgoing_cli.kafka_read import existing_topics

        old_topics = sorted(
            t for t in await existing_topics(settings) if DEMO_NAME.match(t.split(".", 1)[0]) and not t.startswith(f"{env.name}.")
        )
        if old_topics:
            await delete_topics(settings, old_topics)
        async with _mongo(settings) as client:
            old_dbs = [
                d for d in await client.list_database_names() if DEMO_NAME.match(d.split("_", 1)[0]) and not d.startswith(f"{env.name}_")
            ]
            for database in old_dbs:
                await client.drop_database(database)
        if old_topics or old_dbs:
            console.print(f"dropped earlier demo environments: {len(old_topics)} topics, {len(old_dbs)} databases")
    created = await ensure_topics(settings)
    console.print(f"topics: {len(created)} created with prefix {env.name}")


def _drop_old_mail(mail_dir: Path) -> None:
    """Earlier demos' mailboxes go with their environments."""
    for folder in mail_dir.parent.glob("demo*"):
        if folder.is_dir() and DEMO_NAME.match(folder.name) and folder != mail_dir:
            shutil.rmtree(folder)


@contextlib.asynccontextmanager
async def _mongo(settings: Settings) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client = create_client(settings)
    try:
        yield client
    finally:
        await client.close()


# ---------------------------------------------------------------- stages


class _RateColumn(ProgressColumn):
    """Items per second during the stage (not counting what was done before it began)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed
        done = task.completed - task.fields.get("already", 0)
        if not elapsed or elapsed < 0.5 or done <= 0 or (task.total or 0) <= 1:
            return Text("")
        return Text(f"{done / elapsed:>7,.0f}/s")


@dataclass
class _Watch:
    """Polls one measure until it reaches its target, showing progress; bounded in time."""

    progress: Progress
    timeout_s: float
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    async def until(
        self,
        label: str,
        measure: Callable[[], Awaitable[int]],
        target: int,
        also: Callable[[], Awaitable[bool]] | None = None,
        soft: bool = False,
    ) -> int:
        task = self.progress.add_task(label, total=max(target, 1))
        began = time.monotonic()
        deadline = began + self.timeout_s
        first = True
        while True:
            value = await measure()
            if first:
                self.progress.update(task, already=min(value, target))
                first = False
            self.progress.update(task, completed=min(value, target) if target else 1)
            if value >= target and (also is None or await also()):
                self.progress.update(task, completed=max(target, 1))
                self.progress.stop_task(task)
                self.seconds[label] = round(time.monotonic() - began, 1)
                return value
            if time.monotonic() > deadline:
                problem = f"{label}: {value} of {target} after {self.timeout_s:.0f} s"
                if soft:
                    self.progress.stop_task(task)
                    self.warnings.append(problem)
                    return value
                raise DemoError(f"{problem}; the services' logs say why")
            await asyncio.sleep(POLL_S)


async def _stages(
    env: DemoEnvironment, population: Population, options: DemoOptions, sink: MailSink, console: Console, demo_cfg: infra.Config
) -> DemoSummary:
    """Each stage publishes what the forms and the operator would, then watches the topics and
    the read models the services expose (``GET /views/figures``); never their collections."""
    settings, topics = env.settings, env.topics

    async def figures(service: str) -> dict[str, Any]:
        return await asyncio.to_thread(infra.service_view, demo_cfg, service, "figures") or {}

    async def missions_figures() -> dict[str, dict[str, Any]]:
        return (await figures("matching")).get("missions", {})

    async def total(key: str, *path: str) -> int:
        return sum(_dig(m, key, *path) for m in (await missions_figures()).values())

    progress = Progress(
        TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), _RateColumn(), console=console
    )
    watch = _Watch(progress, options.stage_timeout_s)
    missions = population.missions
    with progress:
        await _publish(settings, topics(Topic.MISSIONS), population.mission_events())
        await watch.until(
            f"planning the {len(missions)} missions", lambda: _consumed_by_all(settings, topics(Topic.MISSIONS)), len(missions)
        )

        await _publish(settings, topics(Topic.SIGNUP_FORMS), population.signups)
        await watch.until(
            "signups decided",
            lambda: _figure(figures("registration"), "signups"),
            len(population.signups),
            also=lambda: _settled(settings, "registration"),
        )
        enrolled = await _figure(figures("registration"), "enrollments_confirmed")
        registration_events = await _events(settings, topics(Topic.REGISTRATION_EVENTS), RegistrationEvent)

        async def participants() -> int:
            return await total("participants", "lombard") + await total("participants", "foreign")

        await watch.until("enrollments reach matching", participants, enrolled, also=lambda: _settled(settings, "matching"))

        ids = population.company_ids(e for e in registration_events if isinstance(e, CompanyRegistered))
        forms = population.meeting_forms(ids)
        await _publish(settings, topics(Topic.MEETING_FORMS), forms)
        requested = sum(1 for f in forms if isinstance(f, MeetingRequested))
        await watch.until("meeting requests and answers", lambda: total("requests", "answered"), requested)

        schedule = [
            ScheduleRequested.new(
                source="demo-operator",
                subject=m.mission_id,
                payload=ScheduleRequest(mission_id=m.mission_id, operator=OPERATOR, time_limit_s=options.time_limit_s),
            )
            for m in missions
        ]
        await _publish(settings, topics(Topic.OPERATOR_COMMANDS), schedule)

        async def agendas() -> int:
            return sum(1 for m in (await missions_figures()).values() if m.get("planned"))

        await watch.until(
            f"agendas (CP-SAT, {options.time_limit_s:g} s each)", agendas, len(missions), also=lambda: _settled(settings, "matching")
        )
        matching_events = await _events(settings, topics(Topic.MATCHING_EVENTS), MatchingEvent)
        meeting_changes = len(
            {e.id for e in matching_events if isinstance(e, MeetingScheduled | MeetingRescheduled | MeetingCancelled)}
        )  # at-least-once: dedupe
        active = await total("active_meetings")
        await watch.until("follow-ups due", lambda: _figure(figures("matching"), "followups_fired"), 3 * active)

        due: list[FollowUpDue] = []

        async def followups_published() -> int:
            due[:] = [e for e in await _events(settings, topics(Topic.MATCHING_EVENTS), MatchingEvent) if isinstance(e, FollowUpDue)]
            return len({e.id for e in due})

        await watch.until("follow-ups on the topic", followups_published, 3 * active)
        answers = followup_answers(population.seed, {e.id: e for e in due}.values())
        await _publish(settings, topics(Topic.MEETING_FORMS), answers)
        await watch.until("follow-up answers recorded", lambda: total("followup_answers", "total"), len(answers))

        registration_events = await _events(settings, topics(Topic.REGISTRATION_EVENTS), RegistrationEvent)
        rejections = unique([e for e in registration_events if isinstance(e, SignupRejected)])
        reachable = sum(1 for r in rejections if all(v.code != "consent.missing" for v in r.payload.violations))  # no consent, no contact
        expected = enrolled + reachable + 2 * (meeting_changes + len({e.id for e in due}))

        async def delivered() -> bool:
            sent = _dig(await figures("notifications"), "deliveries", "sent")
            events = await _events(settings, topics(Topic.NOTIFICATION_EVENTS), NotificationEvent)
            return sent == expected and len({e.payload.notification_id for e in events if e.type == "notification.sent.v1"}) == expected

        await watch.until("e-mails sent", lambda: _count(sink), expected, also=delivered, soft=True)

    summary = DemoSummary(
        env.name,
        {s: env.database(s) for s in SERVICES},
        sink.folder,
        emails_expected=expected,
        warnings=watch.warnings,
        stage_seconds=watch.seconds,
    )
    registration_events = await _events(settings, topics(Topic.REGISTRATION_EVENTS), RegistrationEvent)
    registration_figures(summary, registration_events, await figures("registration"))
    matching_events = await _events(settings, topics(Topic.MATCHING_EVENTS), MatchingEvent)
    meetings = matching_figures(summary, missions, matching_events, await missions_figures())
    notification_figures(summary, await _events(settings, topics(Topic.NOTIFICATION_EVENTS), NotificationEvent), sink.count)
    pick_agendas(summary, meetings, registration_events)
    return summary


def _dig(found: dict[str, Any], *path: str) -> int:
    for key in path:
        found = found.get(key) or {} if isinstance(found, dict) else {}
    return int(found) if isinstance(found, int | float) else 0


async def _figure(figures: Awaitable[dict[str, Any]], *path: str) -> int:
    return _dig(await figures, *path)


async def _count(sink: MailSink) -> int:
    return sink.count


async def _consumed_by_all(settings: Settings, topic: str) -> int:
    """Records of ``topic`` every service has committed past (the fewest of the three)."""
    lags = await consumer_group_lags(settings)
    size = (await topic_sizes(settings, [topic])).get(topic) or 0
    done = []
    for service in SERVICES:
        group = f"{settings.topic_prefix}.{service}{GROUP_TOPIC_SEPARATOR}{topic}"
        lag = next((g.lag for g in lags if g.group == group), None)
        done.append(size - lag if lag is not None else 0)
    return min(done)


async def _publish(settings: Settings, topic: str, events: list[Envelope[Any]]) -> None:
    if events:
        await publish(settings, [envelope_record(topic, e) for e in events])


async def _events(settings: Settings, topic: str, kind: Any) -> list[Any]:
    events, _ = decode(await read_topic(settings, topic), kind)
    return events


async def _settled(settings: Settings, service: str) -> bool:
    """Nothing left to consume for the service's groups (``<prefix>.<service>@<topic>``)."""
    lags: list[GroupLag] = await consumer_group_lags(settings)
    mine = [lag for lag in lags if lag.group.startswith(f"{settings.topic_prefix}.{service}{GROUP_TOPIC_SEPARATOR}")]
    return bool(mine) and all(lag.lag == 0 for lag in mine)
