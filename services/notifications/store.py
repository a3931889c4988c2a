"""Notifications' MongoDB documents: read models, the delivery log, and erasure markers.

Read models are written by one consumer each (contacts by the contacts topic's consumer
of that company's partition, companies and meetings by the registration and matching
consumers of their key) and keep the time of the event they reflect, so an older record
arriving late never overwrites a newer one.

The delivery log: one ``deliveries`` document per notification (``_id`` = notification
id: kind, source event, recipient) with its state, attempt count and outbox; one
``delivery_attempts`` document per SMTP attempt (``_id`` = ``<notification id>#<n>``)
inserted BEFORE the attempt: that unique insert is the intent to send. Both are written
only by the holder of the notification's timer lease, so each has one writer at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.mongo import HotQuery, IndexSpec
from shared.outbox import OUTBOX
from shared.timers import timer_hot_queries, timer_indexes

CONTACTS = "contacts"
COMPANIES = "companies"
MISSIONS = "missions"
MEETINGS = "meetings"
ERASURES = "erasures"
DELIVERIES = "deliveries"
ATTEMPTS = "delivery_attempts"
TIMERS = "timers"

INDEXES = [
    *timer_indexes(TIMERS),
    IndexSpec(DELIVERIES, [("company_id", 1)]),
    IndexSpec(ATTEMPTS, [("company_id", 1)]),
    IndexSpec(DELIVERIES, [(f"{OUTBOX}.at", 1)], name="stale_outbox"),
]

HOT_QUERIES = [
    *timer_hot_queries(TIMERS),
    *(
        HotQuery(f"{c} by id", c, ("_id",), runs="per message or firing")
        for c in (CONTACTS, COMPANIES, MISSIONS, MEETINGS, ERASURES, DELIVERIES, ATTEMPTS)
    ),
    HotQuery("a company's deliveries (erasure)", DELIVERIES, ("company_id",), runs="per erasure"),
    HotQuery("a company's delivery attempts (erasure)", ATTEMPTS, ("company_id",), runs="per erasure"),
    HotQuery("stale outbox entries of deliveries", DELIVERIES, (), f"{OUTBOX}.at", runs="per scan"),
]


def attempt_id(notification_id: str, n: int) -> str:
    return f"{notification_id}#{n}"


class NotificationStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db

    # ------------------------------------------------------------ read models

    async def _save_if_newer(self, collection: str, key: str, doc: dict[str, Any], as_of: datetime) -> bool:
        """One conditional upsert: a newer stored version makes the insert meet its ``_id``."""
        try:
            await self.db[collection].replace_one(
                {"_id": key, "$or": [{"as_of": {"$lte": as_of}}, {"as_of": None}]}, {"_id": key, **doc, "as_of": as_of}, upsert=True
            )
        except DuplicateKeyError:
            return False
        return True

    async def save_contact(self, company_id: str, contact: dict[str, Any], as_of: datetime) -> bool:
        erased = await self.erased_at(company_id)
        if erased is not None and erased >= as_of:
            return False  # a record from before the erasure, delivered late
        return await self._save_if_newer(CONTACTS, company_id, contact, as_of)

    async def contact(self, company_id: str) -> dict[str, Any] | None:
        return await self.db[CONTACTS].find_one({"_id": company_id})

    async def delete_contact(self, company_id: str) -> None:
        await self.db[CONTACTS].delete_one({"_id": company_id})

    async def save_company(self, profile: dict[str, Any], as_of: datetime) -> bool:
        erased = await self.erased_at(profile["company_id"])
        if erased is not None and erased >= as_of:
            return False
        keep = {k: profile.get(k) for k in ("company_id", "company_name", "role", "country", "timezone", "preferred_language")}
        return await self._save_if_newer(COMPANIES, profile["company_id"], keep, as_of)

    async def company(self, company_id: str) -> dict[str, Any] | None:
        return await self.db[COMPANIES].find_one({"_id": company_id})

    async def save_mission(self, mission: dict[str, Any], as_of: datetime) -> bool:
        return await self._save_if_newer(MISSIONS, mission["mission_id"], mission, as_of)

    async def mission(self, mission_id: str | None) -> dict[str, Any] | None:
        return await self.db[MISSIONS].find_one({"_id": mission_id}) if mission_id else None

    async def meeting(self, meeting_id: str | None) -> dict[str, Any] | None:
        return await self.db[MEETINGS].find_one({"_id": meeting_id}) if meeting_id else None

    async def save_meeting(self, meeting_id: str, state: dict[str, Any]) -> None:
        await self.db[MEETINGS].replace_one({"_id": meeting_id}, {"_id": meeting_id, **state}, upsert=True)

    # ------------------------------------------------------------ erasure

    async def erased_at(self, company_id: str) -> datetime | None:
        doc = await self.db[ERASURES].find_one({"_id": company_id})
        return doc["at"].astimezone(UTC) if doc else None

    async def erase(self, company_id: str, at: datetime) -> dict[str, int]:
        """Forget the company's contact and name; keep only counts in the delivery log."""
        await self.db[ERASURES].update_one({"_id": company_id}, {"$max": {"at": at}}, upsert=True)
        await self.db[CONTACTS].delete_one({"_id": company_id})
        await self.db[COMPANIES].delete_one({"_id": company_id})
        scrub = {"$unset": {"recipient": ""}, "$set": {"erased": True}}
        deliveries = await self.db[DELIVERIES].update_many({"company_id": company_id}, scrub)
        attempts = await self.db[ATTEMPTS].update_many({"company_id": company_id}, scrub)
        return {"deliveries": deliveries.matched_count, "attempts": attempts.matched_count}

    # ------------------------------------------------------------ delivery log

    async def delivery(self, notification_id: str) -> dict[str, Any] | None:
        return await self.db[DELIVERIES].find_one({"_id": notification_id})

    async def attempts(self, notification_id: str) -> list[dict[str, Any]]:
        """Attempts in order, found by id one after the other (no scan)."""
        found: list[dict[str, Any]] = []
        while True:
            doc = await self.db[ATTEMPTS].find_one({"_id": attempt_id(notification_id, len(found) + 1)})
            if doc is None:
                return found
            found.append(doc)

    async def begin_attempt(self, notification_id: str, n: int, doc: dict[str, Any]) -> bool:
        """The intent to send, recorded before sending; False if attempt n was already begun."""
        try:
            await self.db[ATTEMPTS].insert_one(
                {"_id": attempt_id(notification_id, n), "notification_id": notification_id, "n": n, "state": "sending", **doc}
            )
        except DuplicateKeyError:
            return False
        return True

    async def finish_attempt(self, notification_id: str, n: int, outcome: dict[str, Any]) -> None:
        await self.db[ATTEMPTS].update_one({"_id": attempt_id(notification_id, n)}, {"$set": outcome})

    async def record(self, notification_id: str, fields: dict[str, Any], outbox: list[dict[str, Any]] = ()) -> None:
        """Create or update the delivery's summary, with the events it causes (one write)."""
        update: dict[str, Any] = {"$set": {**fields, "updated_at": datetime.now(UTC)}}
        if outbox:
            update["$push"] = {OUTBOX: {"$each": list(outbox)}}
        await self.db[DELIVERIES].update_one({"_id": notification_id}, update, upsert=True)
