"""Transactional outbox without transactions.

A state change and the events it causes are written in ONE document update: the events
go into that document's ``outbox`` array. MongoDB (and FerretDB) make a single-document
update atomic, so either both the change and its pending events are stored, or neither.

The relay then publishes each document's pending events in order and removes exactly
those entries with ``$pullAll``. A crash after publishing and before removal publishes
them again on restart: delivery is at-least-once and consumers deduplicate by event id.
A document is leased to one relay at a time, so several instances rarely duplicate work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.envelope import Envelope
from shared.contracts.topics import Topic, TopicNames
from shared.logging import get_logger
from shared.messaging import event_headers

log = get_logger("outgoing.outbox")

OUTBOX = "outbox"
LEASE = "outbox_lease"


def pending(topic: Topic, event: Envelope[Any], key: str | None = None) -> dict[str, Any]:
    """An outbox entry: the exact bytes to publish, stored as text so nothing re-encodes them."""
    return {
        "id": str(event.id),
        "topic": topic.value,
        "key": key if key is not None else event.subject,
        "value": event.model_dump_json(),
        "headers": event_headers(event),
    }


def tombstone(topic: Topic, key: str) -> dict[str, Any]:
    """An outbox entry that deletes ``key`` from a compacted topic."""
    return {"id": f"tombstone-{uuid4()}", "topic": topic.value, "key": key, "value": None, "headers": {}}


def push(entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The ``$push`` clause that appends entries to a document's outbox, in order."""
    return {OUTBOX: {"$each": list(entries)}}


class OutboxRelay:
    """Publishes pending events from the given collections until cancelled."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        collections: Iterable[str],
        broker: KafkaBroker,
        topics: TopicNames,
        owner: str,
        batch_size: int = 200,
        idle_interval_s: float = 0.25,
        lease_s: float = 30.0,
    ) -> None:
        self.db = db
        self.collections = list(collections)
        self.broker = broker
        self.topics = topics
        self.owner = owner
        self.batch_size = batch_size
        self.idle_interval_s = idle_interval_s
        self.lease = timedelta(seconds=lease_s)
        self.wake = asyncio.Event()
        self.published = 0

    def nudge(self) -> None:
        """Called after a write with pending events, so they go out without waiting a poll."""
        self.wake.set()

    async def run_forever(self) -> None:
        while True:
            sent = await self.run_once()
            if sent == 0:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.idle_interval_s)
                except TimeoutError:
                    pass

    async def run_once(self) -> int:
        sent = 0
        for name in self.collections:
            sent += await self._drain(name)
        return sent

    async def _drain(self, name: str) -> int:
        collection = self.db[name]
        now = datetime.now(UTC)
        candidates = await collection.find(
            {"outbox.0": {"$exists": True}, "$or": [{LEASE: None}, {f"{LEASE}.until": {"$lt": now}}]},
            {"_id": 1},
        ).limit(self.batch_size).to_list()
        sent = 0
        for candidate in candidates:
            lease = {"owner": self.owner, "until": now + self.lease, "token": str(uuid4())}
            claimed = await collection.find_one_and_update(
                {"_id": candidate["_id"], "$or": [{LEASE: None}, {f"{LEASE}.until": {"$lt": now}}]},
                {"$set": {LEASE: lease}},
                projection={OUTBOX: 1},
            )
            if claimed is None:
                continue
            entries = claimed.get(OUTBOX) or []
            mine = {"_id": candidate["_id"], f"{LEASE}.token": lease["token"]}
            try:
                await self._publish(entries)
            except BaseException:
                await asyncio.shield(collection.update_one(mine, {"$set": {LEASE: None}}))
                raise
            update: dict[str, Any] = {"$set": {LEASE: None}}
            if entries:
                update["$pullAll"] = {OUTBOX: entries}
            await collection.update_one(mine, update)
            sent += len(entries)
        self.published += sent
        return sent

    async def _publish(self, entries: list[dict[str, Any]]) -> None:
        """Send in order without waiting for each acknowledgement, then wait for all of them."""
        futures = []
        for entry in entries:
            value = entry["value"].encode() if entry["value"] is not None else None
            futures.append(
                await self.broker.publish(
                    value,
                    self.topics(Topic(entry["topic"])),
                    key=entry["key"].encode(),
                    headers=entry.get("headers") or {},
                    no_confirm=True,
                )
            )
        if futures:
            await asyncio.gather(*futures)
