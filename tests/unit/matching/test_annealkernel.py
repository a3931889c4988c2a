"""The compiled annealing kernel: its prices are the real changes, its chains keep kept meetings, and its walk keeps every rule."""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.matching.domain import annealing
from services.matching.domain import annealkernel as kernel
from services.matching.domain.heuristics import answer, construct
from services.matching.domain.instance import Instance, breaks_of, index
from shared.contracts.edition_2020 import MISSIONS_2020
from tests.unit.matching.instances import apart_agenda, chain_agenda, random_mission
from tests.unit.matching.recount import recount_breaks, violations
from tests.unit.matching.test_scheduling_properties import FAST, instances


def _draw(s: kernel.State, k: int, kind: int, tick: int, mk: np.ndarray, mu: np.ndarray) -> int:
    if kind == 0:
        return int(kernel._relocation(k, s.pairs, s.dom_ptr, s.dom, s.busy, s.load, s.capacity, s.slot_of, mk, mu))
    if kind == 1:
        return int(kernel._swap(k, s.pairs, s.own_ptr, s.own, s.allowed, s.frozen, s.slot_of, s.busy, mk, mu))
    return int(
        kernel._kempe(
            k, tick, len(mk), s.pairs, s.dom_ptr, s.dom, s.allowed, s.frozen, s.slot_of, s.at, s.load, s.capacity, s.stamp, mk, mu
        )
    )


@FAST
@given(instances(max_meetings=8), st.integers(0, 2**16))
def test_a_move_priced_without_making_it_costs_what_making_it_does(instance: Instance, seed: int) -> None:
    ix = index(instance)
    s = kernel.state_of(construct(ix, {}), set(), [])
    placed = [k for k, t in enumerate(s.slot_of) if t >= 0]
    if not placed:
        return
    rng = np.random.default_rng(seed)
    kernel.seed_kernel(seed)
    mk, mu = np.empty(40, np.int64), np.empty(40, np.int64)
    for tick in range(1, 60):
        n = _draw(s, int(rng.choice(placed)), int(rng.integers(3)), tick, mk, mu)
        if n == 0:
            continue
        busy, days, total = s.busy.copy(), s.day_count.copy(), int(s.breaks.sum())
        price = kernel._price(s.pairs, s.same, s.day, s.slot_of, s.busy, s.day_count, mk, mu, n)
        assert (s.busy == busy).all() and (s.day_count == days).all(), "pricing left a mark"
        kernel._apply(s.pairs, s.same, s.day, s.slot_of, s.busy, s.at, s.day_count, s.breaks, s.load, mk, mu, n)
        assert int(s.breaks.sum()) - total == price
        assert s.breaks.tolist() == breaks_of(ix, s.slot_of.tolist())
        assert all(s.at[p, t] == k for k, t in enumerate(s.slot_of) if t >= 0 for p in ix.pairs[k])
        assert (s.load <= s.capacity).all()


def test_a_chain_moves_where_no_swap_can_and_never_moves_a_kept_meeting() -> None:
    """P meets A at 9:00 and Q at 10:00 (a break). Q is busy at 9:30 with R, R at 10:00 with S:
    moving P-Q to 9:30 needs Q-R at 10:00, which needs R-S at 9:30, where S is free."""
    agenda = chain_agenda()
    ix = agenda.ix
    pq, qr, rs = (ix.meeting_pos[m] for m in ("pq", "qr", "rs"))
    s = kernel.state_of(agenda, {pq, rs}, [])
    mk, mu = np.empty(40, np.int64), np.empty(40, np.int64)
    kernel.seed_kernel(0)
    assert all(_draw(s, qr, 2, tick, mk, mu) == 0 for tick in range(1, 50)), "a chain moved a kept meeting"
    s = kernel.state_of(agenda, set(), [])
    assert all(_draw(s, pq, kind, tick, mk, mu) == 0 for tick in range(1, 50) for kind in (0, 1))
    n = next(n for tick in range(1, 50) if (n := _draw(s, pq, 2, tick, mk, mu)))
    assert {ix.meeting_ids[k]: ix.slot_ids[t] for k, t in zip(mk[:n], mu[:n], strict=True)} == {"pq": "s1", "qr": "s2", "rs": "s1"}
    assert kernel._price(s.pairs, s.same, s.day, s.slot_of, s.busy, s.day_count, mk, mu, n) == -1


def test_the_compiled_walk_keeps_kept_meetings_and_every_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a fairness spread, ``anneal`` runs the kernel: kept meetings stay, breaks fall, a recount agrees."""
    monkeypatch.setattr(annealing, "COMPILED_FROM", 0)
    monkeypatch.setattr(annealing, "_take", None)
    kernel.warm()
    uk = next(m for m in MISSIONS_2020 if m.mission_id == "uk-2020")
    mission = uk.model_copy(
        update={"meeting_minutes": 20, "window_start": date(2020, 11, 2), "window_end": date(2020, 11, 4), "max_meetings_per_company": 12}
    )
    instance = random_mission(7, mission, lombard=40, foreign=40, requests_per_company=8, other_zones=("America/New_York", "Asia/Dubai"))
    ix = index(instance)
    agenda = construct(ix, {})
    frozen = {k for k, t in enumerate(agenda.slot_of) if t >= 0 and k % 3 == 0}
    where = {k: agenda.slot_of[k] for k in frozen}
    placed, before = {k for k, t in enumerate(agenda.slot_of) if t >= 0}, sum(agenda.breaks)
    stats = annealing.anneal(agenda, time.perf_counter() + 2.0, frozen=frozen, seed=3)
    assert stats.taken > 0 and stats.tried > 100_000, stats
    assert {k: agenda.slot_of[k] for k in frozen} == where
    assert {k for k, t in enumerate(agenda.slot_of) if t >= 0} == placed
    assert agenda.breaks == breaks_of(ix, agenda.slot_of)
    assert sum(agenda.breaks) == stats.best_breaks < before
    schedule = answer(ix, agenda, {}, 0.0, 0.0, reason="annealing")
    assert violations(instance, schedule) == []
    assert sum(recount_breaks(instance, dict(schedule.assignments)).values()) == stats.best_breaks


def test_the_compiled_walk_runs_to_the_deadline_while_breaks_remain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given minutes, the hot walk stays above where it started for long: a patience rule would
    stop it there and hand back the descent's agenda (1,435 breaks for 600 s on the benchmark).
    R and S can only meet at 9:00 and 10:00, so their two breaks stay."""
    monkeypatch.setattr(annealing, "COMPILED_FROM", 0)
    monkeypatch.setattr(annealing, "PATIENCE_PER_MEETING", 0)
    kernel.warm()
    agenda = apart_agenda()
    ix = agenda.ix
    began = time.perf_counter()
    stats = annealing.anneal(agenda, began + 1.0, seed=1)
    assert time.perf_counter() - began >= 1.0
    assert stats.best_breaks == sum(agenda.breaks) == 2 == sum(breaks_of(ix, agenda.slot_of))
