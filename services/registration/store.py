"""Registration's MongoDB documents: missions, companies, enrollments and signup decisions.

Every write is one single-document operation that carries its own outbox entries and
is guarded by the id of the event that causes it, so a replayed event matches nothing
and changes nothing. Concurrent duplicates meet on unique keys (deterministic ``_id``s
and unique indexes) and the loser re-reads and re-applies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.contracts.missions import Mission
from shared.mongo import HotQuery, IndexSpec
from shared.outbox import OUTBOX, TouchedDocuments

MISSIONS = "missions"
COMPANIES = "companies"
ENROLLMENTS = "enrollments"
SIGNUPS = "signups"
APPLIED = "applied_events"

INDEXES = [
    IndexSpec(COMPANIES, [("natural_key", 1)], unique=True, name="one_company_per_identity"),
    IndexSpec(ENROLLMENTS, [("company_id", 1), ("mission_id", 1)], unique=True, name="one_enrollment_per_company_and_mission"),
    IndexSpec(ENROLLMENTS, [("mission_id", 1), ("status", 1)]),
    IndexSpec(SIGNUPS, [("company_id", 1)]),
    *(IndexSpec(collection, [(f"{OUTBOX}.at", 1)], name="stale_outbox") for collection in (COMPANIES, ENROLLMENTS, SIGNUPS)),
]

HOT_QUERIES = [
    HotQuery("company by id", COMPANIES, ("_id",), runs="per signup"),
    HotQuery("signup decision by id", SIGNUPS, ("_id",), runs="per signup"),
    HotQuery("missions by id", MISSIONS, ("_id",), runs="per signup"),
    HotQuery("a company's enrollments", ENROLLMENTS, ("company_id",), runs="per signup, withdrawal, erasure"),
    HotQuery("a company's enrollment in one mission", ENROLLMENTS, ("company_id", "mission_id"), runs="per signup"),
    HotQuery("a company's signups (erasure)", SIGNUPS, ("company_id",), runs="per erasure"),
    *(HotQuery(f"stale outbox entries of {c}", c, (), f"{OUTBOX}.at", runs="per scan") for c in (COMPANIES, ENROLLMENTS, SIGNUPS)),
]

APPLIED_KEPT = 1000
"""Event ids a document remembers for deduplication: a replay older than that many later
events of the same company is caught by the version or status in the update's filter."""


def _now() -> datetime:
    return datetime.now(UTC)


