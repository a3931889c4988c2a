"""What matching does with each event: update the mission's state, re-plan when needed, store, publish.

One writer per mission: every mission-scoped input reaches ``handle`` through the
matching command topic keyed by mission id. A command is applied once: its id is
recorded in the mission document together with the state it produced and the events it
caused, so a redelivery only completes the side effects (bookings, timers, publishing).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5
from zoneinfo import ZoneInfo

from services.matching.domain.planning import Change, MissionState, Placed, Plan, plan_agenda
from services.matching.domain.scoring import PairRules, ScoredPair, proposals_by_company
from services.matching.store import APPLIED, Booking, MatchingStore
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ParticipantProfileReady, ProfileReady
from shared.contracts.matching import (
    AgendaPublished,
    AgendaSummary,
    AvailabilityChanged,
    FollowUpAnswered,
    LocalTime,
    MatchesProposed,
    MatchList,
    Meeting,
    MeetingCancellation,
    MeetingCancelled,
    MeetingMove,
    MeetingRequestAnswered,
    MeetingRequested,
    MeetingRescheduled,
    MeetingScheduled,
    PairForbiddenByOperator,
    PairForcedByOperator,
    Proposal,
    ScheduleRequested,
)
from shared.contracts.missions import MissionPlanned
from shared.contracts.registration import (
    CompanyErased,
    CompanyProfile,
    CompanyRegistered,
    CompanyUpdated,
    EnrollmentCancelled,
    EnrollmentConfirmed,
)
from shared.contracts.topics import Topic
from shared.logging import get_logger
from shared.messaging import PermanentFailure
from shared.outbox import pending

log = get_logger("outgoing.matching")
SOURCE = "matching"
PROPOSALS_PER_COMPANY_FACTOR = 2
INCREMENTAL_TIME_LIMIT_S = 10.0

MissionCommand = (
    EnrollmentConfirmed
    | EnrollmentCancelled
    | MeetingRequested
    | MeetingRequestAnswered
    | FollowUpAnswered
    | PairForcedByOperator
    | PairForbiddenByOperator
    | ScheduleRequested
    | AvailabilityChanged
    | ParticipantProfileReady
    | MissionPlanned
)

FollowUpSync = Callable[[str, list[Change]], Awaitable[None]]
"""Schedules, moves or cancels a mission's follow-up timers after its agenda changed."""
ReplanRequest = Callable[[ParticipantProfileReady], Awaitable[None]]
"""Delivers a ParticipantProfileReady to the mission's writer."""


@dataclass
class MatchingConfig:
    video_base_url: str
    default_time_limit_s: float = 30.0


