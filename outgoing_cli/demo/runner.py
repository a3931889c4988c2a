"""`outgoing demo`: the 2020 edition replayed through the real broker, database and services.

Each run gets an environment of its own (topic prefix ``demo<timestamp>`` and one
database per service), so its counts are only its own; older demo environments are
dropped at start and the latest one is kept for inspection. The three services run as
processes whose pid files live in ``<run dir>/demo``, apart from those `make run` /
`outgoing dev up` keep in the run dir itself, and exactly those are stopped at the end,
also on Ctrl-C or an error. Kafka and the database are stopped only if the demo started
them. Every stage publishes, then polls the topics and the services' read models until
what it caused has settled, with a bound on how long that may take (stages.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pymongo import AsyncMongoClient
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deploy.local import infra
from outgoing_cli.demo.mail_sink import MailSink
from outgoing_cli.demo.population import Population, generate
from outgoing_cli.demo.stages import Stages
from outgoing_cli.demo.summary import (
    DemoSummary,
    render,
)
from outgoing_cli.demo.watch import DemoError, RateColumn, Watch
from shared.contracts.topics import TopicNames
from shared.kafka import delete_topics, ensure_topics
from shared.mongo import create_client
from shared.settings import Settings

SERVICES = infra.SERVICES
DEMO_NAME = re.compile(r"^demo\d{14}$")


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
            "OUTGOING_LINK_SECRET": self.settings.link_secret.get_secret_value() if self.settings.link_secret else "",
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
                "link_secret": SecretStr(secrets.token_hex(32)),
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


async def _stages(
    env: DemoEnvironment, population: Population, options: DemoOptions, sink: MailSink, console: Console, demo_cfg: infra.Config
) -> DemoSummary:
    progress = Progress(
        TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), RateColumn(), console=console
    )
    watch = Watch(progress, options.stage_timeout_s)
    stages = Stages(env.settings, population, watch, sink, demo_cfg, options.time_limit_s)
    with progress:
        expected = await stages.run()
    summary = DemoSummary(
        env.name,
        {s: env.database(s) for s in SERVICES},
        sink.folder,
        emails_expected=expected,
        warnings=watch.warnings,
        stage_seconds=watch.seconds,
    )
    return await stages.summarise(summary)
