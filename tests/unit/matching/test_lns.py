"""Large-neighbourhood search: each step is exact on its neighbourhood and never makes the agenda worse."""

from __future__ import annotations

import time
from pathlib import Path

from services.matching.domain.heuristics import answer, construct
from services.matching.domain.instance import breaks_of, index
from services.matching.domain.lns import search
from services.matching.offline import parse
from tests.unit.matching.recount import recount_breaks, violations

BROKERAGE = Path(__file__).parents[3] / "bench" / "brokerage" / "instances"


def test_the_search_only_improves_and_keeps_every_rule() -> None:
    instance, _ = parse((BROKERAGE / "bk13-70x300-20.json").read_bytes())
    ix = index(instance)
    agenda = construct(ix, {})
    placed_before = sum(t >= 0 for t in agenda.slot_of)
    breaks_before = sum(agenda.breaks)
    began = time.perf_counter()
    stats = search(agenda, began + 4.0, seed=3)
    assert stats.steps > 5 and stats.improved > 0
    assert sum(agenda.breaks) < breaks_before
    assert sum(t >= 0 for t in agenda.slot_of) >= placed_before
    assert agenda.breaks == breaks_of(ix, agenda.slot_of), "the incremental counts drifted from a recount"
    schedule = answer(ix, agenda, {}, began, began, reason="lns")
    assert violations(instance, schedule) == []
    assert sum(recount_breaks(instance, dict(schedule.assignments)).values()) == sum(agenda.breaks)


def test_frozen_meetings_stay_where_they_are() -> None:
    instance, _ = parse((BROKERAGE / "bk05-52x240-22.json").read_bytes())
    ix = index(instance)
    agenda = construct(ix, {})
    frozen = {k for k, t in enumerate(agenda.slot_of) if t >= 0 and k % 3 == 0}
    where = {k: agenda.slot_of[k] for k in frozen}
    search(agenda, time.perf_counter() + 2.0, frozen=frozen, seed=1)
    assert {k: agenda.slot_of[k] for k in frozen} == where
