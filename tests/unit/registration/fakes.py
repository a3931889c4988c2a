"""Registration's store in memory: the real codecs and conditional saves, no database."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from services.registration.store import RegistrationStore
from shared.aggregate import Aggregate, Recorded
from shared.contracts.missions import Mission
from tests.unit.fakes import InMemoryAggregates

A = TypeVar("A", bound=Aggregate)


class FakeRegistrationStore(RegistrationStore):
    def __init__(self) -> None:
        self.published: list[Recorded] = []
        self.catalogue: dict[str, Mission] = {}
        super().__init__(db=None)  # type: ignore[arg-type]

    def aggregates(
        self, name: str, to_document: Callable[[A], dict[str, Any]], from_document: Callable[[dict[str, Any]], A]
    ) -> InMemoryAggregates[A]:
        return InMemoryAggregates(name, to_document=to_document, from_document=from_document, touched=self, published=self.published)

    async def save_mission(self, mission: Mission) -> None:
        self.catalogue[mission.mission_id] = mission

    async def missions(self, ids: list[str]) -> Mapping[str, Mission]:
        return {i: self.catalogue[i] for i in ids if i in self.catalogue}

    async def missions_to(self, country: str) -> list[Mission]:
        return [m for m in self.catalogue.values() if m.country == country]

    async def coming_sessions(self, mission: Mission, after: datetime) -> list[str]:
        query = {"$or": [{"mission_id": mission.mission_id}, {"country": mission.country}], "start": {"$gt": after}}
        return [s.id for s in await self.sessions.find(query)]

    def types(self) -> list[str]:
        """The types of the events published so far, in order; tombstones as ``tombstone:<topic>``."""
        return [r.event.type if r.event is not None else f"tombstone:{r.topic.value}" for r in self.published]
