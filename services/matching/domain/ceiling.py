"""The most a placement can be worth, from each participant alone: a bound that lets CP-SAT prove placement.

CP-SAT's own bound on the placement phase is slow to close on whole missions (india-2020
stayed unproven after 30 s). A relaxation settles it: no participant holds more meetings
than ``max_meetings``, nor more than a maximum matching of its meetings into their slots;
no more meetings than table-slots in all. That small problem (a b-matching) is solved
exactly in milliseconds; its optimum bounds the real one, and when CP-SAT reaches it, the
placement is proven and the phase stops. (Added to the model as a constraint instead, it
slowed the placement phase of three 2020 missions about twofold.)
"""

from __future__ import annotations

from ortools.sat.python import cp_model

from services.matching.domain.instance import Indexed
from services.matching.domain.windows import most_kept

SECONDS = 2.0
WEIGHT_SCALE = 1_000_000
"""The heaviest meeting is worth this many units: CP-SAT objectives are integral."""


def integral_weights(ix: Indexed) -> list[int]:
    heaviest = max(ix.weights, default=0.0)
    if heaviest <= 0:
        return [0] * len(ix.weights)
    return [max(1, round(w / heaviest * WEIGHT_SCALE)) if w > 0 else 0 for w in ix.weights]


def placement_ceiling(ix: Indexed, weights: list[int], optional: list[int]) -> int:
    """An upper bound on the weight of the ``optional`` meetings placed beside every required one."""
    live = [k for k in range(len(ix.meeting_ids)) if ix.domains[k]]
    model = cp_model.CpModel()
    chosen = {k: model.new_bool_var("") for k in live}
    for p, meetings in enumerate(ix.meetings_of):
        mine = [k for k in meetings if ix.domains[k]]
        most = most_kept(ix, p)
        if most < len(mine):
            model.add(sum(chosen[k] for k in mine) <= most)
    model.add(sum(chosen.values()) <= sum(ix.capacity))
    for k in live:
        if ix.required[k]:
            model.add(chosen[k] == 1)
    model.maximize(sum(weights[k] * chosen[k] for k in optional))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = SECONDS
    solver.parameters.num_workers = 1
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return sum(weights[k] for k in optional)
    return int(solver.best_objective_bound + 1e-6)


class StopAtCeiling(cp_model.CpSolverSolutionCallback):
    """Ends a maximisation as soon as a solution is worth ``ceiling``: nothing can be worth more."""

    def __init__(self, ceiling: int) -> None:
        super().__init__()
        self.ceiling = ceiling

    def on_solution_callback(self) -> None:
        if self.objective_value >= self.ceiling - 1e-6:
            self.stop_search()
