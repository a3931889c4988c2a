"""Fewest breaks for the meetings CP-SAT chose: annealing, then the SAT race, on whole missions where not everything fits.

Proven answers are checked against every agenda of the same meetings, enumerated; the
mission-shaped case is one CP-SAT alone leaves with 25 breaks after 20 s (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from hypothesis import given, settings

from services.matching.domain import polish
from services.matching.domain.instance import Instance, index, make_schedule
from services.matching.domain.polish import fewest_breaks_for
from services.matching.domain.satsearch import applicable
from services.matching.domain.scheduling import solve
from shared.contracts.edition_2020 import MISSIONS_2020
from tests.unit.matching.instances import random_mission
from tests.unit.matching.recount import recount_breaks, violations
from tests.unit.matching.test_sat_search import _by_enumeration, tiny_instances

RUSSIA = next(m for m in MISSIONS_2020 if m.mission_id == "russia-2020")


@settings(max_examples=60, deadline=None)
@given(tiny_instances())
def test_the_same_meetings_with_the_fewest_breaks(instance: Instance) -> None:
    ix = index(instance)
    chosen = solve(instance, time_limit_s=30, sat=False)
    if chosen.status == "infeasible" or not chosen.assignments:
        return
    slot_of = [ix.slot_pos[chosen.assignments[m]] if m in chosen.assignments else -1 for m in ix.meeting_ids]
    polished = fewest_breaks_for(ix, slot_of, time.perf_counter() + 40)
    assert polished is not None and polished.proven
    assert [t >= 0 for t in polished.slot_of] == [t >= 0 for t in slot_of]
    agenda = make_schedule(ix, polished.slot_of, status="feasible", solver="sat", bound=None, started=0, now=0, previous={})
    assert violations(instance, agenda) == []
    assert polished.breaks == sum(recount_breaks(instance, dict(agenda.assignments)).values())
    only_those = dataclasses.replace(
        instance,
        meetings=tuple(dataclasses.replace(m, required=True) for m in instance.meetings if m.id in chosen.assignments),
    )
    assert polished.breaks == _by_enumeration(only_those)
    assert polished.breaks <= chosen.total_breaks


def test_a_mission_where_not_everything_fits_gets_an_agenda_without_breaks() -> None:
    instance = random_mission(5, RUSSIA, 15, 15, 8, days=2)
    assert not applicable(index(instance)), "some firm has more requests than its slots or max_meetings hold"
    began = time.perf_counter()
    answer = solve(instance, time_limit_s=60)
    assert answer.solver == "cp-sat" and answer.status == "optimal", answer.reason
    assert answer.total_breaks == 0 and answer.gap == 0.0
    assert violations(instance, answer) == []
    assert sum(recount_breaks(instance, dict(answer.assignments)).values()) == 0
    assert time.perf_counter() - began < 30


def test_re_scheduling_keeps_to_cpsat() -> None:
    """With a published agenda, fewest moves outranks breaks: the race, which ignores moves, stays out."""
    instance = random_mission(5, RUSSIA, 15, 15, 8, days=2)
    first = solve(instance, time_limit_s=60)
    kept = dict(list(first.assignments.items())[:20])
    again = solve(instance, time_limit_s=10, previous=kept)
    assert all(again.assignments.get(m) == s for m, s in kept.items())
    assert violations(instance, again) == []


def test_annealing_goes_first_and_a_break_free_agenda_needs_no_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same mission's CP-SAT agenda has breaks; annealing alone removes them, so the race never starts."""
    instance = random_mission(5, RUSSIA, 15, 15, 8, days=2)
    ix = index(instance)
    chosen = solve(instance, time_limit_s=5, sat=False)
    assert chosen.total_breaks > 0
    slot_of = [ix.slot_pos[chosen.assignments[m]] if m in chosen.assignments else -1 for m in ix.meeting_ids]

    def no_race(*args: object, **kwargs: object) -> None:
        raise AssertionError("the race started although annealing should have left no break")

    monkeypatch.setattr(polish, "race", no_race)
    polished = fewest_breaks_for(ix, slot_of, time.perf_counter() + 20)
    assert polished is not None and polished.breaks == 0 and polished.proven
    assert [t >= 0 for t in polished.slot_of] == [t >= 0 for t in slot_of]
    agenda = make_schedule(ix, polished.slot_of, status="feasible", solver="sat", bound=None, started=0, now=0, previous={})
    assert violations(instance, agenda) == []
    assert sum(recount_breaks(instance, dict(agenda.assignments)).values()) == 0
