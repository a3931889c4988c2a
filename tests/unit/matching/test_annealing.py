"""Simulated annealing: it walks past descent's local optima and never breaks a rule on the way."""

from __future__ import annotations

import dataclasses
import random
import time
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.matching.domain import scheduling
from services.matching.domain.annealing import _apply, _kempe, _relocation, _swap, anneal
from services.matching.domain.heuristics import Agenda, answer, construct, improve
from services.matching.domain.instance import Instance, breaks_of, index
from shared.contracts.edition_2020 import MISSIONS_2020
from tests.unit.matching.instances import apart_agenda, chain_agenda, random_mission
from tests.unit.matching.recount import recount_breaks, violations
from tests.unit.matching.test_scheduling_properties import FAST, instances


def _placed(slot_of: list[int]) -> set[int]:
    return {k for k, t in enumerate(slot_of) if t >= 0}


@FAST
@given(instances(max_meetings=8))
def test_it_keeps_every_rule_the_same_meetings_and_never_ends_worse(instance: Instance) -> None:
    ix = index(instance)
    agenda = construct(ix, {})
    placed, breaks, excess = _placed(agenda.slot_of), sum(agenda.breaks), agenda.fairness_excess()
    stats = anneal(agenda, time.perf_counter() + 0.02, seed=1)
    assert _placed(agenda.slot_of) == placed
    assert sum(agenda.breaks) == stats.best_breaks <= breaks
    assert agenda.breaks == breaks_of(ix, agenda.slot_of), "the incremental counts drifted from a recount"
    assert agenda.fairness_excess() <= excess
    schedule = answer(ix, agenda, {}, 0.0, 0.0, reason="annealing")
    assert violations(instance, schedule) == []
    assert sum(recount_breaks(instance, dict(schedule.assignments)).values()) == stats.best_breaks


@FAST
@given(instances(max_meetings=8), st.integers(0, 2**16))
def test_a_move_priced_without_making_it_costs_what_making_it_does(instance: Instance, seed: int) -> None:
    ix = index(instance)
    agenda = construct(ix, {})
    rng = random.Random(seed)
    allowed = [frozenset(d) for d in ix.domains]
    placed = sorted(_placed(agenda.slot_of))
    for _ in range(30):
        if not placed:
            return
        k = rng.choice(placed)
        move = rng.choice([_kempe, _swap])(agenda, k, rng, allowed, set()) if rng.random() < 0.7 else _relocation(agenda, k, rng)
        if move is None:
            continue
        busy, days = [bytes(b) for b in agenda.busy], _day_counts(agenda)
        price, total = agenda.price(move), sum(agenda.breaks)
        assert [bytes(b) for b in agenda.busy] == busy and _day_counts(agenda) == days
        _apply(agenda, move)
        assert sum(agenda.breaks) - total == price
        assert agenda.breaks == breaks_of(ix, agenda.slot_of)


def _day_counts(agenda: Agenda) -> list[dict[int, int]]:
    """Meetings per participant and day; a day counted 0 is a day without meetings (a defaultdict's trace)."""
    return [{d: n for d, n in counts.items() if n} for counts in agenda.day_count]


def _mission(window: tuple[date, date], zones: tuple[str, ...], seed: int = 4) -> Instance:
    """Rome firms and partners in other zones, across a DST switch when the window holds one."""
    uk = next(m for m in MISSIONS_2020 if m.mission_id == "uk-2020")
    mission = uk.model_copy(
        update={"meeting_minutes": 20, "window_start": window[0], "window_end": window[1], "max_meetings_per_company": 12}
    )
    return random_mission(seed, mission, lombard=40, foreign=40, requests_per_company=8, other_zones=zones)


