"""Notifications' MongoDB documents: read models, deliveries, and erasure markers.

Read models are written by one consumer each (contacts by the contacts topic's consumer
of that company's partition, companies and meetings by the registration and matching
consumers of their key) and keep the time of the event they reflect, so an older record
arriving late never overwrites a newer one.

Session invitees (domain/sessions.py) are written by the registration consumer of the
company's key only, so a whole-document replace is safe.

Deliveries are aggregates (domain/delivery.py), one document per notification (``_id`` =
notification id: kind, source event, recipient) with its attempts, its state and the
outbox of its outcome events, loaded and saved whole by the holder of the notification's
timer lease. Documents written before attempts moved into them keep their attempts in
``delivery_attempts`` (``_id`` = ``<notification id>#<n>``), read when such a delivery loads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notifications.domain.delivery import Attempt, Delivery
from services.notifications.domain.sessions import Announcement, Invitee
from shared.aggregate import Aggregate
from shared.aggregate_store import ABSENT, AggregateCollection
from shared.contracts.sessions import OrientationSession
from shared.mongo import HotQuery, IndexSpec
from shared.outbox import OUTBOX, TouchedDocuments
from shared.timers import timer_hot_queries, timer_indexes

A = TypeVar("A", bound=Aggregate)

CONTACTS = "contacts"
COMPANIES = "companies"
MISSIONS = "missions"
MEETINGS = "meetings"
INVITEES = "session_invitees"
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
        for c in (CONTACTS, COMPANIES, MISSIONS, MEETINGS, INVITEES, ERASURES, DELIVERIES)
    ),
    HotQuery(f"{ATTEMPTS} by id", ATTEMPTS, ("_id",), runs="per delivery stored before attempts moved into it, when it loads"),
    HotQuery("a company's deliveries (erasure)", DELIVERIES, ("company_id",), runs="per erasure"),
    HotQuery("a company's delivery attempts (erasure)", ATTEMPTS, ("company_id",), runs="per erasure"),
    HotQuery("stale outbox entries of deliveries", DELIVERIES, (), f"{OUTBOX}.at", runs="per scan"),
]


def attempt_id(notification_id: str, n: int) -> str:
    return f"{notification_id}#{n}"


COMPANY_FIELDS = ("company_id", "company_name", "role", "country", "timezone", "preferred_language", "external_ids")
"""What notifications keeps of a company's profile: what its e-mails and outcome events name."""


def delivery_document(delivery: Delivery) -> dict[str, Any]:
    return {
        "kind": delivery.kind,
        "company_id": delivery.company_id,
        "timer_id": delivery.timer_id,
        "source_event_id": str(delivery.source_event_id),
        "correlation_id": str(delivery.correlation_id),
        "mission_id": delivery.mission_id,
        "meeting_id": delivery.meeting_id,
        "state": delivery.state,
        "attempts": len(delivery.attempts),
        "attempt_log": [dataclasses.asdict(a) for a in delivery.attempts],
        "language": delivery.language,
        "recipient": delivery.recipient if delivery.recipient is not None and not delivery.erased else ABSENT,
        "sent_at": delivery.sent_at if delivery.sent_at is not None else ABSENT,
        "reason": delivery.reason if delivery.reason is not None else ABSENT,
        "detail": delivery.detail if delivery.detail is not None else ABSENT,
        "last_error": delivery.last_error if delivery.last_error is not None else ABSENT,
        "erased": delivery.erased or ABSENT,
        "external_ids": delivery.external_ids or ABSENT,
        "meeting_external_ids": delivery.meeting_external_ids or ABSENT,
    }


def delivery_from(doc: dict[str, Any]) -> Delivery:
    source = UUID(doc["source_event_id"])
    return Delivery(
        id=doc["_id"],
        kind=doc["kind"],
        company_id=doc["company_id"],
        timer_id=doc.get("timer_id") or doc["_id"],
        source_event_id=source,
        correlation_id=UUID(doc["correlation_id"]) if doc.get("correlation_id") else source,
        mission_id=doc.get("mission_id"),
        meeting_id=doc.get("meeting_id"),
        state=doc.get("state") or "planned",
        attempts=[_attempt(a) for a in doc.get("attempt_log") or []],
        language=doc.get("language"),
        recipient=doc.get("recipient"),
        sent_at=_utc_or_none(doc.get("sent_at")),
        reason=doc.get("reason"),
        detail=doc.get("detail"),
        last_error=doc.get("last_error"),
        erased=bool(doc.get("erased")),
        external_ids=dict(doc.get("external_ids") or {}),
        meeting_external_ids=dict(doc.get("meeting_external_ids") or {}),
    )


def _attempt(doc: dict[str, Any]) -> Attempt:
    """From the embedded form, or from a legacy ``delivery_attempts`` document."""
    operator = doc.get("operator") or doc.get("resolved_by_operator")
    resolved_by = doc.get("resolved_by")
    return Attempt(
        n=int(doc["n"]),
        state=doc["state"],
        message_id=doc.get("message_id") or "",
        started_at=_utc_or_none(doc.get("started_at")) or datetime.min.replace(tzinfo=UTC),
        finished_at=_utc_or_none(doc.get("finished_at")),
        code=doc.get("code"),
        detail=doc.get("detail") or "",
        resolved_by="operator" if operator else resolved_by,
        operator=operator,
    )


