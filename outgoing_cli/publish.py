"""Publishing from the command line: the same idempotent, acks=all producer the services use.

Before producing, the target topics must exist: auto-creation is off on the broker, and
a producer would otherwise wait a minute for metadata before failing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from outgoing_cli.console import missing_topics
from outgoing_cli.kafka_read import existing_topics
from shared.contracts.envelope import Envelope
from shared.kafka import client_security
from shared.messaging import event_headers
from shared.settings import Settings


@dataclass(frozen=True)
class Outgoing:
    """One record to publish: the exact value bytes, its key and headers."""

    topic: str
    value: bytes
    key: bytes | None
    headers: Mapping[str, str] = field(default_factory=dict)


def envelope_record(topic: str, event: Envelope[Any], value: bytes | None = None) -> Outgoing:
    """An event keyed by its subject, with the identity headers the services log."""
    return Outgoing(topic, value if value is not None else event.to_bytes(), event.key, event_headers(event))


@contextlib.asynccontextmanager
async def producer(env: Settings) -> AsyncIterator[AIOKafkaProducer]:
    kafka = AIOKafkaProducer(
        bootstrap_servers=env.kafka_bootstrap,
        client_id=f"{env.kafka_client_id}-cli",
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=30_000,
        **client_security(env),
    )
    try:
        await kafka.start()
        yield kafka
    finally:
        await kafka.stop()


async def require_topics(env: Settings, names: Iterable[str]) -> None:
    missing = sorted(set(names) - await existing_topics(env))
    if missing:
        raise missing_topics(env, missing)


async def publish(env: Settings, records: list[Outgoing], on_ack: Callable[[], None] | None = None) -> int:
    """Send in order without waiting for each acknowledgement, then wait for all of them.

    Returns how many the broker acknowledged; raises on the first failure (what was
    acknowledged before it stays published: delivery is at-least-once, consumers dedupe).
    """
    await require_topics(env, {r.topic for r in records})
    async with producer(env) as kafka:
        acks = []
        for record in records:
            headers = [(k, v.encode()) for k, v in record.headers.items()]
            sent = await kafka.send(record.topic, record.value, key=record.key, headers=headers)
            if on_ack is not None:
                sent.add_done_callback(_when_acked(on_ack))
            acks.append(sent)
        await asyncio.gather(*acks)
    return len(acks)


def _when_acked(on_ack: Callable[[], None]) -> Callable[[asyncio.Future[Any]], None]:
    def done(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            on_ack()

    return done
