"""In-memory stand-ins for the aggregate stores: fast use-case tests, no server.

``InMemoryAggregates`` keeps documents as the real collection would (through the same
codecs) and enforces the same conditional writes, so a use case that mishandles a conflict
or a replay fails here too. It proves nothing about MongoDB: the integration tests do.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import bson
from bson.codec_options import CodecOptions

from shared.aggregate import Aggregate, Recorded
from shared.aggregate_store import ABSENT, AggregateCollection, Conflict, Prepared, Saved
from shared.outbox import TouchedDocuments

A = TypeVar("A", bound=Aggregate)


class InMemoryAggregates(AggregateCollection[A], Generic[A]):
    def __init__(
        self,
        name: str,
        *,
        to_document: Callable[[A], dict[str, Any]],
        from_document: Callable[[dict[str, Any]], A],
        touched: TouchedDocuments,
        published: list[Recorded],
        applied_kept: int = 1000,
        max_bytes: int | None = None,
        too_large: Callable[[A, int], Exception] | None = None,
    ) -> None:
        self.name = name
        self.to_document = to_document
        self.from_document = from_document
        self.touched = touched
        self.docs: dict[str, dict[str, Any]] = {}
        self.published = published
        self.writes = 0
        self.applied_kept = applied_kept
        self.max_bytes = max_bytes
        self.too_large = too_large or (lambda aggregate, size: ValueError(f"{name} {aggregate.id}: {size} bytes"))
        self.codec_options = CODEC
        self._stored: dict[str, dict[str, Any]] = {}
        self._interference: dict[str, int] = {}

    def interfere(self, aggregate_id: str, times: int = 1) -> None:
        """Another writer changes the document just before each of the next ``times`` saves."""
        self._interference[aggregate_id] = times

    async def get(self, aggregate_id: str) -> A | None:
        doc = self.docs.get(aggregate_id)
        if doc is None:
            return None
        if self.max_bytes is not None:
            self._stored[aggregate_id] = copy.deepcopy(doc)
        return self._loaded(copy.deepcopy(doc))

    async def find(self, query: dict[str, Any]) -> list[A]:
        return [self._loaded(copy.deepcopy(d)) for d in self.docs.values() if matches(d, query)]

    async def save(self, aggregate: A, prepared: Prepared | None = None) -> Saved[A]:
        prepared = prepared or self.prepare(aggregate)  # the same refusals as the real store
        if self._interference.get(aggregate.id, 0) > 0:
            self._interference[aggregate.id] -= 1
            if aggregate.id in self.docs:
                self.docs[aggregate.id]["version"] += 1
            else:
                self.docs[aggregate.id] = {"_id": aggregate.id, **self._state(aggregate), "version": 1, "applied_events": []}
        stored = self.docs.get(aggregate.id)
        if aggregate.version is None and stored is not None:
            raise Conflict(f"{self.name} {aggregate.id} exists")
        if aggregate.version is not None and (stored is None or stored.get("version", 0) != aggregate.version):
            raise Conflict(f"{self.name} {aggregate.id} changed since version {aggregate.version}")
        doc = {"_id": aggregate.id, **self._state(aggregate)}
        doc["version"] = (aggregate.version or 0) + 1
        doc["applied_events"] = [*(stored or {}).get("applied_events", []), *aggregate.newly_applied][-self.applied_kept :]
        doc["outbox"] = [*(stored or {}).get("outbox", []), *_through_bson(prepared.entries)]
        self.docs[aggregate.id] = doc
        self.writes += 1
        self.published.extend(aggregate.recorded)
        self.touched.touch(self.name, aggregate.id, written=prepared.entries)
        return Saved(aggregate, aggregate.saved(), written=True)

    def _state(self, aggregate: A) -> dict[str, Any]:
        """As MongoDB would keep it: BSON types, times to the millisecond, absent fields left out."""
        return _through_bson({k: v for k, v in self.to_document(aggregate).items() if v is not ABSENT})


CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


def _through_bson(value: Any) -> Any:
    return bson.decode(bson.encode({"v": value}, codec_options=CODEC), codec_options=CODEC)["v"]


def matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    """The few MongoDB query forms the stores use: equality, ``$in``, ``$gt`` and ``$or``."""
    for key, wanted in query.items():
        if key == "$or":
            if not any(matches(doc, branch) for branch in wanted):
                return False
            continue
        value = doc.get(key)
        if isinstance(wanted, dict) and "$in" in wanted:
            if value not in wanted["$in"]:
                return False
        elif isinstance(wanted, dict) and "$gt" in wanted:
            if value is None or not value > wanted["$gt"]:
                return False
        elif value != wanted:
            return False
    return True