@dataclass
class Matching:
    store: MatchingStore
    config: MatchingConfig
    sync_followups: FollowUpSync | None = None
    request_replan: ReplanRequest | None = None

    # ------------------------------------------------------------ read models

    async def plan_mission(self, event: MissionPlanned) -> None:
        await self.store.save_mission(event.payload)

    async def record_company(self, event: CompanyRegistered | CompanyUpdated | CompanyErased) -> None:
        match event:
            case CompanyRegistered():
                await self.store.save_profile(event.payload, event.time)
            case CompanyUpdated():
                await self.store.save_profile(event.payload.profile, event.time)
            case CompanyErased():
                await self.store.forget_company(event.payload.company_id, event.time)
                return
        company_id = event.payload.company_id if isinstance(event, CompanyRegistered) else event.payload.profile.company_id
        for mission_id in await self.store.missions_awaiting_profile(company_id):
            await self._ask_replan(mission_id, company_id, event)

    async def _ask_replan(self, mission_id: str, company_id: str, cause: Envelope[Any]) -> None:
        """Derived from its cause, so a redelivered cause asks again under the same id."""
        if self.request_replan is not None:
            ready = ParticipantProfileReady.caused_by(
                cause, source=SOURCE, subject=mission_id, payload=ProfileReady(company_id=company_id, mission_id=mission_id), discriminator=company_id
            )
            await self.request_replan(ready)

    async def _chase_missing_profiles(self, doc: dict[str, Any], cause: Envelope[Any]) -> None:
        """Closes the race with ``record_company``: a profile stored while this writer was
        planning without it is noticed here, after the save, if not there."""
        waiting = doc.get("awaiting_profile") or []
        for company_id in await self.store.profiles(waiting) if waiting else {}:
            await self._ask_replan(doc["_id"], company_id, cause)

    # ------------------------------------------------------------ the mission's single writer

    async def handle(self, event: MissionCommand) -> None:
        mission_id = mission_of(event)
        doc = await self.store.mission_state(mission_id)
        if str(event.id) in doc.get(APPLIED, []):
            await self._complete_side_effects(doc, [], replay=True)
            return
        expected = doc["version"]
        replan = apply_input(doc, event)
        outbox: list[dict[str, Any]] = []
        changes: list[Change] = []
        bookings: list[Booking] | None = None
        if replan and doc.get("scheduled"):
            mission = await self.store.mission(mission_id)
            if mission is None:
                log.warning("mission not in the catalogue yet; planned when its definition arrives", mission_id=mission_id)
            else:
                changes, outbox, bookings = await self._replan(doc, event, mission)
        new = self.store.next_mission_state(doc, expected, str(event.id), outbox)
        if bookings is not None:
            await self.store.reconcile_bookings(mission_id, bookings)
        await self.store.save_mission_state(new, expected)
        await self._complete_side_effects(doc, changes)
        await self._chase_missing_profiles(doc, event)

    async def _replan(self, doc: dict[str, Any], event: MissionCommand, mission: Any) -> tuple[list[Change], list[dict[str, Any]], list[Booking]]:
        """The new agenda in ``doc``, its events, and the bookings it needs (not yet made)."""
        state = await self._mission_state(doc, mission)
        doc["awaiting_profile"] = sorted(cid for cid in enrolled_in(doc) if cid not in state.participants)
        options = doc.get("schedule_options", {})
        first_time = not doc.get("agenda")
        time_limit = options.get("time_limit_s", self.config.default_time_limit_s) if first_time or isinstance(event, ScheduleRequested) else INCREMENTAL_TIME_LIMIT_S
        # In a thread: the solver holds no lock, and the event loop must keep the consumer's heartbeats going.
        plan = await asyncio.to_thread(plan_agenda, state, time_limit_s=time_limit, fairness=options.get("fairness"))
        doc["agenda"] = {m.meeting_id: _placed_doc(m) for m in plan.agenda.values()}
        doc["agenda_version"] = doc.get("agenda_version", 0) + 1
        outbox = self._proposal_events(doc, event, plan, state)
        outbox += [self._meeting_event(event, change, state.participants, mission.mission_id) for change in plan.changes]
        summary = _summary(mission.mission_id, doc["agenda_version"], plan)
        doc["summary"] = summary.model_dump(mode="json")
        outbox.append(pending(Topic.MATCHING_EVENTS, AgendaPublished.caused_by(event, source=SOURCE, subject=mission.mission_id, payload=summary)))
        log.info(
            "agenda planned",
            mission_id=mission.mission_id,
            version=doc["agenda_version"],
            status=summary.status,
            meetings=summary.meetings,
            unscheduled=summary.unscheduled,
            total_breaks=summary.total_breaks,
            moved=summary.moved,
            changes=len(plan.changes),
            seconds=summary.seconds,
        )
        return plan.changes, outbox, _bookings(mission.mission_id, plan.agenda.values())

    async def _complete_side_effects(self, doc: dict[str, Any], changes: list[Change], replay: bool = False) -> None:
        """Idempotent follow-through of a stored decision; a redelivery re-does all of it,
        since it cannot know how far the first delivery got."""
        if replay:
            agenda = [_placed(m) for m in (doc.get("agenda") or {}).values()]
            await self.store.reconcile_bookings(doc["_id"], _bookings(doc["_id"], agenda))
            changes = [Change("scheduled" if p.active else "cancelled", p, None, "") for p in agenda]
        if self.sync_followups is not None and changes:
            await self.sync_followups(doc["_id"], changes)
        self.store.touch("mission_states", doc["_id"])

    async def _mission_state(self, doc: dict[str, Any], mission: Any) -> MissionState:
        enrolled = enrolled_in(doc)
        profiles = await self.store.profiles(enrolled)
        elsewhere: dict[str, list[tuple[datetime, datetime]]] = {}
        bookings = await self.store.bookings_elsewhere(enrolled, mission.mission_id)
        for booking in bookings:
            elsewhere.setdefault(booking.company_id, []).append((booking.start, booking.end))
        unavailable = {cid: tuple((_utc(s["start"]), _utc(s["end"])) for s in p.get("unavailable", [])) for cid, p in doc.get("participants", {}).items()}
        requests = doc.get("requests", [])
        orders = doc.get("orders", [])
        met_before = pairs_met_before(bookings, profiles, mission.window_start)
        rules = PairRules(
            requests=frozenset((r["requester"], r["target"]) for r in requests if r.get("requester") and r.get("answer") != "declined"),
            declined=frozenset(_pair(r["requester"], r["target"], profiles) for r in requests if r.get("answer") == "declined" and r.get("requester")),
            forbidden=frozenset((o["lombard_id"], o["foreign_id"]) for o in orders if o["order"] == "forbidden"),
            forced=frozenset((o["lombard_id"], o["foreign_id"]) for o in orders if o["order"] == "forced"),
            met_before=met_before,
            on_agenda=frozenset((d["lombard_id"], d["foreign_id"]) for d in (doc.get("agenda") or {}).values() if d["active"]),
        )
        accepted = frozenset(_pair(r["requester"], r["target"], profiles) for r in requests if r.get("answer") == "accepted" and r.get("requester"))
        return MissionState(
            mission=mission,
            participants=profiles,
            rules=rules,
            accepted=accepted,
            unavailable=unavailable,
            busy_elsewhere={k: tuple(v) for k, v in elsewhere.items()},
            agenda={m.meeting_id: m for m in (_placed(d) for d in (doc.get("agenda") or {}).values())},
        )

    # ------------------------------------------------------------ events

    def _meeting_event(self, cause: Envelope[Any], change: Change, profiles: dict[str, CompanyProfile], mission_id: str) -> dict[str, Any]:
        placed = change.meeting
        discriminator = f"{placed.meeting_id}:{placed.sequence}"
        if change.kind == "cancelled":
            payload = MeetingCancellation(
                meeting_id=placed.meeting_id,
                mission_id=mission_id,
                participants=[placed.lombard_id, placed.foreign_id],
                start=placed.start,
                end=placed.end,
                sequence=placed.sequence,
                reason=change.reason,
            )
            event: Envelope[Any] = MeetingCancelled.caused_by(cause, source=SOURCE, subject=mission_id, payload=payload, discriminator=discriminator)
            return pending(Topic.MATCHING_EVENTS, event)
        meeting = meeting_payload(placed, mission_id, profiles, self.config.video_base_url)
        if change.kind == "rescheduled" and change.previous is not None:
            move = MeetingMove(meeting=meeting, previous_start=change.previous.start, previous_end=change.previous.end, reason=change.reason)
            event = MeetingRescheduled.caused_by(cause, source=SOURCE, subject=mission_id, payload=move, discriminator=discriminator)
        else:
            event = MeetingScheduled.caused_by(cause, source=SOURCE, subject=mission_id, payload=meeting, discriminator=discriminator)
        return pending(Topic.MATCHING_EVENTS, event)

    def _proposal_events(self, doc: dict[str, Any], cause: Envelope[Any], plan: Plan, state: MissionState) -> list[dict[str, Any]]:
        """MatchesProposed for each company whose list changed since it was last told."""
        limit = state.mission.max_meetings_per_company * PROPOSALS_PER_COMPANY_FACTOR
        hashes = doc.setdefault("proposal_hashes", {})
        entries = []
        for company_id, items in sorted(proposals_by_company(plan.scored, limit).items()):
            proposals = [_proposal(company_id, item) for item in items]
            digest = hashlib.sha256(json.dumps([p.model_dump(mode="json") for p in proposals], sort_keys=True).encode()).hexdigest()[:16]
            if hashes.get(company_id) == digest:
                continue
            hashes[company_id] = digest
            payload = MatchList(mission_id=state.mission.mission_id, company_id=company_id, proposals=proposals)
            entries.append(
                pending(Topic.MATCHING_EVENTS, MatchesProposed.caused_by(cause, source=SOURCE, subject=state.mission.mission_id, payload=payload, discriminator=company_id))
            )
        return entries


