"""Hand-made instances whose optimum is known by reasoning, and the instance checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.matching.domain.scheduling import (
    Instance,
    InstanceError,
    MeetingSpec,
    Participant,
    Slot,
    count_breaks,
    greedy_first_come,
    solve,
)
from tests.unit.matching.recount import violations

DAY = datetime(2020, 10, 19, 7, 0, tzinfo=UTC)


def slots_at(*minutes_after: int, length: int = 20) -> tuple[Slot, ...]:
    return tuple(
        Slot(id=f"s{i + 1}", start=DAY + timedelta(minutes=m), end=DAY + timedelta(minutes=m + length)) for i, m in enumerate(minutes_after)
    )


def people(*ids: str, tz: str = "Europe/Rome", **forbidden: set[str]) -> tuple[Participant, ...]:
    return tuple(Participant(id=i, timezone=tz, forbidden_slots=frozenset(forbidden.get(i, ()))) for i in ids)


def meeting(mid: str, a: str, b: str, **kw) -> MeetingSpec:
    return MeetingSpec(id=mid, participants=(a, b), **kw)


def test_first_come_leaves_a_gap_the_optimum_closes() -> None:
    instance = Instance(
        slots=slots_at(0, 20, 40),
        participants=people("A", "B", "C", "D", D={"s1"}),
        meetings=(meeting("m1", "A", "B"), meeting("m2", "C", "D"), meeting("m3", "A", "C")),
        capacity=2,
    )
    baseline = greedy_first_come(instance)
    assert baseline.assignments == {"m1": "s1", "m2": "s2", "m3": "s3"} and baseline.breaks["A"] == 1
    best = solve(instance, time_limit_s=10)
    assert best.status == "optimal" and best.total_breaks == 0 and best.bound == 0
    assert best.unscheduled == () and violations(instance, best) == []


def test_conflicting_required_meetings_are_infeasible() -> None:
    instance = Instance(
        slots=slots_at(0, 20),
        participants=people("A", "B", "C"),
        meetings=(
            meeting("m1", "A", "B", allowed_slots=frozenset({"s1"}), required=True),
            meeting("m2", "A", "C", allowed_slots=frozenset({"s1"}), required=True),
        ),
        capacity=5,
    )
    result = solve(instance, time_limit_s=10)
    assert result.status == "infeasible" and result.assignments == {} and set(result.unscheduled) == {"m1", "m2"}
    assert result.bound is None and result.reason


def test_a_required_meeting_without_any_slot_is_infeasible() -> None:
    instance = Instance(
        slots=slots_at(0), participants=people("A", "B", B={"s1"}), meetings=(meeting("m1", "A", "B", required=True),), capacity=1
    )
    assert solve(instance, time_limit_s=5).status == "infeasible"


def test_weights_decide_which_meeting_gets_the_only_table() -> None:
    instance = Instance(
        slots=slots_at(0),
        participants=people("A", "B", "C", "D"),
        meetings=(meeting("light", "A", "B", weight=1.0), meeting("heavy", "C", "D", weight=2.5)),
        capacity=1,
    )
    result = solve(instance, time_limit_s=5)
    assert result.status == "optimal" and result.assignments == {"heavy": "s1"} and result.unscheduled == ("light",)
    assert greedy_first_come(instance).assignments == {"light": "s1"}


def test_required_beats_any_weight() -> None:
    instance = Instance(
        slots=slots_at(0),
        participants=people("A", "B", "C", "D"),
        meetings=(meeting("must", "A", "B", weight=0.1, required=True), meeting("heavy", "C", "D", weight=9.0)),
        capacity=1,
    )
    assert solve(instance, time_limit_s=5).assignments == {"must": "s1"}


def test_fairness_changes_the_answer() -> None:
    # A meets B only in s1 and C only in s3: placing both gives A a break and B, C none.
    instance = Instance(
        slots=slots_at(0, 20, 40),
        participants=people("A", "B", "C"),
        meetings=(
            meeting("ab", "A", "B", allowed_slots=frozenset({"s1"}), weight=2.0),
            meeting("ac", "A", "C", allowed_slots=frozenset({"s3"})),
        ),
        capacity=3,
    )
    free = solve(instance, time_limit_s=5)
    assert free.assignments == {"ab": "s1", "ac": "s3"} and free.breaks == {"A": 1, "B": 0, "C": 0}
    assert solve(replace(instance, fairness=1), time_limit_s=5).assignments == free.assignments
    fair = solve(replace(instance, fairness=0), time_limit_s=5)
    assert fair.status == "optimal" and fair.assignments == {"ab": "s1"} and fair.unscheduled == ("ac",)
    required = replace(instance, fairness=0, meetings=tuple(replace(m, required=True) for m in instance.meetings))
    assert solve(required, time_limit_s=5).status == "infeasible"


def test_a_gap_without_mission_slots_is_not_a_break() -> None:
    instance = Instance(
        slots=slots_at(0, 20, 300),
        participants=people("A", "B", "C"),
        meetings=(meeting("m1", "A", "B"), meeting("m2", "A", "C")),
        capacity=1,
    )
    assert count_breaks(instance, {"m1": "s2", "m2": "s3"})["A"] == 0
    assert count_breaks(instance, {"m1": "s1", "m2": "s3"})["A"] == 1


def test_capacity_per_slot_and_max_meetings_hold() -> None:
    instance = Instance(
        slots=slots_at(0, 20, 40),
        participants=(Participant("A", "Europe/Rome", max_meetings=2), *people("B", "C", "D")),
        meetings=(meeting("ab", "A", "B"), meeting("ac", "A", "C"), meeting("ad", "A", "D"), meeting("bc", "B", "C")),
        capacity={"s1": 0, "s2": 1, "s3": 2},
    )
    result = solve(instance, time_limit_s=5)
    assert violations(instance, result) == [] and len(result.assignments) == 3
    assert "s1" not in result.assignments.values()


def test_fixed_meetings_stay_even_when_it_costs_a_break() -> None:
    instance = Instance(
        slots=slots_at(0, 20, 40),
        participants=people("A", "B", "C"),
        meetings=(meeting("ab", "A", "B", fixed_slot="s1"), meeting("ac", "A", "C", fixed_slot="s3")),
        capacity=2,
    )
    result = solve(instance, time_limit_s=5)
    assert result.assignments == {"ab": "s1", "ac": "s3"} and result.total_breaks == 1 and result.status == "optimal"


def test_rescheduling_moves_only_what_must_move() -> None:
    base = Instance(
        slots=slots_at(0, 20, 40, 60),
        participants=people("A", "B", "C", "D"),
        meetings=(meeting("ab", "A", "B"), meeting("cd", "C", "D"), meeting("ac", "A", "C")),
        capacity=2,
    )
    first = solve(base, time_limit_s=5)
    assert first.total_breaks == 0
    slot_of_ab = first.assignments["ab"]
    changed = replace(
        base, participants=tuple(replace(p, forbidden_slots=frozenset({slot_of_ab})) if p.id == "B" else p for p in base.participants)
    )
    previous = {**first.assignments, "gone": "s1", "cd": "no-such-slot"}
    again = solve(changed, time_limit_s=5, previous=previous)
    assert again.moved == ("ab",)
    assert again.assignments["ac"] == first.assignments["ac"]
    assert violations(changed, again) == []


def test_confirmed_meetings_outrank_fewer_breaks() -> None:
    instance = Instance(
        slots=slots_at(0, 20, 40),
        participants=people("A", "B", "C"),
        meetings=(meeting("ab", "A", "B"), meeting("ac", "A", "C")),
        capacity=2,
    )
    kept = solve(instance, time_limit_s=5, previous={"ab": "s1", "ac": "s3"})
    assert kept.assignments == {"ab": "s1", "ac": "s3"} and kept.moved == () and kept.total_breaks == 1


def test_same_day_means_the_participants_own_local_date() -> None:
    # 06:00Z, 07:00Z and 08:00Z on 17 Nov: 22:00, 23:00 (16 Nov) and 00:00 (17 Nov) in Vancouver.
    start = datetime(2020, 11, 17, 6, 0, tzinfo=UTC)
    slots = tuple(Slot(f"s{i}", start + timedelta(hours=i), start + timedelta(hours=i, minutes=30)) for i in range(3))
    instance = Instance(
        slots=slots,
        participants=(
            Participant("van", "America/Vancouver"),
            Participant("rome", "Europe/Rome"),
            Participant("x", "Europe/Rome"),
            Participant("y", "Asia/Shanghai"),
        ),
        meetings=(meeting("m1", "van", "rome"), meeting("m2", "van", "x"), meeting("m3", "rome", "y")),
        capacity=5,
    )
    assignments = {"m1": "s0", "m2": "s2", "m3": "s2"}
    assert count_breaks(instance, assignments) == {"van": 0, "rome": 1, "x": 0, "y": 0}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda i: replace(i, slots=(*i.slots, Slot("s1", i.slots[0].end, i.slots[0].end + timedelta(minutes=5)))),
            "duplicate slot id 's1'",
        ),
        (lambda i: replace(i, slots=(*i.slots, Slot("late", DAY + timedelta(minutes=10), DAY + timedelta(minutes=30)))), "overlap"),
        (lambda i: replace(i, participants=(*i.participants, Participant("A", "UTC"))), "duplicate participant id 'A'"),
        (
            lambda i: replace(i, participants=(Participant("A", "Europe/Atlantis"), *i.participants[1:])),
            "unknown IANA time zone 'Europe/Atlantis'",
        ),
        (lambda i: replace(i, meetings=(meeting("m9", "A", "A"),)), "meeting 'm9' has participant 'A' twice"),
        (lambda i: replace(i, meetings=(meeting("m9", "A", "Z"),)), "meeting 'm9' refers to unknown participant 'Z'"),
        (lambda i: replace(i, meetings=(meeting("m9", "A", "B", fixed_slot="s7"),)), "unknown slot 's7'"),
        (lambda i: replace(i, meetings=(meeting("m9", "A", "B", allowed_slots=frozenset({"s8"})),)), "unknown slot 's8'"),
        (
            lambda i: replace(i, participants=(Participant("A", "UTC", frozenset({"s5"})), i.participants[1])),
            "participant 'A': forbidden_slots refers to unknown slot 's5'",
        ),
        (lambda i: replace(i, capacity={"s1": 1}), "capacity has no entry for slot 's2'"),
        (lambda i: replace(i, capacity={"s1": 1, "s2": 1, "s9": 1}), "capacity refers to unknown slot 's9'"),
        (
            lambda i: replace(i, slots=(Slot("s1", DAY.replace(tzinfo=None), DAY + timedelta(minutes=20)), i.slots[1])),
            "slot 's1': start has no time zone",
        ),
        (lambda i: replace(i, meetings=(meeting("m1", "A", "B", weight=float("nan")),)), "weight must be"),
    ],
)
def test_malformed_instances_are_refused_with_the_exact_problem(change, message: str) -> None:
    valid = Instance(slots=slots_at(0, 20), participants=people("A", "B"), meetings=(meeting("m1", "A", "B"),), capacity=1)
    solve(valid, time_limit_s=2)
    with pytest.raises(InstanceError, match=message.replace("(", r"\(")):
        solve(change(valid), time_limit_s=2)
