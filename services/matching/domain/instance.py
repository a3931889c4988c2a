"""What a scheduling instance and its answer are, how an instance is checked, and its indexed form.

The public types are re-exported by ``scheduling``; they live here so that the solvers
(``cpsat``, ``heuristics``) can import them without a cycle.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Status = Literal["optimal", "feasible", "infeasible"]
SolverName = Literal["sat", "cp-sat", "heuristic"]


class InstanceError(ValueError):
    """An instance that cannot be solved as given; the message names the exact problem."""


@dataclass(frozen=True)
class Slot:
    id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Participant:
    id: str
    timezone: str
    forbidden_slots: frozenset[str] = frozenset()
    max_meetings: int | None = None


@dataclass(frozen=True)
class MeetingSpec:
    id: str
    participants: tuple[str, str]
    allowed_slots: frozenset[str] | None = None
    fixed_slot: str | None = None
    weight: float = 1.0
    required: bool = False


@dataclass(frozen=True)
class Instance:
    slots: tuple[Slot, ...]
    participants: tuple[Participant, ...]
    meetings: tuple[MeetingSpec, ...]
    capacity: int | Mapping[str, int]
    fairness: int | None = None


@dataclass(frozen=True)
class Schedule:
    status: Status
    solver: SolverName
    assignments: Mapping[str, str]
    unscheduled: tuple[str, ...]
    breaks: Mapping[str, int]
    total_breaks: int
    bound: float | None
    gap: float | None
    seconds: float
    moved: tuple[str, ...]
    first_solution_seconds: float | None = None
    """When the first complete agenda was known: what an operator waits for at least."""
    reason: str = ""
    """Why the answer is not a proven optimum (time limit, fallback, infeasibility), if known."""


@cache
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InstanceError(f"unknown IANA time zone {name!r}") from None


def _duplicates(ids: list[str]) -> list[str]:
    return sorted(i for i, n in Counter(ids).items() if n > 1)


def validate(instance: Instance) -> None:
    """Raise InstanceError on the first problem found, naming it; return quietly otherwise."""
    for kind, ids in (
        ("slot", [s.id for s in instance.slots]),
        ("participant", [p.id for p in instance.participants]),
        ("meeting", [m.id for m in instance.meetings]),
    ):
        if dups := _duplicates(ids):
            raise InstanceError(f"duplicate {kind} id {dups[0]!r}")
    slot_ids = {s.id for s in instance.slots}
    for slot in instance.slots:
        for name, moment in (("start", slot.start), ("end", slot.end)):
            if moment.tzinfo is None or moment.utcoffset() is None:
                raise InstanceError(f"slot {slot.id!r}: {name} has no time zone (times must be UTC instants)")
        if slot.end <= slot.start:
            raise InstanceError(f"slot {slot.id!r} ends at or before its start")
    ordered = sorted(instance.slots, key=lambda s: s.start)
    for before, after in pairwise(ordered):
        if after.start < before.end:
            raise InstanceError(f"slots {before.id!r} and {after.id!r} overlap")
    if isinstance(instance.capacity, Mapping):
        for sid, cap in instance.capacity.items():
            if sid not in slot_ids:
                raise InstanceError(f"capacity refers to unknown slot {sid!r}")
            if cap < 0:
                raise InstanceError(f"capacity of slot {sid!r} is negative")
        if missing := sorted(slot_ids - set(instance.capacity)):
            raise InstanceError(f"capacity has no entry for slot {missing[0]!r}")
    elif instance.capacity < 0:
        raise InstanceError("capacity is negative")
    if instance.fairness is not None and instance.fairness < 0:
        raise InstanceError("fairness must be zero or more")
    participant_ids = {p.id for p in instance.participants}
    for p in instance.participants:
        zone(p.timezone)
        if unknown := sorted(p.forbidden_slots - slot_ids):
            raise InstanceError(f"participant {p.id!r}: forbidden_slots refers to unknown slot {unknown[0]!r}")
        if p.max_meetings is not None and p.max_meetings < 0:
            raise InstanceError(f"participant {p.id!r}: max_meetings is negative")
    for m in instance.meetings:
        if len(m.participants) != 2:
            raise InstanceError(f"meeting {m.id!r} must have exactly two participants, has {len(m.participants)}")
        a, b = m.participants
        if a == b:
            raise InstanceError(f"meeting {m.id!r} has participant {a!r} twice")
        for pid in m.participants:
            if pid not in participant_ids:
                raise InstanceError(f"meeting {m.id!r} refers to unknown participant {pid!r}")
        if m.allowed_slots is not None and (unknown := sorted(m.allowed_slots - slot_ids)):
            raise InstanceError(f"meeting {m.id!r}: allowed_slots refers to unknown slot {unknown[0]!r}")
        if m.fixed_slot is not None and m.fixed_slot not in slot_ids:
            raise InstanceError(f"meeting {m.id!r}: fixed_slot refers to unknown slot {m.fixed_slot!r}")
        if not math.isfinite(m.weight) or m.weight < 0:
            raise InstanceError(f"meeting {m.id!r}: weight must be a finite number >= 0")


@dataclass
class Indexed:
    """The instance in integer form, slots in time order: what both solvers work on.

    ``same_day_prev[p][t]`` says whether slot t-1 falls on the same local date as slot t
    for participant p (slot start, in p's own zone): breaks only join within a local day.
    """

    instance: Instance
    slot_ids: list[str]
    slot_pos: dict[str, int]
    capacity: list[int]
    participant_ids: list[str]
    max_meetings: list[int | None]
    meeting_ids: list[str]
    meeting_pos: dict[str, int]
    pairs: list[tuple[int, int]]
    domains: list[list[int]]
    weights: list[float]
    required: list[bool]
    meetings_of: list[list[int]]
    day_of: list[list[int]]
    same_day_prev: list[list[bool]] = field(default_factory=list)

    @property
    def n_slots(self) -> int:
        return len(self.slot_ids)


def local_days(slots: list[Slot], timezone: str) -> list[int]:
    """Each slot's local date (of its start) in the zone, as a proleptic ordinal."""
    tz = zone(timezone)
    return [s.start.astimezone(tz).date().toordinal() for s in slots]


def index(instance: Instance) -> Indexed:
    validate(instance)
    slots = sorted(instance.slots, key=lambda s: s.start)
    slot_pos = {s.id: i for i, s in enumerate(slots)}
    cap = instance.capacity
    capacity = [cap[s.id] for s in slots] if isinstance(cap, Mapping) else [cap] * len(slots)
    pidx = {p.id: i for i, p in enumerate(instance.participants)}
    forbidden = [{slot_pos[s] for s in p.forbidden_slots} for p in instance.participants]
    days_by_zone: dict[str, list[int]] = {}
    day_of, same_day_prev = [], []
    for p in instance.participants:
        if p.timezone not in days_by_zone:
            days_by_zone[p.timezone] = local_days(slots, p.timezone)
        days = days_by_zone[p.timezone]
        day_of.append(days)
        same_day_prev.append([t > 0 and days[t - 1] == days[t] for t in range(len(slots))])
    pairs: list[tuple[int, int]] = []
    domains: list[list[int]] = []
    meetings_of: list[list[int]] = [[] for _ in instance.participants]
    everywhere = set(range(len(slots)))
    for k, m in enumerate(instance.meetings):
        a, b = pidx[m.participants[0]], pidx[m.participants[1]]
        pairs.append((a, b))
        meetings_of[a].append(k)
        meetings_of[b].append(k)
        allowed = everywhere if m.allowed_slots is None else {slot_pos[s] for s in m.allowed_slots}
        if m.fixed_slot is not None:
            allowed = allowed & {slot_pos[m.fixed_slot]}
        domains.append(sorted(t for t in allowed - forbidden[a] - forbidden[b] if capacity[t] > 0))
    return Indexed(
        instance=instance,
        slot_ids=[s.id for s in slots],
        slot_pos=slot_pos,
        capacity=capacity,
        participant_ids=[p.id for p in instance.participants],
        max_meetings=[p.max_meetings for p in instance.participants],
        meeting_ids=[m.id for m in instance.meetings],
        meeting_pos={m.id: k for k, m in enumerate(instance.meetings)},
        pairs=pairs,
        domains=domains,
        weights=[m.weight for m in instance.meetings],
        required=[m.required for m in instance.meetings],
        meetings_of=meetings_of,
        day_of=day_of,
        same_day_prev=same_day_prev,
    )


def breaks_of(ix: Indexed, slot_of: list[int]) -> list[int]:
    """Breaks per participant: consecutive meetings on one local day with a slot between them."""
    result = []
    for p, meetings in enumerate(ix.meetings_of):
        busy = sorted(slot_of[k] for k in meetings if slot_of[k] >= 0)
        days = ix.day_of[p]
        result.append(sum(1 for s, t in pairwise(busy) if days[s] == days[t] and t - s > 1))
    return result


def moved_meetings(ix: Indexed, previous: Mapping[int, int], slot_of: list[int]) -> tuple[str, ...]:
    return tuple(ix.meeting_ids[k] for k, t in sorted(previous.items()) if slot_of[k] != t)


def known_previous(ix: Indexed, previous: Mapping[str, str] | None) -> dict[int, int]:
    """The previous assignment restricted to meetings and slots that still exist."""
    if not previous:
        return {}
    return {ix.meeting_pos[m]: ix.slot_pos[s] for m, s in previous.items() if m in ix.meeting_pos and s in ix.slot_pos}


def make_schedule(
    ix: Indexed,
    slot_of: list[int],
    *,
    status: Status,
    solver: SolverName,
    bound: float | None,
    started: float,
    now: float,
    previous: Mapping[int, int],
    first_solution: float | None = None,
    reason: str = "",
) -> Schedule:
    per_participant = breaks_of(ix, slot_of)
    total = sum(per_participant)
    if status == "infeasible":
        bound = None
    gap = None if bound is None else (0.0 if total <= bound else (total - bound) / max(total, 1))
    return Schedule(
        status=status,
        solver=solver,
        assignments={ix.meeting_ids[k]: ix.slot_ids[t] for k, t in enumerate(slot_of) if t >= 0},
        unscheduled=tuple(ix.meeting_ids[k] for k, t in enumerate(slot_of) if t < 0),
        breaks=dict(zip(ix.participant_ids, per_participant, strict=True)),
        total_breaks=total,
        bound=bound,
        gap=gap,
        seconds=round(now - started, 3),
        moved=moved_meetings(ix, previous, slot_of),
        first_solution_seconds=None if first_solution is None else round(first_solution - started, 3),
        reason=reason,
    )


def is_complete(ix: Indexed, slot_of: list[int]) -> bool:
    """Whether every required meeting is placed and fairness holds: the hard goals an answer must meet."""
    if any(r and slot_of[k] < 0 for k, r in enumerate(ix.required)):
        return False
    d = ix.instance.fairness
    if d is None or not ix.participant_ids:
        return True
    counts = breaks_of(ix, slot_of)
    return max(counts) - min(counts) <= d
