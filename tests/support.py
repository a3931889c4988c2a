"""Helpers for tests that talk to the real broker: start a service in-process, read a topic."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream import FastStream

from shared.kafka import client_security
from shared.settings import Settings


@contextlib.asynccontextmanager
async def running(app: FastStream) -> AsyncIterator[FastStream]:
    """Start a FastStream app inside the test's event loop, stop it afterwards."""
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def read_topic(settings: Settings, topic: str, count: int, timeout: float = 30.0) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``count`` records from the start of ``topic``, failing if they do not arrive in time."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        **client_security(settings),
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for partition_records in batch.values():
                    records.extend(partition_records)
    except TimeoutError:
        raise AssertionError(f"expected {count} records on {topic}, got {len(records)} within {timeout}s") from None
    finally:
        await consumer.stop()
    return records


async def eventually(predicate, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll an async predicate until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            result = await predicate()
            if result:
                return result
            await asyncio.sleep(interval)


async def topic_records(settings: Settings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Everything on ``topic`` right now, from the beginning up to the end offsets."""
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        **client_security(settings),
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))]
        consumer.assign(partitions)
        # An explicit seek: seek_to_beginning right after assign can be overtaken by the
        # consumer's own initial offset reset, and then the read silently starts at the end.
        for tp, offset in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        async with asyncio.timeout(30):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=200)
                for partition_records in batch.values():
                    records.extend(partition_records)
        return sorted(records, key=lambda r: (r.timestamp, r.partition, r.offset))
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # aiokafka has no public refresh
    return consumer.partitions_for_topic(topic) or set()


def decoded(records: list[Any]) -> list[dict[str, Any]]:
    import json

    return [json.loads(r.value) for r in records if r.value]


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
