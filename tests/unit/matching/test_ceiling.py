"""The placement ceiling: never below the best placement (CP-SAT is held under it), and reached on real missions."""

from __future__ import annotations

import itertools

from hypothesis import given, settings

from services.matching.domain.ceiling import integral_weights, placement_ceiling
from services.matching.domain.instance import Instance, index, make_schedule
from services.matching.domain.scheduling import solve
from shared.contracts.edition_2020 import MISSIONS_2020
from tests.unit.matching.instances import random_mission
from tests.unit.matching.recount import violations
from tests.unit.matching.test_scheduling_properties import FAST, instances

INDIA = next(m for m in MISSIONS_2020 if m.mission_id == "india-2020")


def _best_placement(instance: Instance, weights: list[int], optional: list[int]) -> int | None:
    """The most valuable placement meeting every hard rule, by enumerating every agenda; None if there is none."""
    ix = index(instance)
    best = None
    for choice in itertools.product(*([-1, *ix.domains[k]] for k in range(len(ix.meeting_ids)))):
        schedule = make_schedule(ix, list(choice), status="feasible", solver="sat", bound=None, started=0, now=0, previous={})
        if not violations(instance, schedule):
            value = sum(weights[k] for k in optional if choice[k] >= 0)
            best = value if best is None else max(best, value)
    return best


@settings(FAST, max_examples=80)
@given(instances(max_meetings=4, max_slots=4))
def test_the_ceiling_is_never_below_the_best_placement(instance: Instance) -> None:
    ix = index(instance)
    weights = integral_weights(ix)
    optional = [k for k, r in enumerate(ix.required) if not r and ix.domains[k]]
    best = _best_placement(instance, weights, optional)
    if best is not None:
        assert placement_ceiling(ix, weights, optional) >= best


def test_a_mission_where_not_everything_fits_is_proven_whole() -> None:
    """India 2020: foreign firms asked by more Lombard firms than ``max_meetings`` allows.

    CP-SAT's own bound left this placement unproven within 30 s; under the ceiling it is
    proven, and with it the agenda (no break).
    """
    instance = random_mission(1, INDIA, 40, 40, 6)
    ix = index(instance)
    weights = integral_weights(ix)
    optional = [k for k, r in enumerate(ix.required) if not r and ix.domains[k]]
    answer = solve(instance, time_limit_s=30)
    assert answer.solver == "cp-sat" and answer.status == "optimal", answer.reason
    assert answer.total_breaks == 0 and len(answer.unscheduled) > 0
    placed = {ix.meeting_pos[m] for m in answer.assignments}
    assert sum(weights[k] for k in optional if k in placed) == placement_ceiling(ix, weights, optional)
    assert violations(instance, answer) == []