def invitee_key(session_id: str, company_id: str) -> str:
    return f"{session_id}|{company_id}"


def _as_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _as_instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


ANNOUNCED_TIMES = ("start", "end", "previous_start", "previous_end")


def invitee_document(invitee: Invitee) -> dict[str, Any]:
    """Times as ISO text: exact to the microsecond, which a BSON date is not."""
    announced = dataclasses.asdict(invitee.announced) if invitee.announced is not None else None
    return {
        "_id": invitee_key(invitee.session.session_id, invitee.company_id),
        "company_id": invitee.company_id,
        "session": invitee.session.model_dump(mode="json"),
        "sequence": invitee.sequence,
        "announced": {k: _as_text(v) for k, v in announced.items()} if announced is not None else None,
        "seat": invitee.seat,
        "seat_event_id": invitee.seat_event_id,
        "seat_at": _as_text(invitee.seat_at),
    }


def invitee_from(doc: dict[str, Any]) -> Invitee:
    announced = doc.get("announced")
    return Invitee(
        company_id=doc["company_id"],
        session=OrientationSession.model_validate(doc["session"], strict=False),
        sequence=int(doc["sequence"]),
        announced=Announcement(**{k: _as_instant(v) if k in ANNOUNCED_TIMES else v for k, v in announced.items()}) if announced else None,
        seat=doc.get("seat") or "none",
        seat_event_id=doc.get("seat_event_id"),
        seat_at=_as_instant(doc.get("seat_at")),
    )


def _utc_or_none(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


class NotificationStore(TouchedDocuments):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self.deliveries: AggregateCollection[Delivery] = self.aggregates(DELIVERIES, delivery_document, delivery_from)

    def aggregates(
        self, name: str, to_document: Callable[[A], dict[str, Any]], from_document: Callable[[dict[str, Any]], A]
    ) -> AggregateCollection[A]:
        return AggregateCollection(self.db, name, to_document=to_document, from_document=from_document, touched=self)

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
        keep = {k: profile.get(k) for k in COMPANY_FIELDS}
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

    async def invitee(self, session_id: str, company_id: str) -> Invitee | None:
        doc = await self.db[INVITEES].find_one({"_id": invitee_key(session_id, company_id)})
        return invitee_from(doc) if doc else None

    async def save_invitee(self, invitee: Invitee) -> None:
        doc = invitee_document(invitee)
        await self.db[INVITEES].replace_one({"_id": doc["_id"]}, doc, upsert=True)

    # ------------------------------------------------------------ erasure

    async def erased_at(self, company_id: str) -> datetime | None:
        doc = await self.db[ERASURES].find_one({"_id": company_id})
        return doc["at"].astimezone(UTC) if doc else None

    async def erased_and_gone(self, company_id: str) -> bool:
        """Erased, and not signed up again since: no contact was recorded after the erasure.
        A company that comes back is a new customer: its mail goes out as anyone's."""
        erased = await self.erased_at(company_id)
        if erased is None:
            return False
        contact = await self.contact(company_id)
        recorded = contact.get("as_of") if contact else None
        return recorded is None or recorded.astimezone(UTC) <= erased

    async def erase(self, company_id: str, at: datetime) -> dict[str, int]:
        """Forget the company's contact and name; keep only counts in the delivery log."""
        await self.db[ERASURES].update_one({"_id": company_id}, {"$max": {"at": at}}, upsert=True)
        await self.db[CONTACTS].delete_one({"_id": company_id})
        await self.db[COMPANIES].delete_one({"_id": company_id})
        scrub = {"$unset": {"recipient": "", "detail": "", "last_error": ""}, "$set": {"erased": True}}
        # A new version: a delivery loaded before the erasure cannot save its address back. Server replies
        # are stored without addresses, but they may quote the person in other ways: they go too.
        deliveries = await self.db[DELIVERIES].update_many({"company_id": company_id}, {**scrub, "$inc": {"version": 1}})
        await self.db[DELIVERIES].update_many(
            {"company_id": company_id, "attempt_log.0": {"$exists": True}}, {"$set": {"attempt_log.$[].detail": ""}}
        )
        attempts = await self.db[ATTEMPTS].update_many({"company_id": company_id}, scrub)
        return {"deliveries": deliveries.matched_count, "attempts": attempts.matched_count}

    # ------------------------------------------------------------ deliveries

    async def figures(self) -> dict[str, Any]:
        """What tools outside the service may know of notifications (``GET /views/figures``)."""
        states = ("planned", "sending", "retrying", "unconfirmed", "sent", "failed", "superseded", "dropped")
        return {"deliveries": {state: await self.db[DELIVERIES].count_documents({"state": state}) for state in states}}

    async def delivery(self, notification_id: str) -> Delivery | None:
        delivery = await self.deliveries.get(notification_id)
        if delivery is not None and delivery.version == 0 and not delivery.attempts:
            delivery.attempts = await self._legacy_attempts(notification_id)
        return delivery

    async def _legacy_attempts(self, notification_id: str) -> list[Attempt]:
        """Attempts in order, found by id one after the other (no scan)."""
        found: list[Attempt] = []
        while True:
            doc = await self.db[ATTEMPTS].find_one({"_id": attempt_id(notification_id, len(found) + 1)})
            if doc is None:
                return found
            found.append(_attempt(doc))