# ---------------------------------------------------------------- pure helpers


def mission_of(event: MissionCommand) -> str:
    return event.payload.mission_id


def enrolled_in(doc: dict[str, Any]) -> list[str]:
    return [cid for cid, p in doc.get("participants", {}).items() if p["status"] == "confirmed"]


def apply_input(doc: dict[str, Any], event: MissionCommand) -> bool:
    """Record the input in the mission document; True when the agenda must be re-planned."""
    participants: dict[str, Any] = doc.setdefault("participants", {})
    requests: list[dict[str, Any]] = doc.setdefault("requests", [])
    orders: list[dict[str, Any]] = doc.setdefault("orders", [])
    match event:
        case EnrollmentConfirmed():
            entry = participants.setdefault(event.payload.company_id, {"unavailable": []})
            was = entry.get("status")
            entry.update(role=event.payload.role, status="confirmed")
            return was != "confirmed"
        case EnrollmentCancelled():
            entry = participants.get(event.payload.company_id)
            if entry is None or entry.get("status") != "confirmed":
                return False
            entry["status"] = "cancelled"
            return True
        case MeetingRequested():
            request = _request(requests, event.payload.request_id)
            request.update(requester=event.payload.requester_id, target=event.payload.target_id)
            if request.get("answer") is not None and request.get("answered_by") != event.payload.target_id:
                # An answer that overtook its request, from a company it was not sent to.
                log.warning("answer by a company the request was not sent to discarded", request_id=event.payload.request_id, answered_by=request.get("answered_by"))
                request["discarded_answer"] = {"answer": request.pop("answer"), "answered_by": request.pop("answered_by", None)}
            return request.get("answer") is not None
        case MeetingRequestAnswered():
            request = _request(requests, event.payload.request_id)
            if request.get("target") not in (None, event.payload.answered_by):
                raise PermanentFailure(f"request {event.payload.request_id} can only be answered by the company it was sent to")
            changed = request.get("answer") != event.payload.answer
            request.update(answer=event.payload.answer, answered_by=event.payload.answered_by)
            return changed and request.get("requester") is not None
        case PairForcedByOperator() | PairForbiddenByOperator():
            order = "forced" if isinstance(event, PairForcedByOperator) else "forbidden"
            pair = {"lombard_id": event.payload.lombard_id, "foreign_id": event.payload.foreign_id}
            orders[:] = [o for o in orders if (o["lombard_id"], o["foreign_id"]) != (pair["lombard_id"], pair["foreign_id"])]
            orders.append({**pair, "order": order, "operator": event.payload.operator, "reason": event.payload.reason})
            return True
        case AvailabilityChanged():
            entry = participants.setdefault(event.payload.company_id, {"unavailable": []})
            entry["unavailable"] = [{"start": span.start, "end": span.end} for span in event.payload.unavailable]
            return entry.get("status") == "confirmed"
        case ScheduleRequested():
            doc["scheduled"] = True
            doc["schedule_options"] = {"time_limit_s": event.payload.time_limit_s, "fairness": event.payload.fairness, "operator": event.payload.operator}
            return True
        case MissionPlanned():
            return bool(doc.get("scheduled"))
        case ParticipantProfileReady():
            return event.payload.company_id in (doc.get("awaiting_profile") or [])
        case FollowUpAnswered():
            answers = doc.setdefault("followup_answers", {})
            # Structured answers only: free-text comments stay on the topic, out of a document that outlives erasure.
            answers[f"{event.payload.meeting_id}|{event.payload.company_id}|{event.payload.kind}"] = event.payload.model_dump(mode="json", exclude={"comment"})
            return False
    return False


