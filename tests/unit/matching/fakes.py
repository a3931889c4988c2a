"""Matching's store in memory: the real mission codec and conditional saves, bookings that
refuse a company held by another meeting at an overlapping time, no database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from services.matching.domain.mission import Booking
from services.matching.store import MatchingStore, booking_documents
from shared.aggregate import Aggregate, Recorded
from shared.contracts.missions import Mission as MissionDefinition
from shared.contracts.registration import CompanyProfile
from shared.messaging import Contention
from tests.unit.fakes import InMemoryAggregates

A = TypeVar("A", bound=Aggregate)


class FakeMatchingStore(MatchingStore):
    def __init__(self) -> None:
        self.published: list[Recorded] = []
        self.catalogue: dict[str, MissionDefinition] = {}
        self.companies: dict[str, CompanyProfile | None] = {}
        self.booked: dict[str, dict[str, Any]] = {}
        super().__init__(db=None)  # type: ignore[arg-type]

    def aggregates(
        self, name: str, to_document: Callable[[A], dict[str, Any]], from_document: Callable[[dict[str, Any]], A], **options: Any
    ) -> InMemoryAggregates[A]:
        return InMemoryAggregates(
            name, to_document=to_document, from_document=from_document, touched=self, published=self.published, **options
        )

    async def save_mission(self, mission: MissionDefinition) -> None:
        self.catalogue[mission.mission_id] = mission

    async def mission(self, mission_id: str) -> MissionDefinition | None:
        return self.catalogue.get(mission_id)

    async def save_profile(self, profile: CompanyProfile, event_time: datetime) -> None:
        self.companies[profile.company_id] = profile

    async def forget_company(self, company_id: str, event_time: datetime) -> None:
        self.companies[company_id] = None

    async def missions_awaiting_profile(self, company_id: str) -> list[str]:
        docs = self.missions.docs  # type: ignore[attr-defined]
        return [mid for mid, doc in docs.items() if company_id in (doc.get("awaiting_profile") or [])]

    async def profiles(self, company_ids: list[str]) -> dict[str, CompanyProfile]:
        return {cid: p for cid in company_ids if (p := self.companies.get(cid)) is not None}

    async def bookings_elsewhere(self, company_ids: list[str], mission_id: str) -> list[Booking]:
        found = {
            (d["company_id"], d["meeting_id"]): d
            for d in self.booked.values()
            if d["company_id"] in company_ids and d["mission_id"] != mission_id
        }
        return [Booking(d["company_id"], d["start"], d["end"], d["mission_id"], d["meeting_id"]) for d in found.values()]

    async def reconcile_bookings(self, mission_id: str, wanted: list[Booking]) -> None:
        desired = {bid: doc for booking in wanted for bid, doc in booking_documents(booking).items()}
        for bid in [
            b
            for b, d in self.booked.items()
            if d["mission_id"] == mission_id and (b not in desired or desired[b]["meeting_id"] != d["meeting_id"])
        ]:
            del self.booked[bid]
        held = [bid for bid, doc in desired.items() if bid in self.booked and self.booked[bid]["meeting_id"] != doc["meeting_id"]]
        self.booked.update({bid: doc for bid, doc in desired.items() if bid not in self.booked})
        if held:
            raise Contention(f"{len(held)} booking(s) already held by other meetings, e.g. {held[0]}")
