"""Transactional outbox without transactions: one single-document write holds state and events.

A state change and the events it causes are written in ONE document update: the events
go into that document's ``outbox`` array. A single-document write stores both or neither.

Publishing is done by the document's single writer. Each service routes every event that
changes a document through one Kafka partition chosen by the document's owner key (the
company id, the mission id), so exactly one consumer ever writes a given document. Right
after its write, that consumer publishes the document's pending events in order and
removes exactly those entries by id with ``$pull``. Each of those writes is atomic on its
own, so an overlapping writer (during a rebalance) can at worst publish an entry twice,
never lose one.

If the writer dies between its write and the publish, the entries stay. The scanner
finds entries older than a grace period and asks the owner, through the same partition,
to flush them. A crash after publishing but before removal publishes them again:
delivery is at-least-once, and every consumer deduplicates by event id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.envelope import Envelope
from shared.contracts.internal import OutboxFlush, OutboxFlushRequested
from shared.contracts.topics import Topic, TopicNames
from shared.logging import get_logger
from shared.messaging import HEADER_CORRELATION_ID, event_headers, publish_event, send_tombstone, upcast_legacy
from shared.polling import poll_forever

log = get_logger("outgoing.outbox")

OUTBOX = "outbox"


def pending(topic: Topic, event: Envelope[Any], key: str | None = None) -> dict[str, Any]:
    """An outbox entry: the exact bytes to publish, stored as text so nothing re-encodes them."""
    return {
        "id": str(event.id),
        "topic": topic.value,
        "key": key if key is not None else event.subject,
        "value": event.model_dump_json(),
        "headers": event_headers(event),
        "at": datetime.now(UTC),
    }


def tombstone(topic: Topic, key: str) -> dict[str, Any]:
    """An outbox entry that deletes ``key`` from a compacted topic."""
    return {"id": f"tombstone-{uuid4()}", "topic": topic.value, "key": key, "value": None, "headers": {}, "at": datetime.now(UTC)}


@dataclass(frozen=True)
class DocumentRef:
    """A document with pending events. ``written`` holds the entries this very message's
    write appended, when it knows them, so the flush need not read them back."""

    collection: str
    id: Any
    written: tuple[dict[str, Any], ...] | None = field(default=None, compare=False)


_TOUCHED: ContextVar[list[DocumentRef] | None] = ContextVar("outgoing_touched_documents", default=None)


class TouchedDocuments:
    """The documents the message being handled wrote with pending events, for its owner to flush.

    Kept per asyncio task, not per store: a service runs several consumers in one process
    around one store, and each must flush only what its own message wrote, since another
    partition's documents have their own writer publishing them.
    """

    def touch(self, collection: str, doc_id: Any, written: list[dict[str, Any]] | None = None) -> None:
        """Noted even when the write was a no-op: a replay must also flush what a crash left.

        ``written``: the entries a successful write appended; without them the flush reads
        the document's outbox, which also catches entries a crash left behind.
        """
        refs = _TOUCHED.get()
        if refs is None:
            refs = []
            _TOUCHED.set(refs)
        refs.append(DocumentRef(collection, doc_id, tuple(written) if written is not None else None))

    def drain_touched(self) -> list[DocumentRef]:
        refs = _TOUCHED.get() or []
        _TOUCHED.set([])
        return refs


class Outbox:
    """Publishes and clears the pending events of documents this consumer owns."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], broker: KafkaBroker, topics: TopicNames) -> None:
        self.db = db
        self.broker = broker
        self.topics = topics
        self.published = 0

    async def flush(self, refs: Iterable[DocumentRef]) -> int:
        sent = 0
        for ref, written in _merged(refs).items():
            sent += await self._flush_one(ref, written)
        self.published += sent
        return sent

    async def _flush_one(self, ref: DocumentRef, written: list[dict[str, Any]] | None) -> int:
        collection = self.db[ref.collection]
        entries = written
        if entries is None:
            doc = await collection.find_one({"_id": ref.id}, {OUTBOX: 1})
            entries = (doc or {}).get(OUTBOX) or []
        if not entries:
            return 0
        await self._publish(entries)
        await collection.update_one({"_id": ref.id}, {"$pull": {OUTBOX: {"id": {"$in": [entry["id"] for entry in entries]}}}})
        return len(entries)

    async def _publish(self, entries: list[dict[str, Any]]) -> None:
        """Send in order without waiting for each acknowledgement, then wait for all of them."""
        futures = []
        for entry in entries:
            topic, key = self.topics(Topic(entry["topic"])), entry["key"].encode()
            if entry["value"] is None:
                futures.append(await send_tombstone(self.broker, topic, key, wait=False))
                continue
            value, headers = entry["value"].encode(), entry.get("headers") or {}
            value, headers = upcast_legacy(value) or (value, headers)
            futures.append(
                await self.broker.publish(
                    value,
                    topic,
                    key=key,
                    headers=headers,
                    correlation_id=headers.get(HEADER_CORRELATION_ID),
                    no_confirm=True,
                )
            )
        if futures:
            await asyncio.gather(*futures)


def _merged(refs: Iterable[DocumentRef]) -> dict[DocumentRef, list[dict[str, Any]] | None]:
    """One flush per document, in first-touch order; any touch without known entries means read."""
    merged: dict[DocumentRef, list[dict[str, Any]] | None] = {}
    for ref in refs:
        if ref in merged and merged[ref] is None:
            continue
        if ref.written is None:
            merged[ref] = None
        else:
            merged[ref] = [*(merged.get(ref) or []), *ref.written]
    return merged


StaleFlush = Callable[[str, list[dict[str, Any]]], Awaitable[int]]
"""Has the stale documents of one collection flushed; returns how many it handled."""


@dataclass
class StaleOutboxScanner:
    """Finds entries a crashed writer left behind, and has them flushed by ``flush``."""

    db: AsyncDatabase[dict[str, Any]]
    collections: Iterable[str]
    flush: StaleFlush
    grace: timedelta = timedelta(seconds=30)
    interval_s: float = 30.0
    max_interval_s: float = 60.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def run_forever(self) -> None:
        await poll_forever(self.scan_once, self.interval_s, self.max_interval_s)

    async def scan_once(self) -> int:
        cutoff = self.clock() - self.grace
        handled = 0
        for collection in self.collections:
            stale = await self.db[collection].find({"outbox.at": {"$lte": cutoff}}, {OUTBOX: 0}).to_list()
            if stale:
                handled += await self.flush(collection, stale)
        return handled


def ask_owners(broker: KafkaBroker, command_topic: str, owners: dict[str, Callable[[dict[str, Any]], str]], source: str) -> StaleFlush:
    """For documents with a single writer: each owner is asked, through its own partition of
    the command topic, to flush its document, so that only the single writer ever does."""

    async def request(collection: str, stale: list[dict[str, Any]]) -> int:
        for doc in stale:
            payload = OutboxFlush(collection=collection, document_id=str(doc["_id"]))
            await publish_event(
                broker, command_topic, OutboxFlushRequested.new(source=source, subject=owners[collection](doc), data=payload)
            )
        log.warning("stale outbox entries found; owners asked to flush", collection=collection, documents=len(stale))
        return len(stale)

    return request


def flush_here(outbox: Outbox) -> StaleFlush:
    """For documents that get their outbox entries only in their final write: once those are
    older than the grace period nobody else writes the document, and any instance may flush it."""

    async def flush(collection: str, stale: list[dict[str, Any]]) -> int:
        return await outbox.flush(DocumentRef(collection, doc["_id"]) for doc in stale)

    return flush
