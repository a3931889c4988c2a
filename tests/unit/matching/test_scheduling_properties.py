"""Properties of every agenda on random small instances, and optimality against brute force."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matching.domain.scheduling import (
    Instance,
    MeetingSpec,
    Participant,
    Schedule,
    Slot,
    greedy_first_come,
    solve,
)
from tests.unit.matching.recount import recount_breaks, violations

ZONES = ["Europe/Rome", "Asia/Kolkata", "Asia/Shanghai", "America/Vancouver", "UTC"]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def instances(draw: st.DrawFn, max_meetings: int = 6, max_slots: int = 6) -> Instance:
    """Slots on up to two UTC days, some back to back, some after a gap; late-evening UTC slots
    fall on the next local date in Asia and the previous one in America."""
    n_slots = draw(st.integers(2, max_slots))
    start = datetime(2020, 10, 23, draw(st.sampled_from([6, 15, 22])), tzinfo=UTC)
    slots = []
    for i in range(n_slots):
        slots.append(Slot(id=f"s{i}", start=start, end=start + timedelta(minutes=20)))
        start += timedelta(minutes=draw(st.sampled_from([20, 20, 20, 40, 180])))
    slot_ids = [s.id for s in slots]
    n_people = draw(st.integers(2, 5))
    people = [
        Participant(
            id=f"p{i}",
            timezone=draw(st.sampled_from(ZONES)),
            forbidden_slots=frozenset(draw(st.lists(st.sampled_from(slot_ids), max_size=2))),
            max_meetings=draw(st.one_of(st.none(), st.integers(0, 3))),
        )
        for i in range(n_people)
    ]
    meetings = []
    for k in range(draw(st.integers(1, max_meetings))):
        a, b = draw(st.lists(st.sampled_from([p.id for p in people]), min_size=2, max_size=2, unique=True))
        allowed = draw(st.one_of(st.none(), st.frozensets(st.sampled_from(slot_ids), min_size=1)))
        fixed = draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from(slot_ids)))
        meetings.append(
            MeetingSpec(
                id=f"m{k}",
                participants=(a, b),
                allowed_slots=allowed,
                fixed_slot=fixed,
                weight=draw(st.sampled_from([1.0, 2.0, 3.0])),
                required=draw(st.booleans()) and draw(st.booleans()),
            )
        )
    capacity = draw(st.one_of(st.integers(1, 3), st.fixed_dictionaries({s: st.integers(0, 2) for s in slot_ids})))
    fairness = draw(st.one_of(st.none(), st.integers(0, 2)))
    return Instance(slots=tuple(slots), participants=tuple(people), meetings=tuple(meetings), capacity=capacity, fairness=fairness)


def brute_force(instance: Instance) -> tuple[float, int] | None:
    """Best (placed weight, -breaks) over every agenda, or None if none meets the hard rules."""
    options = [[None, *(s.id for s in instance.slots)] for _ in instance.meetings]
    best = None
    for choice in itertools.product(*options):
        assignments = {m.id: sid for m, sid in zip(instance.meetings, choice, strict=True) if sid is not None}
        breaks = recount_breaks(instance, assignments)
        candidate = Schedule(
            status="feasible",
            solver="heuristic",
            assignments=assignments,
            unscheduled=tuple(m.id for m in instance.meetings if m.id not in assignments),
            breaks=breaks,
            total_breaks=sum(breaks.values()),
            bound=None,
            gap=None,
            seconds=0.0,
            moved=(),
        )
        if violations(instance, candidate):
            continue
        value = (sum(m.weight for m in instance.meetings if m.id in assignments), -candidate.total_breaks)
        best = value if best is None or value > best else best
    return best


@FAST
@given(instances())
def test_every_agenda_keeps_the_hard_rules(instance: Instance) -> None:
    schedule = solve(instance, time_limit_s=5, workers=2)
    assert violations(instance, schedule) == []
    if schedule.status == "optimal":
        assert schedule.total_breaks == schedule.bound and schedule.gap == 0
    if schedule.status == "infeasible":
        assert schedule.assignments == {}
    baseline = greedy_first_come(instance)
    assert [v for v in violations(instance, baseline) if "required" not in v and "fairness" not in v] == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_meetings=4, max_slots=4))
def test_optimal_agrees_with_brute_force(instance: Instance) -> None:
    schedule = solve(instance, time_limit_s=10, workers=2)
    expected = brute_force(instance)
    if expected is None:
        assert schedule.status == "infeasible"
        return
    assert schedule.status == "optimal"
    placed = sum(m.weight for m in instance.meetings if m.id in schedule.assignments)
    assert (placed, -schedule.total_breaks) == expected


@FAST
@given(instances())
def test_resolving_from_its_own_answer_moves_nothing(instance: Instance) -> None:
    first = solve(instance, time_limit_s=5, workers=2)
    again = solve(instance, time_limit_s=5, workers=2, previous=first.assignments)
    assert again.moved == ()
    assert again.total_breaks == first.total_breaks or first.status != "optimal"
    assert violations(instance, again) == []