def test_it_goes_below_the_local_optimum_of_single_moves_across_dst() -> None:
    """Europe leaves summer time on 25 October 2020, New York on 1 November: the window holds both.

    Descent stops where every single move adds a break; annealing must go well below it,
    with breaks recounted in each participant's own zone by the independent checker.
    """
    instance = _mission((date(2020, 10, 23), date(2020, 11, 3)), ("America/New_York", "Asia/Dubai", "Asia/Kolkata"))
    ix = index(instance)
    agenda = construct(ix, {})
    improve(agenda, time.perf_counter() + 5.0)
    placed, descent = _placed(agenda.slot_of), sum(agenda.breaks)
    stats = anneal(agenda, time.perf_counter() + 3.0, seed=2)
    assert _placed(agenda.slot_of) == placed
    assert stats.best_breaks <= 0.7 * descent, (descent, stats)
    schedule = answer(ix, agenda, {}, 0.0, 0.0, reason="annealing")
    assert violations(instance, schedule) == []
    assert sum(recount_breaks(instance, dict(schedule.assignments)).values()) == stats.best_breaks


def test_frozen_meetings_stay_and_so_does_the_fairness_spread() -> None:
    instance = _mission((date(2020, 11, 2), date(2020, 11, 4)), ("America/New_York", "Asia/Dubai"), seed=7)
    instance = dataclasses.replace(instance, fairness=1)
    ix = index(instance)
    agenda = construct(ix, {})
    frozen = {k for k in _placed(agenda.slot_of) if k % 3 == 0}
    where = {k: agenda.slot_of[k] for k in frozen}
    excess = agenda.fairness_excess()
    stats = anneal(agenda, time.perf_counter() + 2.0, frozen=frozen, seed=3)
    assert stats.taken > 0
    assert {k: agenda.slot_of[k] for k in frozen} == where
    assert agenda.fairness_excess() <= excess


def test_solve_answers_above_the_exact_limit_keeping_published_meetings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path the 10,000-meeting benchmark takes, on a mission small enough to check by hand."""
    monkeypatch.setattr(scheduling, "EXACT_UP_TO_LITERALS", 10)
    instance = _mission((date(2020, 11, 2), date(2020, 11, 4)), ("America/New_York", "Asia/Dubai"), seed=9)
    first = scheduling.solve(instance, time_limit_s=3)
    assert first.solver == "heuristic" and first.status == "feasible", first.reason
    assert violations(instance, first) == []
    assert "of the ceiling" in first.reason
    kept = dict(list(first.assignments.items())[::4])
    again = scheduling.solve(instance, time_limit_s=3, previous=kept)
    assert all(again.assignments.get(m) == s for m, s in kept.items())
    assert violations(instance, again) == []
    assert again.total_breaks == sum(recount_breaks(instance, dict(again.assignments)).values())


def test_it_does_not_buy_fewer_breaks_with_a_wider_fairness_spread() -> None:
    """P and Q could lose their break, but R and S cannot (their meetings may only sit apart):
    with fairness 0 the four keep one break each."""
    agenda = apart_agenda(fairness=0)
    anneal(agenda, time.perf_counter() + 1.0, seed=4)
    assert agenda.breaks == [1, 1, 1, 1]


def test_a_chain_of_displaced_meetings_moves_where_no_single_move_or_swap_can() -> None:
    """P meets A at 9:00 and Q at 10:00 (a break). Q is busy at 9:30 with R, R at 10:00 with S:
    moving P-Q to 9:30 needs Q-R at 10:00, which needs R-S at 9:30, where S is free."""
    agenda = chain_agenda()
    ix = agenda.ix
    pq = ix.meeting_pos["pq"]
    allowed = [frozenset(d) for d in ix.domains]
    rng = random.Random(0)
    assert all(_swap(agenda, pq, rng, allowed, set()) is None for _ in range(50))
    assert not agenda.fits(pq, 1)
    move = next(m for _ in range(50) if (m := _kempe(agenda, pq, rng, allowed, set())) is not None)
    assert {ix.meeting_ids[k]: ix.slot_ids[t] for k, t in move} == {"pq": "s1", "qr": "s2", "rs": "s1"}
    _apply(agenda, move)
    assert agenda.breaks == breaks_of(ix, agenda.slot_of) == [0, 0, 0, 0, 0]
    kept = {ix.meeting_pos["pq"], ix.meeting_pos["rs"]}
    assert all(_kempe(agenda, ix.meeting_pos["qr"], rng, allowed, kept) is None for _ in range(50)), "a chain moved a kept meeting"
