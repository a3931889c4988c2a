"""AsyncMongoClient factory: one client per process, indexes ensured at start-up.

Everything stays within what a MongoDB 7/8 replica set and the embedded mongo-java-server
both do: single-document atomic writes with the guard in the filter, unique indexes; no
multi-document transactions, change streams or TTL indexes (docs/storage.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: Sequence[tuple[str, int]]
    unique: bool = False
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def model(self) -> IndexModel:
        name = self.name or "_".join(f"{k}_{d}" for k, d in self.keys)
        return IndexModel(list(self.keys), unique=self.unique, name=name, **self.options)


@dataclass(frozen=True)
class HotQuery:
    """A query that runs per message or per poll, declared with the index that must serve it.

    ``equality`` fields are matched exactly, ``range`` (if any) by a bound, ``sort`` orders
    the result. tests/unit/test_hot_queries.py checks each against its service's indexes,
    and tests/integration/test_indexes.py asks a real ``mongod`` to explain it.
    """

    name: str
    collection: str
    equality: tuple[str, ...]
    range: str | None = None
    sort: tuple[str, ...] = ()
    runs: str = "per message"

    def key_fields(self) -> tuple[str, ...]:
        return (*self.equality, *((self.range,) if self.range else ()), *(f for f in self.sort if f != self.range))

    def served_by(self, specs: Iterable[IndexSpec]) -> IndexSpec | None:
        """The first index whose keys start with the equality fields (any order), then range and sort."""
        if self.key_fields() == ("_id",):
            return IndexSpec(self.collection, [("_id", 1)], unique=True, name="_id_")
        for spec in specs:
            keys = [k for k, _ in spec.keys]
            if spec.collection != self.collection or len(keys) < len(self.key_fields()):
                continue
            head = keys[: len(self.equality)]
            rest = keys[len(self.equality) : len(self.key_fields())]
            if set(head) == set(self.equality) and tuple(rest) == self.key_fields()[len(self.equality) :]:
                return spec
        return None


def create_client(settings: Settings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        settings.mongo_url,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=settings.mongo_timeout_ms,
        appname=f"outgoing-{settings.instance_id}",
    )


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]], specs: Iterable[IndexSpec]) -> None:
    """One createIndexes command per collection; re-creating existing indexes is a no-op."""
    by_collection: dict[str, list[IndexModel]] = {}
    for spec in specs:
        by_collection.setdefault(spec.collection, []).append(spec.model())
    for collection, models in by_collection.items():
        await db[collection].create_indexes(models)


async def open_database(
    settings: Settings, specs: Iterable[IndexSpec] = ()
) -> tuple[AsyncMongoClient[dict[str, Any]], AsyncDatabase[dict[str, Any]]]:
    """Connect, check the server answers, and create the service's indexes."""
    client = create_client(settings)
    db = client[settings.mongo_db]
    await client.admin.command("ping")
    await ensure_indexes(db, specs)
    return client, db
