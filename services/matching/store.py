"""Matching's MongoDB documents.

* ``missions``: the catalogue read model, written by the catalogue subscriber.
* ``companies``: profile read model, written by the subscriber of company events.
* ``mission_states``: one document per mission holding everything its single writer owns
  (participants, requests, operators' orders, the agenda) plus its outbox; one read and
  one write per event, and a state change and its events are stored together.
* ``bookings``: one document per company and five minutes of a meeting, whose ``_id``
  makes a second booking of the same company at an overlapping time impossible, across
  missions and instances: the database, not the code, forbids double booking.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.matching.domain.mission import Booking, Mission, Order, Participant, Request, ScheduleOptions
from services.matching.domain.outcomes import figures
from services.matching.domain.planning import Placed
from shared.aggregate import Aggregate
from shared.aggregate_store import ABSENT, AggregateCollection
from shared.contracts.matching import AgendaSummary
from shared.contracts.missions import Mission as MissionDefinition
from shared.contracts.registration import CompanyProfile
from shared.messaging import Contention, PermanentFailure
from shared.mongo import HotQuery, IndexSpec
from shared.outbox import OUTBOX, TouchedDocuments

MISSIONS = "missions"
COMPANIES = "companies"
MISSION_STATES = "mission_states"
BOOKINGS = "bookings"
A = TypeVar("A", bound=Aggregate)

INDEXES = [
    IndexSpec(BOOKINGS, [("mission_id", 1)]),
    IndexSpec(BOOKINGS, [("company_id", 1)]),
    IndexSpec(MISSION_STATES, [("awaiting_profile", 1)], name="missions_awaiting_profile"),
    IndexSpec(MISSION_STATES, [(f"{OUTBOX}.at", 1)], name="stale_outbox"),
]

HOT_QUERIES = [
    HotQuery("mission state by id (and version)", MISSION_STATES, ("_id",), runs="per mission event"),
    HotQuery("missions waiting for a company's profile", MISSION_STATES, ("awaiting_profile",), runs="per company event"),
    HotQuery("profiles by id", COMPANIES, ("_id",), runs="per plan"),
    HotQuery("mission by id", MISSIONS, ("_id",), runs="per mission event"),
    HotQuery("bookings of companies", BOOKINGS, ("company_id",), runs="per plan"),
    HotQuery("bookings of a mission", BOOKINGS, ("mission_id",), runs="per plan"),
    HotQuery("stale outbox entries of mission states", MISSION_STATES, (), f"{OUTBOX}.at", runs="per scan"),
]

APPLIED_KEPT = 2000
"""Event ids a mission state remembers for deduplication; older replays meet the version check."""

OWNER_KEYS = {MISSION_STATES: lambda doc: str(doc["_id"])}
"""Every outbox belongs to a mission document: its id is the partition key of its writer."""

DUPLICATE_KEY = 11000

MAX_STATE_BYTES = 16 * 2**20 - 64 * 2**10
"""MongoDB's document limit (16 MiB), less room for the server's own overhead."""


class MissionStateTooLarge(PermanentFailure):
    """A mission whose state no longer fits one document: an operator must split it."""


def _now() -> datetime:
    return datetime.now(UTC)


BOOKING_QUANTUM = timedelta(minutes=5)
"""Meeting lengths are whole multiples of five minutes, so every meeting covers whole quanta."""


def booking_id(company_id: str, instant: datetime) -> str:
    return f"{company_id}@{instant.astimezone(UTC).strftime('%Y-%m-%dT%H:%MZ')}"


def _quanta(start: datetime, end: datetime) -> list[datetime]:
    """The five-minute steps a meeting covers, from the step its start falls in."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    step = epoch + ((start - epoch) // BOOKING_QUANTUM) * BOOKING_QUANTUM
    covered = []
    while step < end:
        covered.append(step)
        step += BOOKING_QUANTUM
    return covered


def booking_documents(booking: Booking) -> dict[str, dict[str, Any]]:
    """One document per five minutes the booking covers, so that any overlap (not only an
    equal start) collides on a unique ``_id``, whatever the grids."""
    fields = {
        "company_id": booking.company_id,
        "start": booking.start,
        "end": booking.end,
        "mission_id": booking.mission_id,
        "meeting_id": booking.meeting_id,
    }
    return {bid: {"_id": bid, **fields} for bid in (booking_id(booking.company_id, q) for q in _quanta(booking.start, booking.end))}


