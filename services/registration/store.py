"""Registration's MongoDB documents: the mission catalogue, and its aggregates (signup
decisions, companies, enrollments), each loaded and saved whole.

Every save is one conditional single-document write that carries the aggregate's events
in its outbox (shared/aggregate_store.py). Concurrent duplicates meet on unique keys
(deterministic ``_id``s and unique indexes), and the loser loads and decides again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter
from pymongo.asynchronous.database import AsyncDatabase

from services.registration.domain.aggregates import Company, Enrollment, Override, SignupDecision
from services.registration.domain.sessions import Invitee, Session
from shared.aggregate import Aggregate
from shared.aggregate_store import ABSENT, AggregateCollection
from shared.contracts.missions import Mission
from shared.contracts.registration import Applicant, CompanyProfile, Contact, ForeignApplicant, LombardApplicant, Violation
from shared.contracts.sessions import OrientationSession
from shared.mongo import HotQuery, IndexSpec
from shared.outbox import OUTBOX, TouchedDocuments

A = TypeVar("A", bound=Aggregate)

MISSIONS = "missions"
COMPANIES = "companies"
ENROLLMENTS = "enrollments"
SIGNUPS = "signups"
SESSIONS = "sessions"

INDEXES = [
    IndexSpec(COMPANIES, [("natural_key", 1)], unique=True, name="one_company_per_identity"),
    IndexSpec(ENROLLMENTS, [("company_id", 1), ("mission_id", 1)], unique=True, name="one_enrollment_per_company_and_mission"),
    IndexSpec(ENROLLMENTS, [("mission_id", 1), ("status", 1)]),
    IndexSpec(SIGNUPS, [("company_id", 1)]),
    IndexSpec(SESSIONS, [("mission_id", 1), ("start", 1)]),
    IndexSpec(SESSIONS, [("country", 1), ("start", 1)]),
    *(IndexSpec(collection, [(f"{OUTBOX}.at", 1)], name="stale_outbox") for collection in (COMPANIES, ENROLLMENTS, SIGNUPS, SESSIONS)),
]

HOT_QUERIES = [
    HotQuery("company by id", COMPANIES, ("_id",), runs="per signup"),
    HotQuery("signup decision by id", SIGNUPS, ("_id",), runs="per signup"),
    HotQuery("missions by id", MISSIONS, ("_id",), runs="per signup"),
    HotQuery("a company's enrollments", ENROLLMENTS, ("company_id",), runs="per signup, withdrawal, erasure"),
    HotQuery("a company's enrollment in one mission", ENROLLMENTS, ("company_id", "mission_id"), runs="per signup"),
    HotQuery("a company's signups (erasure)", SIGNUPS, ("company_id",), runs="per erasure"),
    HotQuery("a mission's coming sessions", SESSIONS, ("mission_id",), "start", runs="per enrollment"),
    HotQuery("a market's coming sessions", SESSIONS, ("country",), "start", runs="per enrollment"),
    *(
        HotQuery(f"stale outbox entries of {c}", c, (), f"{OUTBOX}.at", runs="per scan")
        for c in (COMPANIES, ENROLLMENTS, SIGNUPS, SESSIONS)
    ),
]

OWNER_KEYS = {
    COMPANIES: lambda doc: str(doc["_id"]),
    ENROLLMENTS: lambda doc: str(doc["company_id"]),
    SIGNUPS: lambda doc: str(doc["company_id"]),
    SESSIONS: lambda doc: str(doc["_id"]),
}
"""Every document with an outbox belongs to one company, or is a session: the partition key of its writer."""


MISSION_CACHE_S = 2.0


class RegistrationStore(TouchedDocuments):
    """Loads and saves registration's aggregates whole; keeps the mission catalogue."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.db = db
        self.decisions: AggregateCollection[SignupDecision] = self.aggregates(SIGNUPS, decision_document, decision_from)
        self.companies: AggregateCollection[Company] = self.aggregates(COMPANIES, company_document, company_from)
        self.enrollments: AggregateCollection[Enrollment] = self.aggregates(ENROLLMENTS, enrollment_document, enrollment_from)
        self.sessions: AggregateCollection[Session] = self.aggregates(SESSIONS, session_document, session_from)
        self._mission_cache: dict[str, tuple[float, Mission]] = {}

    def aggregates(
        self, name: str, to_document: Callable[[A], dict[str, Any]], from_document: Callable[[dict[str, Any]], A]
    ) -> AggregateCollection[A]:
        return AggregateCollection(self.db, name, to_document=to_document, from_document=from_document, touched=self)

    # ------------------------------------------------------------ missions

    async def save_mission(self, mission: Mission) -> None:
        await self.db[MISSIONS].replace_one(
            {"_id": mission.mission_id},
            {"_id": mission.mission_id, "mission": mission.model_dump(mode="json"), "updated_at": datetime.now(UTC)},
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
                mission = Mission.model_validate_json(json.dumps(doc["mission"]))
                self._mission_cache[doc["_id"]] = (now, mission)
                found[doc["_id"]] = mission
        return found

    # ------------------------------------------------------------ queries and erasure

    async def figures(self) -> dict[str, Any]:
        """What tools outside the service may know of registration (``GET /views/figures``)."""
        outcomes = {o: await self.db[SIGNUPS].count_documents({"outcome": o}) for o in ("accepted", "partial", "rejected")}
        return {
            "signups": sum(outcomes.values()),
            "outcomes": outcomes,
            "companies": await self.db[COMPANIES].count_documents({"status": {"$ne": "erased"}}),
            "enrollments_confirmed": await self.db[ENROLLMENTS].count_documents({"status": "confirmed"}),
            "sessions": await self._session_figures(),
        }

    async def _session_figures(self) -> dict[str, int]:
        figures = {"planned": 0, "invited": 0, "seats": 0, "waiting": 0, "attendance_recorded": 0, "attended": 0}
        projection = {"invitees": 1, "seats": 1, "waiting": 1, "attendance": 1}
        async for doc in self.db[SESSIONS].find({}, projection):
            attendance = doc.get("attendance") or {}
            figures["planned"] += 1
            figures["invited"] += len(doc.get("invitees") or {})
            figures["seats"] += len(doc.get("seats") or [])
            figures["waiting"] += len(doc.get("waiting") or [])
            figures["attendance_recorded"] += len(attendance)
            figures["attended"] += sum(1 for came in attendance.values() if came)
        return figures

    async def enrollments_of(self, company_id: str, mission_id: str | None = None) -> list[Enrollment]:
        query: dict[str, Any] = {"company_id": company_id}
        if mission_id is not None:
            query["mission_id"] = mission_id
        return await self.enrollments.find(query)

    async def decisions_of(self, company_id: str) -> list[SignupDecision]:
        return await self.decisions.find({"company_id": company_id})

    async def missions_to(self, country: str) -> list[Mission]:
        docs = await self.db[MISSIONS].find({"mission.country": country}).to_list()
        return [Mission.model_validate_json(json.dumps(doc["mission"])) for doc in docs]

    async def confirmed_enrollments(self, mission_ids: list[str], company_ids: list[str] | None = None) -> list[Enrollment]:
        query: dict[str, Any] = {"mission_id": {"$in": mission_ids}, "status": "confirmed"}
        if company_ids is not None:
            query["company_id"] = {"$in": company_ids}
        return await self.enrollments.find(query)

    async def companies_by_id(self, ids: list[str]) -> list[Company]:
        return await self.companies.find({"_id": {"$in": ids}})

    async def coming_sessions(self, mission: Mission, after: datetime) -> list[str]:
        """The sessions still to come that a company enrolling in ``mission`` should be invited to."""
        query = {"$or": [{"mission_id": mission.mission_id}, {"country": mission.country}], "start": {"$gt": after}}
        return [doc["_id"] async for doc in self.db[SESSIONS].find(query, {"_id": 1})]


# ---------------------------------------------------------------- documents


APPLICANT: TypeAdapter[LombardApplicant | ForeignApplicant] = TypeAdapter(Applicant)


def _json_model(model: Any, value: Any) -> Any:
    """Stored JSON back into a strict model: strict validation accepts ISO times only from JSON."""
    return model.model_validate_json(json.dumps(value, default=str))


def decision_document(d: SignupDecision) -> dict[str, Any]:
    return {
        "kind": d.kind,
        "company_id": d.company_id,
        "role": d.role,
        "outcome": d.outcome,
        "violations": [v.model_dump(mode="json") for v in d.violations],
        "eligible_missions": d.eligible_missions,
        "decided_by": d.decided_by,
        "applicant": d.applicant.model_dump(mode="json") if d.applicant is not None else None,
        "overrides": [o.as_dict() for o in d.overrides] if d.overrides else ABSENT,
        "erased": True if d.erased else ABSENT,
        "signed_at": d.signed_at or ABSENT,
    }


def decision_from(doc: dict[str, Any]) -> SignupDecision:
    applicant = doc.get("applicant")
    return SignupDecision(
        id=doc["_id"],
        kind=doc["kind"],
        company_id=doc["company_id"],
        role=doc["role"],
        outcome=doc["outcome"],
        violations=[_json_model(Violation, v) for v in doc.get("violations", [])],
        eligible_missions=list(doc.get("eligible_missions", [])),
        decided_by=doc.get("decided_by", ""),
        applicant=APPLICANT.validate_json(json.dumps(applicant, default=str)) if applicant else None,
        overrides=[_override(o) for o in doc.get("overrides", [])],
        erased=bool(doc.get("erased")),
        signed_at=doc.get("signed_at"),
    )


def company_document(c: Company) -> dict[str, Any]:
    return {
        "natural_key": c.natural_key,
        "status": c.status,
        "profile": c.profile.model_dump(mode="json") if c.profile is not None else c.statistics,
        "contact": c.contact.model_dump(mode="json") if c.contact is not None else ABSENT,
        "erased_at": c.erased_at or ABSENT,
        "pending_erasure": c.pending_erasure or ABSENT,
        "external_ids": c.external_ids or ABSENT,
    }


def company_from(doc: dict[str, Any]) -> Company:
    erased = doc.get("status") == "erased"
    profile, contact = doc.get("profile"), doc.get("contact")
    return Company(
        id=doc["_id"],
        natural_key=doc["natural_key"],
        status="erased" if erased else "active",
        profile=_json_model(CompanyProfile, profile) if profile and not erased else None,
        contact=_json_model(Contact, contact) if contact else None,
        statistics=profile if erased else None,
        erased_at=doc.get("erased_at"),
        pending_erasure=doc.get("pending_erasure"),
        external_ids=dict(doc.get("external_ids") or {}),
    )


def enrollment_document(e: Enrollment) -> dict[str, Any]:
    return {
        "company_id": e.company_id,
        "mission_id": e.mission_id,
        "role": e.role,
        "status": e.status,
        "override": e.override.as_dict() if e.override is not None else None,
        "changed_at": e.changed_at or ABSENT,
        "external_ids": e.external_ids or ABSENT,
    }


def enrollment_from(doc: dict[str, Any]) -> Enrollment:
    override = doc.get("override")
    return Enrollment(
        id=doc["_id"],
        company_id=doc["company_id"],
        mission_id=doc["mission_id"],
        role=doc["role"],
        status=doc.get("status", "confirmed"),
        override=_override(override) if override else None,
        changed_at=doc.get("changed_at"),
        external_ids=dict(doc.get("external_ids") or {}),
    )


def _override(doc: dict[str, Any]) -> Override:
    return Override(
        action=doc["action"],
        operator=doc["operator"],
        reason=doc["reason"],
        at=doc["at"],
        event_id=doc["event_id"],
        signup_id=doc.get("signup_id"),
    )


def session_document(s: Session) -> dict[str, Any]:
    return {
        "definition": s.definition.model_dump(mode="json"),
        "mission_id": s.definition.mission_id,
        "country": s.definition.country,
        "start": s.definition.start,
        "sequence": s.sequence,
        "planned_at": s.planned_at or ABSENT,
        "invitees": {cid: {"missions": list(i.missions), "required_by": list(i.required_by)} for cid, i in s.invitees.items()},
        "seats": s.seats,
        "waiting": s.waiting,
        "attendance": s.attendance,
    }


def session_from(doc: dict[str, Any]) -> Session:
    return Session(
        id=doc["_id"],
        definition=_json_model(OrientationSession, doc["definition"]),
        sequence=doc.get("sequence", 0),
        planned_at=doc.get("planned_at"),
        invitees={cid: Invitee(tuple(i["missions"]), tuple(i.get("required_by", ()))) for cid, i in doc.get("invitees", {}).items()},
        seats=list(doc.get("seats", [])),
        waiting=list(doc.get("waiting", [])),
        attendance=dict(doc.get("attendance", {})),
    )
