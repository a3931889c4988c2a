"""Helpers for tests that talk to the real broker: start a service in-process, read a topic."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream import FastStream

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
