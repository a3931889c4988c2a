"""A proven lower bound on breaks for whole missions, from each participant alone.

Each participant's fewest breaks on its own (partners' agendas ignored) for each number of
its meetings placed is its curve. Placing fewer never forces more breaks (drop the last
meeting of a day), so a curve is known once it reaches 0. The curves are combined by a
linear programme over which meetings are placed: at least ``placed_at_least`` in all, none
beyond any participant's maximum matching, each participant charged the lower convex
envelope of its curve. Its optimum, rounded up, bounds the breaks of every agenda placing
that many meetings: each constraint is a relaxation of the real problem.

Measured on the 10,000-meeting benchmark (docs/benchmarks.md): 32, where each participant
keeping all it can would need 44. Overfull partners must leave meetings out and may pick
the ones that spare a break: no participant-level argument goes higher.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from services.matching.domain.instance import Indexed
from services.matching.domain.satmodel import own_minimum
from services.matching.domain.windows import most_kept

Curve = dict[int, int]
"""Meetings placed -> fewest breaks (a lower bound on them), from the most that fit down to the first 0."""

LEVEL_SECONDS = 5.0
TOLERANCE = 1e-6


def curve(ix: Indexed, p: int) -> Curve:
    """p's fewest breaks alone for each number of its meetings placed, down to the first 0."""
    mine = [k for k in ix.meetings_of[p] if ix.domains[k]]
    top = most_kept(ix, p)
    if top == len(mine) and own_minimum(ix, p, 0) == 0:
        return {top: 0}
    model, placed, breaks = _alone(ix, p, mine)
    found: Curve = {}
    for count in range(top, -1, -1):
        level = model.clone()
        level.add(placed >= count)
        level.minimize(breaks)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = LEVEL_SECONDS
        solver.parameters.num_workers = 1
        status = solver.solve(level)
        if status == cp_model.OPTIMAL:
            found[count] = round(solver.objective_value)
        elif status == cp_model.FEASIBLE:
            found[count] = max(0, math.ceil(solver.best_objective_bound - TOLERANCE))
        else:
            found[count] = 0
        if found[count] == 0:
            break
    return found


def _alone(ix: Indexed, p: int, mine: list[int]) -> tuple[cp_model.CpModel, cp_model.LinearExpr, cp_model.LinearExpr]:
    """p's meetings, each in at most one slot of its domain, p in one meeting per slot; breaks per local day."""
    model = cp_model.CpModel()
    x = {(k, t): model.new_bool_var("") for k in mine for t in ix.domains[k]}
    for k in mine:
        model.add_at_most_one(x[k, t] for t in ix.domains[k])
    busy: dict[int, cp_model.IntVar] = {}
    for t in sorted({t for k in mine for t in ix.domains[k]}):
        busy[t] = model.new_bool_var("")
        model.add(sum(x[k, t] for k in mine if (k, t) in x) == busy[t])
    starts, days_used = [], []
    by_day: dict[int, list[int]] = {}
    for t in busy:
        by_day.setdefault(ix.day_of[p][t], []).append(t)
    for slots in by_day.values():
        used = model.new_bool_var("")
        model.add(used <= sum(busy[t] for t in slots))
        days_used.append(used)
        for t in slots:
            start = model.new_bool_var("")
            before = busy.get(t - 1) if t > 0 and ix.same_day_prev[p][t] else None
            model.add(start >= busy[t] - before if before is not None else start >= busy[t])
            starts.append(start)
    return model, cp_model.LinearExpr.sum(list(x.values())), cp_model.LinearExpr.sum(starts) - cp_model.LinearExpr.sum(days_used)


def combine(ix: Indexed, curves: dict[int, Curve], placed_at_least: int, tops: list[int]) -> int:
    """The fewest breaks in all of any agenda placing ``placed_at_least`` meetings, as the curves allow.

    ``tops``: each participant's ``most_kept``. Participants without a curve count for 0.
    """
    charged = {p for p, c in curves.items() if max(c.values(), default=0) > 0}
    capped = {p for p, top in enumerate(tops) if top < sum(1 for k in ix.meetings_of[p] if ix.domains[k])}
    tight = charged | capped
    live = [k for k in range(len(ix.meeting_ids)) if ix.domains[k]]
    free = sum(1 for k in live if not tight.intersection(ix.pairs[k]))
    solver = pywraplp.Solver.CreateSolver("GLOP")
    x = {k: solver.NumVar(1.0 if ix.required[k] else 0.0, 1.0, "") for k in live if tight.intersection(ix.pairs[k])}
    solver.Add(solver.Sum(x.values()) >= placed_at_least - free)
    solver.Add(solver.Sum(x.values()) <= sum(ix.capacity) - free)
    charges = []
    for p in tight:
        held = solver.Sum([x[k] for k in ix.meetings_of[p] if k in x])
        if p in capped:
            solver.Add(held <= tops[p])
        if p in charged:
            charge = solver.NumVar(0.0, solver.infinity(), "")
            for slope, intercept in _envelope(curves[p]):
                solver.Add(charge >= intercept + slope * held)
            charges.append(charge)
    solver.Minimize(solver.Sum(charges))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return 0
    value: float = solver.Objective().Value()
    return max(0, math.ceil(value - TOLERANCE))


def _envelope(points: Curve) -> Iterable[tuple[float, float]]:
    """The lines under every point of the curve through two of them: their maximum is its lower convex envelope."""
    pts = sorted(points.items())
    for i, (k1, v1) in enumerate(pts):
        for k2, v2 in pts[i + 1 :]:
            slope = (v2 - v1) / (k2 - k1)
            if all(v >= v1 + slope * (k - k1) - TOLERANCE for k, v in pts):
                yield slope, v1 - slope * k1
