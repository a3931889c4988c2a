"""From a mission's state to its agenda: which meetings to place, and what changed.

Pure: the caller loads the state, this module decides, the caller stores and publishes.
Re-planning after a late enrollment, a cancellation or an availability change passes the
current placements as ``previous``, so the solver moves confirmed meetings only when it
must; whatever differs from before becomes a scheduled, rescheduled or cancelled change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal
from uuid import NAMESPACE_URL, uuid5

from services.matching.domain.grid import mission_slots, unavailable_slots
from services.matching.domain.scheduling import Instance, MeetingSpec, Participant, Schedule, Slot, solve
from services.matching.domain.scoring import PairRules, ScoredPair, score_pairs
from shared.contracts.missions import Mission
from shared.contracts.registration import CompanyProfile

REQUESTED_WEIGHT = 100.0
"""Accepted requests and operators' forced pairs go before any proposal."""
KEEP_WEIGHT = 1000.0
"""A meeting already on the agenda outweighs any set of new ones it could make room for."""
SCORE_WEIGHT = 10.0

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Placed:
    """A meeting as it stands on the agenda (active or cancelled)."""

    meeting_id: str
    lombard_id: str
    foreign_id: str
    slot_id: str
    start: datetime
    end: datetime
    sequence: int
    active: bool = True


@dataclass(frozen=True)
class MissionState:
    mission: Mission
    participants: Mapping[str, CompanyProfile]
    """Enrolled companies with a known profile, by id."""
    rules: PairRules = field(default_factory=PairRules)
    accepted: frozenset[tuple[str, str]] = frozenset()
    """Pairs (Lombard, foreign) whose meeting request was accepted."""
    unavailable: Mapping[str, tuple[Span, ...]] = field(default_factory=dict)
    busy_elsewhere: Mapping[str, tuple[Span, ...]] = field(default_factory=dict)
    """Meetings each participant has in other missions: never booked twice across missions."""
    agenda: Mapping[str, Placed] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    kind: Literal["scheduled", "rescheduled", "cancelled"]
    meeting: Placed
    previous: Placed | None
    reason: str


@dataclass(frozen=True)
class Plan:
    scored: list[ScoredPair]
    instance: Instance
    schedule: Schedule
    agenda: dict[str, Placed]
    changes: list[Change]


def meeting_id_for(mission_id: str, lombard_id: str, foreign_id: str) -> str:
    """One id per pair and mission for the meeting's whole life: the calendar UID rests on it."""
    return f"{mission_id}:{uuid5(NAMESPACE_URL, f'outgoing:{mission_id}:{lombard_id}:{foreign_id}').hex[:20]}"


def participant_windows(state: MissionState, slots: list[Slot]) -> list[Participant]:
    mission = state.mission
    people = []
    for company in sorted(state.participants.values(), key=lambda c: c.company_id):
        hours = mission.lombard_hours if company.role == "lombard" else mission.foreign_hours
        zone = company.timezone
        blocked = list(state.unavailable.get(company.company_id, ())) + list(state.busy_elsewhere.get(company.company_id, ()))
        available = [(a.start, a.end) for a in company.availability]
        forbidden = unavailable_slots(slots, zone, hours, unavailable=blocked, available=available)
        people.append(Participant(company.company_id, zone, frozenset(forbidden), mission.max_meetings_per_company))
    return people


def candidate_meetings(state: MissionState, scored: list[ScoredPair]) -> list[MeetingSpec]:
    """What to try to place: kept meetings, then accepted and forced pairs, then the best proposals.

    Proposals are added best first while both sides are under their maximum, so the
    solver is never asked to choose among far more meetings than anyone can attend.
    """
    cap = state.mission.max_meetings_per_company
    by_pair = {s.pair: s for s in scored}
    load: dict[str, int] = {}
    chosen: dict[tuple[str, str], float] = {}

    def take(pair: tuple[str, str], weight: float, respect_cap: bool) -> None:
        if pair in chosen or pair not in by_pair:
            return
        if respect_cap and any(load.get(c, 0) >= cap for c in pair):
            return
        chosen[pair] = weight
        for company in pair:
            load[company] = load.get(company, 0) + 1

    for placed in state.agenda.values():
        if placed.active:
            pair = (placed.lombard_id, placed.foreign_id)
            if pair in by_pair:
                take(pair, KEEP_WEIGHT + SCORE_WEIGHT * by_pair[pair].score, respect_cap=False)
    for pair in sorted(state.accepted | state.rules.forced):
        if pair in by_pair:
            take(pair, REQUESTED_WEIGHT + SCORE_WEIGHT * by_pair[pair].score, respect_cap=False)
    for item in scored:
        take(item.pair, SCORE_WEIGHT * item.score + 1.0, respect_cap=True)
    return [
        MeetingSpec(meeting_id_for(state.mission.mission_id, lombard, foreign), (lombard, foreign), weight=round(weight, 4))
        for (lombard, foreign), weight in chosen.items()
    ]


