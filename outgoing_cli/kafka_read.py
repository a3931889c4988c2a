"""Reading Kafka as an operator does: whole topics to their current end, sizes, group lag.

Every read uses an anonymous consumer (no group, no commits), so looking never moves a
service's position. A read stops at the end offsets taken when it started: records
published meanwhile are left for the next look.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import TypeAdapter, ValidationError

from outgoing_cli.console import CliError, missing_topics
from shared.kafka import admin_client, client_security
from shared.messaging import GROUP_TOPIC_SEPARATOR
from shared.settings import Settings

READ_TIMEOUT_S = 60.0

Record = ConsumerRecord[bytes, bytes]


@contextlib.asynccontextmanager
async def reader(env: Settings) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=env.kafka_bootstrap,
        client_id=f"{env.kafka_client_id}-cli",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=15_000,
        **client_security(env),
    )
    try:
        await consumer.start()
        yield consumer
    finally:
        await consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, env: Settings, topic: str) -> list[TopicPartition]:
    """The topic's partitions; a missing topic is the operator's to fix, so say how."""
    found = consumer.partitions_for_topic(topic)
    if not found:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
        found = consumer.partitions_for_topic(topic)
    if not found:
        raise missing_topics(env, [topic])
    return [TopicPartition(topic, p) for p in sorted(found)]


async def existing_topics(env: Settings) -> set[str]:
    async with reader(env) as consumer:
        return set(await consumer.topics())


async def read_topic(env: Settings, topic: str) -> list[Record]:
    """Every record on ``topic`` now, in (partition, offset) order."""
    async with reader(env) as consumer:
        partitions = await partitions_of(consumer, env, topic)
        return await _read(consumer, await consumer.beginning_offsets(partitions))


async def read_tail(env: Settings, topic: str, per_partition: int) -> list[Record]:
    """The last ``per_partition`` records of each partition."""
    async with reader(env) as consumer:
        partitions = await partitions_of(consumer, env, topic)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        return await _read(consumer, {tp: max(starts[tp], ends[tp] - per_partition) for tp in partitions})


async def read_records(env: Settings, topic: str, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Record]:
    """The records at the given (partition, offset) positions; absent ones are left out."""
    wanted = set(wanted)
    found: dict[tuple[int, int], Record] = {}
    async with reader(env) as consumer:
        partitions = {tp.partition: tp for tp in await partitions_of(consumer, env, topic)}
        ends = await consumer.end_offsets(list(partitions.values()))
        for partition in sorted({p for p, _ in wanted}):
            tp = partitions.get(partition)
            offsets = sorted(o for p, o in wanted if p == partition)
            if tp is None or not offsets:
                continue
            consumer.assign([tp])
            consumer.seek(tp, offsets[0])
            async with asyncio.timeout(READ_TIMEOUT_S):
                while await consumer.position(tp) < ends[tp] and await consumer.position(tp) <= offsets[-1]:
                    for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                        if record.offset in offsets:
                            found[(partition, record.offset)] = record
    return found


async def _read(consumer: AIOKafkaConsumer, starts: dict[TopicPartition, int]) -> list[Record]:
    """Explicit seeks: seek_to_beginning races with the reset aiokafka starts on assign."""
    partitions = list(starts)
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    for tp, start in starts.items():
        consumer.seek(tp, start)
    records: list[Record] = []
    async with asyncio.timeout(READ_TIMEOUT_S):
        while pending := [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for tp, chunk in batch.items():
                records.extend(r for r in chunk if r.offset < ends[tp])
    return sorted(records, key=lambda r: (r.partition, r.offset))


async def topic_sizes(env: Settings, topics: Iterable[str]) -> dict[str, int | None]:
    """Records currently held per topic (end minus start offsets); None for a missing topic."""
    sizes: dict[str, int | None] = {}
    async with reader(env) as consumer:
        for topic in topics:
            try:
                partitions = await partitions_of(consumer, env, topic)
            except CliError:  # a missing topic is reported as such, not as a failure of the whole look
                sizes[topic] = None
                continue
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            sizes[topic] = sum(ends[tp] - starts[tp] for tp in partitions)
    return sizes


@dataclass(frozen=True)
class GroupLag:
    group: str
    topics: tuple[str, ...]
    lag: int | None
    """Records not yet consumed; None when a topic the group read from no longer exists."""


def subscribed_topic(group: str) -> str | None:
    """Services name their groups ``<prefix>.<service>/<topic>`` (shared.messaging.consumer)."""
    _, at, topic = group.partition(GROUP_TOPIC_SEPARATOR)
    return topic if at and topic else None


def lag_of(committed: dict[TopicPartition, int], ends: dict[TopicPartition, int], starts: dict[TopicPartition, int]) -> int:
    """Sum over partitions of end offset minus committed offset; a partition never committed
    counts from its start, since new groups begin at the earliest offset."""
    return sum(max(0, end - committed.get(tp, starts.get(tp, end))) for tp, end in ends.items())


async def consumer_group_lags(env: Settings) -> list[GroupLag]:
    """Lag of every consumer group of this environment (groups named ``<prefix>.…``)."""
    async with admin_client(env, role="cli-admin", request_timeout_ms=15_000) as client, reader(env) as consumer:
        groups = sorted(g[0] for g in await client.list_consumer_groups() if str(g[0]).startswith(f"{env.topic_prefix}."))
        known = set(await consumer.topics())
        lags = []
        for group in groups:
            offsets = await client.list_consumer_group_offsets(group)
            committed = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
            topics = {tp.topic for tp in committed}
            if (topic := subscribed_topic(group)) is not None:
                topics.add(topic)
            lags.append(await _lag(consumer, env, group, committed, topics, known))
        return lags


async def _lag(
    consumer: AIOKafkaConsumer, env: Settings, group: str, committed: dict[TopicPartition, int], topics: set[str], known: set[str]
) -> GroupLag:
    if not topics <= known:
        return GroupLag(group, tuple(sorted(topics)), None)
    partitions: list[TopicPartition] = []
    for topic in sorted(topics):
        partitions.extend(await partitions_of(consumer, env, topic))
    ends = await consumer.end_offsets(partitions)
    never = [tp for tp in partitions if tp not in committed]
    starts: dict[Any, int] = await consumer.beginning_offsets(never) if never else {}
    return GroupLag(group, tuple(sorted(topics)), lag_of(committed, ends, starts))


def decode(records: Iterable[Record], event_type: Any) -> tuple[list[Any], int]:
    """The records that are valid ``event_type`` (a class or union), strictly decoded, in
    order; tombstones and other types are skipped, and the skipped are counted."""
    adapter: TypeAdapter[Any] = TypeAdapter(event_type)
    events, skipped = [], 0
    for record in records:
        try:
            events.append(adapter.validate_json(record.value or b""))
        except ValidationError:
            skipped += 1
    return events, skipped