def pairs_met_before(bookings: list[Booking], profiles: dict[str, CompanyProfile], before: Any) -> frozenset[tuple[str, str]]:
    """Pairs of this mission's participants who had a meeting in an earlier mission."""
    by_meeting: dict[str, set[str]] = {}
    for booking in bookings:
        if booking.end.date() < before:
            by_meeting.setdefault(booking.meeting_id, set()).add(booking.company_id)
    pairs = set()
    for companies in by_meeting.values():
        if len(companies) == 2:
            a, b = sorted(companies)
            pairs.add(_pair(a, b, profiles))
    return frozenset(pairs)


def _request(requests: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    for request in requests:
        if request["request_id"] == request_id:
            return request
    request = {"request_id": request_id}
    requests.append(request)
    return request


def _pair(a: str, b: str, profiles: dict[str, CompanyProfile]) -> tuple[str, str]:
    """(Lombard, foreign), whichever side asked."""
    first = profiles.get(a)
    return (a, b) if first is None or first.role == "lombard" else (b, a)


def _proposal(company_id: str, item: ScoredPair) -> Proposal:
    is_lombard = company_id == item.lombard_id
    requested = {
        "none": "none",
        "mutual": "mutual",
        "by_lombard": "by_company" if is_lombard else "by_partner",
        "by_foreign": "by_partner" if is_lombard else "by_company",
    }[item.requested]
    partner = item.foreign_id if is_lombard else item.lombard_id
    return Proposal(partner_id=partner, score=item.score, reasons=list(item.reasons), requested=requested, forced=item.forced)


def meeting_payload(placed: Placed, mission_id: str, profiles: dict[str, CompanyProfile], video_base_url: str) -> Meeting:
    local_times = []
    for company_id in (placed.lombard_id, placed.foreign_id):
        profile = profiles[company_id]
        zone = ZoneInfo(profile.timezone)
        local_times.append(
            LocalTime(
                company_id=company_id,
                role=profile.role,
                timezone=profile.timezone,
                start_local=placed.start.astimezone(zone).isoformat(),
                end_local=placed.end.astimezone(zone).isoformat(),
            )
        )
    room = uuid5(NAMESPACE_URL, f"outgoing-room:{placed.meeting_id}").hex[:16]
    return Meeting(
        meeting_id=placed.meeting_id,
        mission_id=mission_id,
        participants=[placed.lombard_id, placed.foreign_id],
        start=placed.start,
        end=placed.end,
        local_times=local_times,
        video_url=f"{video_base_url.rstrip('/')}/{room}",
        sequence=placed.sequence,
        slot_id=placed.slot_id,
    )


def _summary(mission_id: str, version: int, plan: Plan) -> AgendaSummary:
    schedule = plan.schedule
    active = sum(1 for p in plan.agenda.values() if p.active)
    return AgendaSummary(
        mission_id=mission_id,
        version=version,
        status="heuristic" if schedule.solver == "heuristic" else schedule.status,
        meetings=active,
        unscheduled=len(schedule.unscheduled),
        total_breaks=schedule.total_breaks,
        bound=schedule.bound,
        solver=schedule.solver,
        seconds=round(schedule.seconds, 3),
        breaks=dict(schedule.breaks),
        moved=len(schedule.moved),
    )


def _bookings(mission_id: str, agenda: Any) -> list[Booking]:
    return [
        Booking(company, p.start, p.end, mission_id, p.meeting_id)
        for p in agenda
        if p.active
        for company in (p.lombard_id, p.foreign_id)
    ]


def _placed_doc(placed: Placed) -> dict[str, Any]:
    return {
        "meeting_id": placed.meeting_id,
        "lombard_id": placed.lombard_id,
        "foreign_id": placed.foreign_id,
        "slot_id": placed.slot_id,
        "start": placed.start,
        "end": placed.end,
        "sequence": placed.sequence,
        "active": placed.active,
    }


def _placed(doc: dict[str, Any]) -> Placed:
    return Placed(
        doc["meeting_id"], doc["lombard_id"], doc["foreign_id"], doc["slot_id"], _utc(doc["start"]), _utc(doc["end"]), doc["sequence"], doc["active"]
    )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