def build_instance(state: MissionState, scored: list[ScoredPair], fairness: int | None = None) -> Instance:
    slots = mission_slots(state.mission)
    participants = participant_windows(state, slots)
    return Instance(
        slots=tuple(slots),
        participants=tuple(participants),
        meetings=tuple(candidate_meetings(state, scored)),
        capacity=state.mission.parallel_capacity,
        fairness=fairness,
    )


Solver = Callable[..., Schedule]


def plan_agenda(state: MissionState, *, time_limit_s: float, fairness: int | None = None, solver: Solver = solve) -> Plan:
    meeting = state.participants if state.mission.status == "planned" else {}
    eligible = set(meeting)
    lombards = [c for c in meeting.values() if c.role == "lombard"]
    foreigns = [c for c in meeting.values() if c.role == "foreign"]
    scored = score_pairs(lombards, foreigns, state.rules)
    instance = build_instance(state, scored, fairness)
    previous = {p.meeting_id: p.slot_id for p in state.agenda.values() if p.active}
    schedule = solver(instance, time_limit_s=time_limit_s, previous=previous or None)
    agenda, changes = diff_agenda(state, instance, schedule, eligible)
    return Plan(scored, instance, schedule, agenda, changes)


def diff_agenda(state: MissionState, instance: Instance, schedule: Schedule, eligible: set[str]) -> tuple[dict[str, Placed], list[Change]]:
    slots = {s.id: s for s in instance.slots}
    specs = {m.id: m for m in instance.meetings}
    agenda = dict(state.agenda)
    changes: list[Change] = []
    for meeting_id, slot_id in sorted(schedule.assignments.items()):
        lombard, foreign = specs[meeting_id].participants
        slot = slots[slot_id]
        before = agenda.get(meeting_id)
        if before is not None and before.active and before.slot_id == slot_id:
            continue
        sequence = before.sequence + 1 if before is not None else 0
        now = Placed(meeting_id, lombard, foreign, slot_id, slot.start, slot.end, sequence)
        agenda[meeting_id] = now
        if before is not None and before.active:
            changes.append(Change("rescheduled", now, before, _move_reason(state, before)))
        else:
            changes.append(Change("scheduled", now, before, "placed on the agenda"))
    for meeting_id, before in sorted(state.agenda.items()):
        if before.active and meeting_id not in schedule.assignments:
            gone = replace(before, sequence=before.sequence + 1, active=False)
            agenda[meeting_id] = gone
            changes.append(Change("cancelled", gone, before, _cancel_reason(state, before, eligible)))
    return agenda, changes


def _move_reason(state: MissionState, before: Placed) -> str:
    for company in (before.lombard_id, before.foreign_id):
        for start, end in state.unavailable.get(company, ()):
            if start < before.end and before.start < end:
                return "a participant became unavailable at the original time"
    return "moved to make the agenda feasible"


def _cancel_reason(state: MissionState, before: Placed, eligible: set[str]) -> str:
    pair = (before.lombard_id, before.foreign_id)
    if state.mission.status == "cancelled":
        return "the mission was cancelled"
    if not {before.lombard_id, before.foreign_id} <= eligible:
        return "a participant left the mission"
    if pair in state.rules.declined:
        return "the meeting request was declined"
    if pair in state.rules.forbidden:
        return "the pair was excluded by the mission's operators"
    return "no common time is left for this meeting"