def _push_applied(event_id: str, outbox: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``$push`` that records the applied event (the latest ones only) and appends its pending events, in order."""
    return {APPLIED: {"$each": [event_id], "$slice": -APPLIED_KEPT}, **({OUTBOX: {"$each": outbox}} if outbox else {})}


OWNER_KEYS = {
    COMPANIES: lambda doc: str(doc["_id"]),
    ENROLLMENTS: lambda doc: str(doc["company_id"]),
    SIGNUPS: lambda doc: str(doc["company_id"]),
}
"""Every document with an outbox belongs to one company: the partition key of its writer."""


MISSION_CACHE_S = 2.0


@dataclass
class RegistrationStore(TouchedDocuments):
    db: AsyncDatabase[dict[str, Any]]
    _mission_cache: dict[str, tuple[float, Mission]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------ missions

    async def save_mission(self, mission: Mission) -> None:
        await self.db[MISSIONS].replace_one(
            {"_id": mission.mission_id},
            {"_id": mission.mission_id, "mission": mission.model_dump(mode="json"), "updated_at": _now()},
            upsert=True,
        )
        self._mission_cache[mission.mission_id] = (time.monotonic(), mission)

    async def missions(self, ids: list[str]) -> Mapping[str, Mission]:
        """The catalogue entries named, from a cache at most ``MISSION_CACHE_S`` old.

        Every signup reads its missions; they change a few times per edition. Another
        instance's catalogue change reaches this one within the cache's age.
        """
        now = time.monotonic()
        found: dict[str, Mission] = {}
        for mission_id in ids:
            cached = self._mission_cache.get(mission_id)
            if cached is not None and now - cached[0] < MISSION_CACHE_S:
                found[mission_id] = cached[1]
        missing = [i for i in ids if i not in found]
        if missing:
            for doc in await self.db[MISSIONS].find({"_id": {"$in": missing}}).to_list():
                mission = Mission.model_validate_json(_json(doc["mission"]))
                self._mission_cache[doc["_id"]] = (now, mission)
                found[doc["_id"]] = mission
        return found

    # ------------------------------------------------------------ signup decisions

    async def record_decision(self, signup_id: str, decision: dict[str, Any], outbox: list[dict[str, Any]]) -> bool:
        """Insert the decision once; False when it was already recorded (a replay)."""
        try:
            await self.db[SIGNUPS].insert_one({"_id": signup_id, **decision, OUTBOX: outbox, "decided_at": _now()})
        except DuplicateKeyError:
            self.touch(SIGNUPS, signup_id)
            return False
        self.touch(SIGNUPS, signup_id, written=outbox)
        return True

    async def decision(self, signup_id: str) -> dict[str, Any] | None:
        return await self.db[SIGNUPS].find_one({"_id": signup_id})

    async def record_override(self, signup_id: str, override: dict[str, Any]) -> None:
        """Who overrode the decision and why; once per operator event."""
        await self._guarded_update(SIGNUPS, signup_id, {"overrides.event_id": {"$ne": override["event_id"]}}, {"$push": {"overrides": override}})

    async def scrub_decisions(self, company_id: str) -> int:
        result = await self.db[SIGNUPS].update_many({"company_id": company_id}, {"$unset": {"applicant": ""}, "$set": {"erased": True}})
        return result.modified_count

    # ------------------------------------------------------------ companies

    async def company(self, company_id: str) -> dict[str, Any] | None:
        return await self.db[COMPANIES].find_one({"_id": company_id})

    async def create_company(self, doc: dict[str, Any], event_id: str, outbox: list[dict[str, Any]]) -> bool:
        """False when a concurrent instance created it first; the caller re-reads and updates."""
        try:
            await self.db[COMPANIES].insert_one({**doc, "version": 1, APPLIED: [event_id], OUTBOX: outbox, "created_at": _now(), "updated_at": _now()})
        except DuplicateKeyError:
            self.touch(COMPANIES, doc["_id"])
            return False
        self.touch(COMPANIES, doc["_id"], written=outbox)
        return True

    async def update_company(
        self, company_id: str, version: int, event_id: str, changes: dict[str, Any], outbox: list[dict[str, Any]], unset: list[str] = ()
    ) -> bool:
        """Optimistic update: applies only to the version read and only once per event."""
        update: dict[str, Any] = {
            "$set": {**changes, "updated_at": _now()},
            "$inc": {"version": 1},
            "$push": _push_applied(event_id, outbox),
        }
        if unset:
            update["$unset"] = {field: "" for field in unset}
        changed = await self._guarded_update(COMPANIES, company_id, {"version": version, APPLIED: {"$ne": event_id}}, update)
        self.touch(COMPANIES, company_id)
        return changed

    # ------------------------------------------------------------ enrollments

    async def enrollments_of(self, company_id: str, mission_id: str | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"company_id": company_id}
        if mission_id is not None:
            query["mission_id"] = mission_id
        return await self.db[ENROLLMENTS].find(query).to_list()

    async def confirm_enrollment(self, doc: dict[str, Any], event_id: str, outbox: list[dict[str, Any]]) -> bool:
        """Create or re-confirm; True only when this call changed the status to confirmed."""
        try:
            await self.db[ENROLLMENTS].insert_one({**doc, "status": "confirmed", APPLIED: [event_id], OUTBOX: outbox, "updated_at": _now()})
            self.touch(ENROLLMENTS, doc["_id"], written=outbox)
            return True
        except DuplicateKeyError:
            pass
        changed = await self._guarded_update(
            ENROLLMENTS,
            doc["_id"],
            {"status": {"$ne": "confirmed"}, APPLIED: {"$ne": event_id}},
            {"$set": {**doc, "status": "confirmed", "updated_at": _now()}, "$push": _push_applied(event_id, outbox)},
        )
        self.touch(ENROLLMENTS, doc["_id"])
        return changed

    async def cancel_enrollment(self, enrollment_id: str, event_id: str, changes: dict[str, Any], outbox: list[dict[str, Any]]) -> bool:
        changed = await self._guarded_update(
            ENROLLMENTS,
            enrollment_id,
            {"status": "confirmed", APPLIED: {"$ne": event_id}},
            {"$set": {**changes, "status": "cancelled", "updated_at": _now()}, "$push": _push_applied(event_id, outbox)},
        )
        self.touch(ENROLLMENTS, enrollment_id)
        return changed

    async def _guarded_update(self, collection: str, doc_id: Any, condition: dict[str, Any], update: dict[str, Any]) -> bool:
        """Apply ``update`` only while ``condition`` holds, in one atomic single-document write.

        The condition is checked by the database in the same operation, so two writers that
        overlap (a Kafka rebalance) cannot both pass it.
        """
        result = await self.db[collection].update_one({"_id": doc_id, **condition}, update)
        return result.matched_count > 0


def _json(value: Any) -> str:
    return json.dumps(value)
