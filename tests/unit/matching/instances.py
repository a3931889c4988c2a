"""Seeded instance generators shared by the scheduling tests, fixtures and benchmarks.

``planted_forum`` builds instances shaped like the published B2B brokerage events
(one day, morning and afternoon sessions, limited tables, forbidden slots, session-bound
meetings, fairness 2) around a hidden agenda without a single break: the optimum, 0
breaks with every meeting placed, is known by construction.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from services.matching.domain.grid import mission_slots, unavailable_slots
from services.matching.domain.heuristics import Agenda
from services.matching.domain.instance import index
from services.matching.domain.scheduling import Instance, MeetingSpec, Participant, Slot
from shared.contracts.missions import BusinessHours, Mission


def session_slots(day: date, sessions: list[tuple[time, int]], minutes: int = 20) -> list[Slot]:
    """Slots of ``minutes`` for each (UTC start, count) session of one day."""
    slots = []
    for start, count in sessions:
        at = datetime.combine(day, start, tzinfo=UTC)
        for _ in range(count):
            slots.append(Slot(id=at.strftime("%H%M"), start=at, end=at + timedelta(minutes=minutes)))
            at += timedelta(minutes=minutes)
    return slots


def planted_forum(
    seed: int,
    participants: int = 60,
    morning: int = 8,
    afternoon: int = 8,
    block: tuple[int, int] = (2, 7),
    forbid: float = 0.5,
    session_bound: float = 0.3,
    spare_tables: int = 0,
) -> Instance:
    """A forum-shaped instance whose optimum is 0 breaks with every meeting placed."""
    rng = random.Random(seed)
    slots = session_slots(date(2020, 10, 21), [(time(7, 0), morning), (time(12, 0), afternoon)])
    n_slots = len(slots)
    ids = [f"p{i:02d}" for i in range(participants)]
    remaining = {p: rng.randint(*block) for p in ids}
    waiting = ids[:]
    rng.shuffle(waiting)
    active: list[str] = []
    first_slot: dict[str, int] = {}
    last_slot: dict[str, int] = {}
    met: set[frozenset[str]] = set()
    planted: list[tuple[str, str, int]] = []
    for t in range(n_slots):
        left = n_slots - t
        active = [p for p in active if remaining[p] > 0]
        target = rng.randint(int(participants * 0.45), int(participants * 0.7))
        while (len(active) < target or len(active) % 2) and waiting:
            p = waiting.pop()
            remaining[p] = min(remaining[p], left)
            active.append(p)
            first_slot[p] = t
        if len(active) % 2:
            active.pop()
        for _ in range(50):
            rng.shuffle(active)
            pairs = [(active[i], active[i + 1]) for i in range(0, len(active), 2)]
            if all(frozenset(pair) not in met for pair in pairs):
                break
        else:
            pairs = [pair for pair in pairs if frozenset(pair) not in met]
            active = [p for pair in pairs for p in pair]
        for a, b in pairs:
            met.add(frozenset((a, b)))
            planted.append((a, b, t))
            remaining[a] -= 1
            remaining[b] -= 1
            last_slot[a] = last_slot[b] = t
        for p in active:
            if remaining[p] <= 0:
                remaining[p] = 0
    used = sorted(first_slot.keys() & last_slot.keys())
    per_slot = [sum(1 for *_, t in planted if t == s) for s in range(n_slots)]
    capacity = max(per_slot) + spare_tables
    people = []
    for p in used:
        outside = [t for t in range(n_slots) if not first_slot[p] <= t <= last_slot[p]]
        forbidden = frozenset(slots[t].id for t in outside if rng.random() < forbid)
        people.append(Participant(id=p, timezone="Europe/Madrid", forbidden_slots=forbidden))
    morning_ids = frozenset(s.id for s in slots[:morning])
    afternoon_ids = frozenset(s.id for s in slots[morning:])
    rng.shuffle(planted)
    meetings = []
    for i, (a, b, t) in enumerate(planted):
        allowed = None
        if rng.random() < session_bound:
            allowed = morning_ids if t < morning else afternoon_ids
        meetings.append(MeetingSpec(id=f"m{i:03d}", participants=(a, b), allowed_slots=allowed))
    return Instance(slots=tuple(slots), participants=tuple(people), meetings=tuple(meetings), capacity=capacity, fairness=2)


def random_mission(
    seed: int,
    mission: Mission,
    lombard: int,
    foreign: int,
    requests_per_company: int,
    days: int | None = None,
    unavailable: float = 0.15,
    other_zones: tuple[str, ...] = (),
) -> Instance:
    """A mission's grid with seeded companies, requests and unavailability, as the service would build it."""
    rng = random.Random(seed)
    slots = mission_slots(mission)
    if days is not None:
        first_days = sorted({s.start.date() for s in slots})[:days]
        slots = [s for s in slots if s.start.date() in first_days]
    people, meetings = [], []
    lombard_ids = [f"it{i:04d}" for i in range(lombard)]
    foreign_ids = [f"{mission.country.lower()}{i:04d}" for i in range(foreign)]
    for pid in lombard_ids + foreign_ids:
        is_lombard = pid.startswith("it")
        tz = mission.lombard_timezone if is_lombard else rng.choice((mission.market_timezone, *other_zones))
        hours = mission.lombard_hours if is_lombard else mission.foreign_hours
        spans = [(s.start, s.start + timedelta(hours=rng.choice((1, 2, 3)))) for s in slots if rng.random() < unavailable / 4]
        forbidden = unavailable_slots(slots, tz, hours, unavailable=spans)
        people.append(Participant(id=pid, timezone=tz, forbidden_slots=forbidden, max_meetings=mission.max_meetings_per_company))
    pairs: set[tuple[str, str]] = set()
    for a in lombard_ids:
        for b in rng.sample(foreign_ids, min(requests_per_company, len(foreign_ids))):
            pairs.add((a, b))
    ordered = sorted(pairs)
    rng.shuffle(ordered)
    for i, (a, b) in enumerate(ordered):
        meetings.append(MeetingSpec(id=f"m{i:05d}", participants=(a, b), weight=round(rng.uniform(0.5, 1.0), 3)))
    return Instance(slots=tuple(slots), participants=tuple(people), meetings=tuple(meetings), capacity=mission.parallel_capacity)


