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


async def open_database(settings: Settings, specs: Iterable[IndexSpec] = ()) -> tuple[AsyncMongoClient[dict[str, Any]], AsyncDatabase[dict[str, Any]]]:
    """Connect, check the server answers, and create the service's indexes."""
    client = create_client(settings)
    db = client[settings.mongo_db]
    await client.admin.command("ping")
    await ensure_indexes(db, specs)
    return client, db
