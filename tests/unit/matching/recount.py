"""Checks of an agenda written from the problem statement alone, independent of the solver's code."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from zoneinfo import ZoneInfo

from services.matching.domain.scheduling import Instance, Schedule


def recount_breaks(instance: Instance, assignments: dict[str, str]) -> dict[str, int]:
    """A break: two consecutive meetings of a participant on one local date with some mission slot between."""
    slots = {s.id: s for s in instance.slots}
    result = {}
    for person in instance.participants:
        tz = ZoneInfo(person.timezone)
        mine = sorted(
            (slots[assignments[m.id]] for m in instance.meetings if person.id in m.participants and m.id in assignments),
            key=lambda s: s.start,
        )
        count = 0
        for first, second in pairwise(mine):
            same_day = first.start.astimezone(tz).date() == second.start.astimezone(tz).date()
            slot_between = any(first.end <= s.start and s.end <= second.start for s in instance.slots)
            count += same_day and slot_between
        result[person.id] = count
    return result


def violations(instance: Instance, schedule: Schedule) -> list[str]:
    """Every hard rule the agenda breaks, in words; an empty list for a valid agenda."""
    problems = []
    assigned = dict(schedule.assignments)
    meetings = {m.id: m for m in instance.meetings}
    people = {p.id: p for p in instance.participants}
    if set(assigned) | set(schedule.unscheduled) != set(meetings) or set(assigned) & set(schedule.unscheduled):
        problems.append("assigned and unscheduled do not partition the meetings")
    seen: Counter[tuple[str, str]] = Counter()
    per_slot: Counter[str] = Counter()
    per_person: Counter[str] = Counter()
    for mid, sid in assigned.items():
        m = meetings[mid]
        per_slot[sid] += 1
        if m.allowed_slots is not None and sid not in m.allowed_slots:
            problems.append(f"{mid} outside its allowed slots")
        if m.fixed_slot is not None and sid != m.fixed_slot:
            problems.append(f"fixed {mid} moved to {sid}")
        for pid in m.participants:
            seen[(pid, sid)] += 1
            per_person[pid] += 1
            if sid in people[pid].forbidden_slots:
                problems.append(f"{mid} in a slot forbidden to {pid}")
    problems += [f"{pid} double-booked in {sid}" for (pid, sid), n in seen.items() if n > 1]
    for sid, n in per_slot.items():
        cap = instance.capacity if isinstance(instance.capacity, int) else instance.capacity[sid]
        if n > cap:
            problems.append(f"slot {sid} over capacity ({n} > {cap})")
    for pid, n in per_person.items():
        limit = people[pid].max_meetings
        if limit is not None and n > limit:
            problems.append(f"{pid} has {n} meetings, more than {limit}")
    for mid in schedule.unscheduled:
        if meetings[mid].required and schedule.status != "infeasible":
            problems.append(f"required {mid} unscheduled")
    recount = recount_breaks(instance, assigned)
    if recount != dict(schedule.breaks):
        problems.append(f"reported breaks {dict(schedule.breaks)} differ from recount {recount}")
    if schedule.total_breaks != sum(recount.values()):
        problems.append("total_breaks is not the sum of breaks")
    if (
        instance.fairness is not None
        and recount
        and schedule.status != "infeasible"
        and max(recount.values()) - min(recount.values()) > instance.fairness
    ):
        problems.append("fairness bound exceeded")
    return problems