def business_hours(start: int, end: int) -> BusinessHours:
    return BusinessHours(start=time(start), end=time(end))


def half_hours(count: int) -> tuple[Slot, ...]:
    """Half-hour slots from 8:00 UTC on 20 October 2020."""
    day = datetime(2020, 10, 20, 8, 0, tzinfo=UTC)
    return tuple(Slot(id=f"s{i}", start=day + timedelta(minutes=30 * i), end=day + timedelta(minutes=30 * i + 30)) for i in range(count))


def apart_pairs(fairness: int | None = None) -> Instance:
    """P and Q meet twice, anywhere; R and S twice, only at s0 and s2, so each of them keeps a break."""
    apart = frozenset({"s0", "s2"})
    meetings = (
        MeetingSpec("pq1", ("P", "Q")),
        MeetingSpec("pq2", ("P", "Q")),
        MeetingSpec("rs1", ("R", "S"), allowed_slots=apart),
        MeetingSpec("rs2", ("R", "S"), allowed_slots=apart),
    )
    people = tuple(Participant(p, "Europe/Rome") for p in "PQRS")
    return Instance(slots=half_hours(4), participants=people, meetings=meetings, capacity=2, fairness=fairness)


def displacement_chain() -> Instance:
    """P meets A only at s0 and Q, R, S in a row at s1 or s2: only a chain of three moves frees P of its break."""
    late = frozenset({"s1", "s2"})
    meetings = (
        MeetingSpec("pa", ("P", "A"), allowed_slots=frozenset({"s0"})),
        MeetingSpec("pq", ("P", "Q"), allowed_slots=late),
        MeetingSpec("qr", ("Q", "R"), allowed_slots=late),
        MeetingSpec("rs", ("R", "S"), allowed_slots=late),
    )
    return Instance(slots=half_hours(3), participants=tuple(Participant(p, "Europe/Rome") for p in "PAQRS"), meetings=meetings, capacity=4)


def placed(instance: Instance, where: dict[str, int]) -> Agenda:
    """An agenda of the instance with each named meeting at the slot of that position."""
    ix = index(instance)
    agenda = Agenda(ix)
    for meeting, slot in where.items():
        agenda.place(ix.meeting_pos[meeting], slot)
    return agenda


def apart_agenda(fairness: int | None = None) -> Agenda:
    """``apart_pairs`` with everyone at s0 and s2: one break each."""
    return placed(apart_pairs(fairness), {"pq1": 0, "pq2": 2, "rs1": 0, "rs2": 2})


def chain_agenda() -> Agenda:
    """``displacement_chain`` with P at s0 and s2 (a break), Q-R at s1 and R-S at s2."""
    return placed(displacement_chain(), {"pa": 0, "pq": 2, "qr": 1, "rs": 2})