class MatchingStore(TouchedDocuments):
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self.missions: AggregateCollection[Mission] = self.aggregates(
            MISSION_STATES, mission_document, mission_from, applied_kept=APPLIED_KEPT, max_bytes=MAX_STATE_BYTES, too_large=_too_large
        )

    def aggregates(
        self, name: str, to_document: Callable[[A], dict[str, Any]], from_document: Callable[[dict[str, Any]], A], **options: Any
    ) -> AggregateCollection[A]:
        return AggregateCollection(self.db, name, to_document=to_document, from_document=from_document, touched=self, **options)

    # ------------------------------------------------------------ read models

    async def mission_figures(self) -> dict[str, dict[str, Any]]:
        return {mission.id: figures(mission) for mission in await self.missions.find({})}

    async def save_mission(self, mission: MissionDefinition) -> None:
        await self.db[MISSIONS].replace_one(
            {"_id": mission.mission_id},
            {"_id": mission.mission_id, "mission": mission.model_dump(mode="json"), "updated_at": _now()},
            upsert=True,
        )

    async def mission(self, mission_id: str) -> MissionDefinition | None:
        doc = await self.db[MISSIONS].find_one({"_id": mission_id})
        return MissionDefinition.model_validate_json(json.dumps(doc["mission"])) if doc else None

    async def save_profile(self, profile: CompanyProfile, event_time: datetime) -> None:
        """Newest profile wins; an older event replayed after a newer one changes nothing.

        One conditional upsert: when a newer profile is stored the filter matches nothing and
        the upsert's insert meets the existing ``_id``, which is the "older, ignore" answer.
        """
        with contextlib.suppress(DuplicateKeyError):
            await self.db[COMPANIES].replace_one(
                {"_id": profile.company_id, "$or": [{"as_of": {"$lt": event_time}}, {"as_of": None}]},
                {"_id": profile.company_id, "profile": profile.model_dump(mode="json"), "as_of": event_time},
                upsert=True,
            )

    async def forget_company(self, company_id: str, event_time: datetime) -> None:
        """Erasure: the profile goes, a marker stops a late replay of its registration from restoring it."""
        await self.db[COMPANIES].replace_one({"_id": company_id}, {"_id": company_id, "erased": True, "as_of": event_time}, upsert=True)

    async def missions_awaiting_profile(self, company_id: str) -> list[str]:
        """Missions whose last plan had to leave this company out for want of its profile."""
        return [d["_id"] for d in await self.db[MISSION_STATES].find({"awaiting_profile": company_id}, {"_id": 1}).to_list()]

    async def profiles(self, company_ids: list[str]) -> dict[str, CompanyProfile]:
        found = await self.db[COMPANIES].find({"_id": {"$in": company_ids}}).to_list()
        return {d["_id"]: CompanyProfile.model_validate_json(json.dumps(d["profile"])) for d in found if d.get("profile")}

    # ------------------------------------------------------------ the mission aggregate (single writer)

    async def mission_state(self, mission_id: str) -> Mission:
        return await self.missions.get(mission_id) or Mission(id=mission_id)

    # ------------------------------------------------------------ bookings

    async def bookings_elsewhere(self, company_ids: list[str], mission_id: str) -> list[Booking]:
        found = await self.db[BOOKINGS].find({"company_id": {"$in": company_ids}}).to_list()
        return list({(d["company_id"], d["meeting_id"]): _booking(d) for d in found if d["mission_id"] != mission_id}.values())

    async def reconcile_bookings(self, mission_id: str, wanted: list[Booking]) -> None:
        """Make the mission's bookings exactly ``wanted``: release the rest first, then reserve.

        A reservation that collides with another meeting's booking means someone else holds
        that company at that time (another mission's writer, or a second instance): retry
        later with fresh state instead of double booking.
        """
        current = {d["_id"]: d for d in await self.db[BOOKINGS].find({"mission_id": mission_id}).to_list()}
        desired = {bid: doc for booking in wanted for bid, doc in booking_documents(booking).items()}
        stale = [bid for bid, doc in current.items() if bid not in desired or doc["meeting_id"] != desired[bid]["meeting_id"]]
        if stale:
            await self.db[BOOKINGS].delete_many({"_id": {"$in": stale}})
        missing = [doc for bid, doc in desired.items() if bid not in current or bid in stale]
        if not missing:
            return
        try:
            await self.db[BOOKINGS].insert_many(missing, ordered=False)
        except BulkWriteError as error:
            clashes = [e for e in error.details.get("writeErrors", []) if e.get("code") == DUPLICATE_KEY]
            others = [e for e in error.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
            if others:
                raise
            held = await self.db[BOOKINGS].find({"_id": {"$in": [e["op"]["_id"] for e in clashes]}}).to_list()
            foreign = [d for d in held if d["meeting_id"] != desired[d["_id"]]["meeting_id"]]
            if foreign:
                raise Contention(f"{len(foreign)} booking(s) already held by other meetings, e.g. {foreign[0]['_id']}") from error


def _booking(doc: dict[str, Any]) -> Booking:
    return Booking(doc["company_id"], _utc(doc["start"]), _utc(doc["end"]), doc["mission_id"], doc["meeting_id"])


def _too_large(mission: Mission, size: int) -> Exception:
    return MissionStateTooLarge(
        f"mission {mission.id}: its state would take {size / 2**20:.1f} MiB, over the {MAX_STATE_BYTES / 2**20:.0f} MiB a "
        f"MongoDB document may hold ({len(mission.agenda)} meetings, {len(mission.participants)} participants); "
        "split the mission or lower its meetings per company"
    )


# ---------------------------------------------------------------- the mission document


def mission_document(m: Mission) -> dict[str, Any]:
    """The fields a plan writes exist from the first plan on; the others from their first input."""
    planned = m.agenda_version > 0
    return {
        "participants": {cid: _participant_document(p) for cid, p in m.participants.items()},
        "requests": [{k: v for k, v in vars(r).items() if v is not None} for r in m.requests],
        "orders": [vars(o) for o in m.orders],
        "scheduled": True if m.scheduled else ABSENT,
        "schedule_options": vars(m.schedule_options) if m.schedule_options is not None else ABSENT,
        "agenda": {mid: vars(p) for mid, p in m.agenda.items()} if planned else ABSENT,
        "agenda_version": m.agenda_version if planned else ABSENT,
        "summary": m.summary.model_dump(mode="json") if m.summary is not None else ABSENT,
        "awaiting_profile": m.awaiting_profile if planned else ABSENT,
        "proposal_hashes": m.proposal_hashes if planned else ABSENT,
        "followup_answers": m.followup_answers or ABSENT,
        "meeting_links": m.meeting_links or ABSENT,
        "orientation_required": True if m.orientation_required else ABSENT,
        "report_published": True if m.report_published else ABSENT,
    }


def mission_from(doc: dict[str, Any]) -> Mission:
    options, summary = doc.get("schedule_options"), doc.get("summary")
    return Mission(
        id=doc["_id"],
        participants={cid: _participant(p) for cid, p in (doc.get("participants") or {}).items()},
        requests=[Request(**r) for r in doc.get("requests") or []],
        orders=[Order(**o) for o in doc.get("orders") or []],
        scheduled=bool(doc.get("scheduled")),
        schedule_options=ScheduleOptions(**options) if options else None,
        agenda={mid: _placed(p) for mid, p in (doc.get("agenda") or {}).items()},
        agenda_version=doc.get("agenda_version", 0),
        summary=AgendaSummary.model_validate_json(json.dumps(summary)) if summary else None,
        awaiting_profile=list(doc.get("awaiting_profile") or []),
        proposal_hashes=dict(doc.get("proposal_hashes") or {}),
        followup_answers=dict(doc.get("followup_answers") or {}),
        meeting_links={mid: dict(ids) for mid, ids in (doc.get("meeting_links") or {}).items()},
        orientation_required=bool(doc.get("orientation_required")),
        report_published=bool(doc.get("report_published")),
    )


def _participant_document(p: Participant) -> dict[str, Any]:
    doc: dict[str, Any] = {"unavailable": [{"start": start, "end": end} for start, end in p.unavailable]}
    if p.status is not None:
        doc.update(role=p.role, status=p.status)
    if p.invited:
        doc["invited"] = True
    if p.oriented_in:
        doc["oriented_in"] = list(p.oriented_in)
    return doc


def _participant(doc: dict[str, Any]) -> Participant:
    return Participant(
        doc.get("role"),
        doc.get("status"),
        tuple((_utc(s["start"]), _utc(s["end"])) for s in doc.get("unavailable", [])),
        invited=bool(doc.get("invited")),
        oriented_in=tuple(doc.get("oriented_in") or ()),
    )


def _placed(doc: dict[str, Any]) -> Placed:
    return Placed(
        doc["meeting_id"],
        doc["lombard_id"],
        doc["foreign_id"],
        doc["slot_id"],
        _utc(doc["start"]),
        _utc(doc["end"]),
        doc["sequence"],
        doc["active"],
    )


def _utc(value: datetime) -> datetime:
    """Stored times come back aware from this store's client; naive ones (another client's) are UTC."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
