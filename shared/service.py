"""The common shape of a service process: settings, logging, broker, database, ready line.

Each service's ``app.py`` supplies what is its own (indexes, subscribers, background
loops); this module only wires them the same way everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.topics import Topic, TopicNames
from shared.health import Health, ProgressTracker, View
from shared.logging import configure_logging, get_logger
from shared.messaging import TRANSIENT_ERRORS, DeadLetterPolicy, create_broker, group_id
from shared.mongo import IndexSpec, create_client, ensure_indexes
from shared.parking import ParkedRecords, subscribe_park_requests
from shared.settings import Settings


@dataclass
class Runtime:
    """What a running service holds: its settings, broker and database."""

    service: str
    settings: Settings
    broker: KafkaBroker
    topics: TopicNames
    group_id: str
    mongo: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    background: list[asyncio.Task[None]] = field(default_factory=list)
    components: dict[str, Any] = field(default_factory=dict)
    """Named parts the wiring built (e.g. a timer runner), for operators' tools and tests."""
    views: dict[str, View] = field(default_factory=dict)
    """Read models the service exposes over HTTP (``GET /views/<name>``), for tools that must
    not read its collections (the demo, dashboards)."""


BackgroundLoop = Callable[[], Awaitable[None]]
Registrar = Callable[[Runtime], Iterable[BackgroundLoop]]
"""Registers a service's subscribers on the runtime and returns its background loops."""


def build_service(
    service: str,
    settings: Settings,
    dead_letter_topic: Topic,
    indexes: Iterable[IndexSpec] = (),
    register: Registrar | None = None,
    configure_logs: bool = True,
) -> tuple[FastStream, Runtime]:
    """A FastStream app for ``service``: subscribers registered, indexes created at start-up."""
    if configure_logs:
        configure_logging(service, settings.log_level, settings.log_json)
    log = get_logger(f"outgoing.{service}")
    topics = TopicNames(settings.topic_prefix)
    group = group_id(settings, service)
    mongo = create_client(settings)
    db = mongo[settings.database_for(service)]
    tracker = ProgressTracker(stuck_after_s=settings.stuck_after_s)
    parked = ParkedRecords(db)
    policy = DeadLetterPolicy(service, topics(dead_letter_topic), group, parked=parked, redelivered=tracker.redelivered)
    broker = create_broker(settings, service, policy, outermost=[tracker.middleware()])
    runtime = Runtime(service, settings, broker, topics, group, mongo, db)
    subscribe_park_requests(broker, topics(Topic.OPERATOR_COMMANDS), group, service, parked)
    runtime.components["progress"] = tracker
    loop_factories = list(register(runtime)) if register is not None else []
    loop_factories.append(tracker.report_forever)
    if settings.health_port is not None:
        health = Health(service, broker, runtime.db, tracker, settings.health_host, settings.health_port, views=runtime.views)
        runtime.components["health"] = health
        loop_factories.append(health.serve_forever)
    app = FastStream(broker, logger=get_logger(f"outgoing.{service}.app"))
    index_specs = list(indexes)

    @app.on_startup
    async def connect_database() -> None:
        await runtime.mongo.admin.command("ping")
        await ensure_indexes(runtime.db, index_specs)

    @app.after_startup
    async def announce_ready() -> None:
        for loop in loop_factories:
            runtime.background.append(asyncio.create_task(_guarded(loop, runtime), name=f"{service}:{_name(loop)}"))
        log.info(
            "ready",
            service=service,
            instance=settings.instance_id,
            kafka=settings.kafka_bootstrap,
            database=settings.database_for(service),
            group_id=group,
            subscribers=len(broker.subscribers),
            health_port=settings.health_port,
        )

    @app.on_shutdown
    async def stop_background() -> None:
        for task in runtime.background:
            task.cancel()
        for task in runtime.background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("stopping", service=service, instance=settings.instance_id)

    @app.after_shutdown
    async def close_database() -> None:
        await runtime.mongo.close()
        log.info("stopped", service=service, instance=settings.instance_id)

    return app, runtime


def _name(loop: BackgroundLoop) -> str:
    return getattr(loop, "__qualname__", None) or repr(loop)


async def _guarded(loop: BackgroundLoop, runtime: Runtime) -> None:
    """Restart a background loop after an unexpected error instead of letting it die silently."""
    log = get_logger(f"outgoing.{runtime.service}")
    while True:
        try:
            await loop()
            return
        except asyncio.CancelledError:
            raise
        except TRANSIENT_ERRORS as outage:
            log.warning("background loop hit an outage; restarting", loop=_name(loop), error=repr(outage))
            await asyncio.sleep(1.0)
        except Exception:
            log.exception("background loop failed; restarting", loop=_name(loop))
            await asyncio.sleep(1.0)
