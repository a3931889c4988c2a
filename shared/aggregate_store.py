"""A MongoDB collection of aggregates: loads one whole, saves it whole with its recorded events.

Each save is one conditional single-document write. It applies only to the version that
was loaded, and it appends the aggregate's recorded events to the document's outbox in the
same write. Two writers that overlap (a Kafka rebalance) cannot both succeed: the loser
gets a conflict, and ``change`` loads again and decides again. The ids of applied events
are kept with the document, so a replayed event decides nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import bson
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.aggregate import Aggregate, Recorded
from shared.messaging import Contention
from shared.outbox import OUTBOX, TouchedDocuments, pending, tombstone

A = TypeVar("A", bound=Aggregate)

APPLIED = "applied_events"
APPLIED_KEPT = 1000
"""Event ids a document remembers: a replay older than that many later events of the same
document is still caught by the version it was decided on."""
MAX_ATTEMPTS = 8


class Conflict(Exception):
    """The document changed since it was loaded, or was created meanwhile."""


@dataclass(frozen=True)
class Saved(Generic[A]):
    """The aggregate after ``change``, and what this call wrote: ``events`` were appended to
    the outbox; ``written`` is False when the decision changed nothing."""

    aggregate: A
    events: list[Recorded]
    written: bool


@dataclass(frozen=True)
class Prepared:
    state: dict[str, Any]
    entries: list[dict[str, Any]]


def outbox_entry(recorded: Recorded) -> dict[str, Any]:
    if recorded.event is None:
        return tombstone(recorded.topic, recorded.key)
    return pending(recorded.topic, recorded.event, key=recorded.key)


class Absent:
    """A field the document must not have: removed on update, left out on insert (None is stored as null)."""


ABSENT = Absent()


class CorruptDocument(Exception):
    """A stored document the aggregate cannot be built from: a handler error to retry and
    report, never a reason to dead-letter the message that happened to load it as invalid."""


class AggregateCollection(Generic[A]):
    """``to_document`` gives the state's fields (``ABSENT`` for a field to remove);
    ``from_document`` builds the aggregate from a stored document."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        name: str,
        *,
        to_document: Callable[[A], dict[str, Any]],
        from_document: Callable[[dict[str, Any]], A],
        touched: TouchedDocuments,
        applied_kept: int = APPLIED_KEPT,
        max_bytes: int | None = None,
        too_large: Callable[[A, int], Exception] | None = None,
    ) -> None:
        self.collection = db[name]
        self.codec_options = self.collection.codec_options
        self.name = name
        self.to_document = to_document
        self.from_document = from_document
        self.touched = touched
        self.applied_kept = applied_kept
        self.max_bytes = max_bytes
        self.too_large = too_large or (lambda aggregate, size: ValueError(f"{name} {aggregate.id}: {size} bytes, over {max_bytes}"))
        self._stored: dict[str, dict[str, Any]] = {}

    async def get(self, aggregate_id: str) -> A | None:
        if self.max_bytes is None:
            doc = await self.collection.find_one({"_id": aggregate_id}, {OUTBOX: 0})
        else:  # the whole stored document counts towards its next size: kept for ``prepare``
            doc = await self.collection.find_one({"_id": aggregate_id})
            if doc is not None:
                self._stored[aggregate_id] = doc
        return self._loaded(doc) if doc is not None else None

    async def find(self, query: dict[str, Any]) -> list[A]:
        return [self._loaded(doc) for doc in await self.collection.find(query, {OUTBOX: 0}).to_list()]

    async def change(self, aggregate_id: str, decide: Callable[[A | None], A | None], *, insert_first: bool = False) -> Saved[A] | None:
        """Load, decide, save; on a conflict, again from the load. None: nothing exists or was created.

        ``insert_first`` skips the first load, for documents that are usually new."""
        for attempt in range(MAX_ATTEMPTS):
            current = None if insert_first and attempt == 0 else await self.get(aggregate_id)
            aggregate = decide(current)
            if aggregate is None:
                return None
            if not aggregate.changed:
                self.touched.touch(self.name, aggregate.id)  # a replay also flushes what a crash left
                return Saved(aggregate, [], written=False)
            try:
                return await self.save(aggregate)
            except Conflict:
                continue
        raise Contention(f"{self.name} {aggregate_id} kept changing under this update")

    def prepare(self, aggregate: A) -> Prepared:
        """The write ``save`` will make; refused here, before anything is written, if the
        document would pass ``max_bytes``."""
        prepared = Prepared(self.to_document(aggregate), [outbox_entry(r) for r in aggregate.recorded])
        if self.max_bytes is not None:
            stored = self._stored.pop(aggregate.id, {}) if aggregate.version is not None else {}
            merged = {**stored, "_id": aggregate.id, **prepared.state, "version": 0, "updated_at": datetime.now(UTC)}
            merged[APPLIED] = [*aggregate.applied, *aggregate.newly_applied][-self.applied_kept :]
            merged[OUTBOX] = [*(stored.get(OUTBOX) or []), *prepared.entries]
            size = len(bson.encode({k: v for k, v in merged.items() if v is not ABSENT}, codec_options=self.codec_options))
            if size > self.max_bytes:
                raise self.too_large(aggregate, size)
        return prepared

    async def save(self, aggregate: A, prepared: Prepared | None = None) -> Saved[A]:
        """Raises Conflict when another writer got there first."""
        prepared = prepared or self.prepare(aggregate)
        state, entries = prepared.state, prepared.entries
        now = datetime.now(UTC)
        if aggregate.version is None:
            doc = {k: v for k, v in state.items() if v is not ABSENT}
            try:
                await self.collection.insert_one(
                    {
                        "_id": aggregate.id,
                        **doc,
                        "version": 1,
                        APPLIED: aggregate.newly_applied,
                        OUTBOX: entries,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            except DuplicateKeyError as exc:
                raise Conflict(f"{self.name} {aggregate.id} exists") from exc
        else:
            await self._update(aggregate, state, entries, now)
        self.touched.touch(self.name, aggregate.id, written=entries)
        return Saved(aggregate, aggregate.saved(), written=True)

    async def _update(self, aggregate: A, state: dict[str, Any], entries: list[dict[str, Any]], now: datetime) -> None:
        push: dict[str, Any] = {}
        if aggregate.newly_applied:
            push[APPLIED] = {"$each": aggregate.newly_applied, "$slice": -self.applied_kept}
        if entries:
            push[OUTBOX] = {"$each": entries}
        version = aggregate.version or 0
        update: dict[str, Any] = {
            "$set": {**{k: v for k, v in state.items() if v is not ABSENT}, "version": version + 1, "updated_at": now}
        }
        unset = {k: "" for k, v in state.items() if v is ABSENT}
        if unset:
            update["$unset"] = unset
        if push:
            update["$push"] = push
        expected = version or {"$exists": False}
        result = await self.collection.update_one({"_id": aggregate.id, "version": expected}, update)
        if result.matched_count == 0:
            raise Conflict(f"{self.name} {aggregate.id} changed since version {aggregate.version}")

    def _loaded(self, doc: dict[str, Any]) -> A:
        try:
            aggregate = self.from_document(doc)
        except (ValidationError, KeyError, TypeError, ValueError) as error:
            raise CorruptDocument(f"{self.name} {doc.get('_id')!r} cannot be read: {error!r}"[:1000]) from error
        aggregate.version = int(doc.get("version", 0))
        aggregate.applied = list(doc.get(APPLIED, []))
        return aggregate
