"""The exact scheduler: one CP-SAT model, solved in lexicographic phases.

Phases: (1) most valuable set of meetings placed, proven also on reaching ``ceiling``'s bound,
(2) fewest previously placed meetings moved, (3) fewest breaks. Each phase's optimum (or best found
when time runs out) is fixed before the next: every phase keeps a tight bound of its own, unlike big-M.

Breaks are modelled per participant and local day as "blocks of consecutive busy slots
minus one if the day is busy", with exact (two-sided) channelling, so a break count can
never be inflated to satisfy the fairness bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ortools.sat.python import cp_model

from services.matching.domain.ceiling import StopAtCeiling, integral_weights, placement_ceiling
from services.matching.domain.instance import Indexed, Schedule, Status, breaks_of, is_complete, make_schedule

if TYPE_CHECKING:
    from services.matching.domain.polish import Polished

IDEAL_PROBE_SHARE = 0.15
"""Share of the time limit the solver may spend looking for a perfect agenda before optimising."""


@dataclass
class _Model:
    model: cp_model.CpModel
    x: list[dict[int, cp_model.IntVar]]
    placed: list[cp_model.LinearExpr | int]
    """Per meeting, an expression worth 1 when it is placed (the constant 0 when it has no possible slot)."""
    participant_breaks: list[cp_model.LinearExpr | int]
    break_literals: list[cp_model.IntVar]


def _busy_literal(model: cp_model.CpModel, lits: list[cp_model.IntVar]) -> cp_model.IntVar:
    if len(lits) == 1:
        return lits[0]
    busy = model.new_bool_var("")
    model.add(sum(lits) == busy)
    return busy


def day_breaks(model: cp_model.CpModel, chain: list[cp_model.IntVar | None]) -> list[cp_model.IntVar]:
    """One literal per break in a local day: a block starts at t while an earlier slot was busy.

    ``chain`` is the day's slots in time order, None where the participant can never be
    busy. ``seen`` is the prefix-or of busy. Every literal is channelled both ways (exact),
    so a break count can never be inflated to meet the fairness bound; a sum of literals
    also suits CP-SAT's core-based workers, which prove the lower bound.
    """
    breaks: list[cp_model.IntVar] = []
    seen: cp_model.IntVar | None = None
    previous: cp_model.IntVar | None = None
    for busy in chain:
        if busy is not None:
            if seen is not None:
                brk = model.new_bool_var("")
                model.add_implication(brk, busy)
                model.add_implication(brk, seen)
                reasons = [brk, busy.Not(), seen.Not()]
                if previous is not None:
                    model.add_implication(brk, previous.Not())
                    reasons.append(previous)
                model.add_bool_or(reasons)
                breaks.append(brk)
                now_seen = model.new_bool_var("")
                model.add_implication(seen, now_seen)
                model.add_implication(busy, now_seen)
                model.add_bool_or([seen, busy, now_seen.Not()])
                seen = now_seen
            else:
                seen = busy
        previous = busy
    return breaks


def build(ix: Indexed) -> _Model:
    model = cp_model.CpModel()
    n_slots = ix.n_slots
    x = [{t: model.new_bool_var(f"x{k}_{t}") for t in ix.domains[k]} for k in range(len(ix.meeting_ids))]
    placed: list[cp_model.LinearExpr | int] = []
    for k, lits in enumerate(x):
        if ix.required[k]:
            model.add_exactly_one(lits.values())
        elif len(lits) > 1:
            model.add_at_most_one(lits.values())
        placed.append(sum(lits.values()))
    by_slot: list[list[cp_model.IntVar]] = [[] for _ in range(n_slots)]
    for lits in x:
        for t, lit in lits.items():
            by_slot[t].append(lit)
    for t, in_slot in enumerate(by_slot):
        if len(in_slot) > ix.capacity[t]:
            model.add(sum(in_slot) <= ix.capacity[t])
    participant_breaks: list[cp_model.LinearExpr | int] = []
    break_literals: list[cp_model.IntVar] = []
    for p, meetings in enumerate(ix.meetings_of):
        at: list[list[cp_model.IntVar]] = [[] for _ in range(n_slots)]
        for k in meetings:
            for t, lit in x[k].items():
                at[t].append(lit)
        for at_slot in at:
            if len(at_slot) > 1:
                model.add_at_most_one(at_slot)
        limit = ix.max_meetings[p]
        if limit is not None and len(meetings) > limit:
            model.add(sum(placed[k] for k in meetings) <= limit)
        busy = [_busy_literal(model, at_slot) if at_slot else None for at_slot in at]
        literals: list[cp_model.IntVar] = []
        chain: list[cp_model.IntVar | None] = []
        for t in range(n_slots):
            if not ix.same_day_prev[p][t] and chain:
                literals += day_breaks(model, chain)
                chain = []
            chain.append(busy[t])
        if chain:
            literals += day_breaks(model, chain)
        break_literals += literals
        participant_breaks.append(sum(literals))
    fairness = ix.instance.fairness
    if fairness is not None and ix.participant_ids:
        counts = []
        for p, expr in enumerate(participant_breaks):
            var = model.new_int_var(0, n_slots, f"breaks{p}")
            model.add(var == expr)
            counts.append(var)
        low, high = model.new_int_var(0, n_slots, "low"), model.new_int_var(0, n_slots, "high")
        model.add_min_equality(low, counts)
        model.add_max_equality(high, counts)
        model.add(high - low <= fairness)
    return _Model(model, x, placed, participant_breaks, break_literals)


@dataclass
class _Solution:
    value: float
    bound: float
    slot_of: list[int]


@dataclass
class _Phase:
    status: cp_model.CpSolverStatus
    solution: _Solution | None
    """None when the phase found no agenda (infeasible, or out of time)."""


class LexicographicSolver:
    def __init__(self, ix: Indexed, workers: int, deadline: float, on_solution: Callable[[], None]) -> None:
        self.ix = ix
        self.built = build(ix)
        self.workers = workers
        self.deadline = deadline
        self.on_solution = on_solution
        self.all_optimal = True
        self.reasons: list[str] = []

    def hint(self, slot_of: list[int]) -> None:
        self.built.model.clear_hints()
        for k, lits in enumerate(self.built.x):
            for t, lit in lits.items():
                self.built.model.add_hint(lit, slot_of[k] == t)

    def ideal(self, optional: list[int], kept: Mapping[int, int], share: float) -> list[int] | None:
        """An agenda reaching every phase's ideal at once (all placed, none moved, no break), if one is found quickly.

        On real missions this is common and, as a pure satisfaction problem with every
        break literal fixed to false, it propagates far better than the optimisation.
        """
        probe = self.built.model.clone()

        def var(lit: cp_model.IntVar) -> cp_model.IntVar:
            return probe.get_bool_var_from_proto_index(lit.index)

        for k in optional:
            probe.add_exactly_one(var(lit) for lit in self.built.x[k].values())
        for k, t in kept.items():
            if t in self.built.x[k]:
                probe.add(var(self.built.x[k][t]) == 1)
        for lit in self.built.break_literals:
            probe.add(var(lit) == 0)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.05, self.deadline - time.perf_counter()) * share
        solver.parameters.num_workers = self.workers
        solver.parameters.random_seed = 7
        if solver.solve(probe) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        self.on_solution()
        return [next((t for t, lit in lits.items() if solver.boolean_value(var(lit))), -1) for lits in self.built.x]

    def run(self, name: str, objective: cp_model.LinearExprT, share: float, maximize: bool = False, ceiling: int | None = None) -> _Phase:
        model = self.built.model
        if maximize:
            model.maximize(objective)
        else:
            model.minimize(objective)
        solver = cp_model.CpSolver()
        remaining = max(0.05, self.deadline - time.perf_counter())
        solver.parameters.max_time_in_seconds = remaining * share
        solver.parameters.num_workers = self.workers
        solver.parameters.random_seed = 7
        status = solver.solve(model, None if ceiling is None else StopAtCeiling(ceiling))
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return _Phase(status, None)
        if ceiling is not None and solver.objective_value >= ceiling - 1e-6:
            status = cp_model.OPTIMAL
        self.on_solution()
        if status != cp_model.OPTIMAL:
            self.all_optimal = False
            self.reasons.append(f"{name}: time limit reached before proving optimality")
        slot_of = [next((t for t, lit in lits.items() if solver.boolean_value(lit)), -1) for lits in self.built.x]
        return _Phase(status, _Solution(solver.objective_value, solver.best_objective_bound, slot_of))


def solve_cpsat(
    ix: Indexed,
    *,
    previous: Mapping[int, int],
    hint: list[int],
    time_limit_s: float,
    workers: int,
    started: float,
    first_solution: float | None,
    polish: Callable[[Indexed, list[int], float], Polished | None] | None = None,
) -> Schedule | None:
    """The lexicographic CP-SAT answer, or None when no agenda was found in time (caller falls back).

    ``polish(ix, agenda, deadline)``: another solver's fewest breaks for the meetings placed, tried
    before the break phase; given only when not every meeting fits, so the ideal probe is skipped."""
    first = [first_solution]

    def seen() -> None:
        if first[0] is None:
            first[0] = time.perf_counter()

    lex = LexicographicSolver(ix, workers, started + time_limit_s, seen)
    model, built = lex.built.model, lex.built
    hint_ok = is_complete(ix, hint)
    current = hint if hint_ok else None
    if hint_ok:
        lex.hint(hint)

    def answer(slot_of: list[int], status: Status, bound: float | None, extra: str = "") -> Schedule:
        reason = "; ".join([*lex.reasons, *([extra] if extra else [])])
        return make_schedule(
            ix,
            slot_of,
            status=status,
            solver="cp-sat",
            bound=bound,
            started=started,
            now=time.perf_counter(),
            previous=previous,
            first_solution=first[0],
            reason=reason,
        )

    def no_solution(phase: _Phase) -> Schedule | None:
        if phase.status == cp_model.INFEASIBLE:
            return answer(
                [-1] * len(ix.meeting_ids), "infeasible", None, "no agenda meets every hard constraint (required meetings, fairness)"
            )
        return None

    optional = [k for k, r in enumerate(ix.required) if not r and ix.domains[k]]
    weights = integral_weights(ix)
    hint_is_ideal = (
        hint_ok
        and all(t >= 0 for k, t in enumerate(hint) if ix.domains[k])
        and all(hint[k] == t for k, t in previous.items() if t in built.x[k])
        and sum(breaks_of(ix, hint)) == 0
    )
    ideal = hint if hint_is_ideal else None if polish is not None else lex.ideal(optional, previous, IDEAL_PROBE_SHARE)
    if ideal is not None:
        return answer(ideal, "optimal", 0.0)
    all_placed_by_hint = current is not None and all(current[k] >= 0 for k in optional)
    if optional and not all_placed_by_hint:
        value = sum(weights[k] * built.placed[k] for k in optional)
        phase = lex.run("placement", value, 0.4 if previous else 0.5, maximize=True, ceiling=placement_ceiling(ix, weights, optional))
        if phase.solution is None:
            return no_solution(phase)
        current = phase.solution.slot_of
        if all(current[k] >= 0 for k in optional):
            for k in optional:
                model.add(built.placed[k] == 1)
        else:
            model.add(value >= round(phase.solution.value))
        lex.hint(current)
    elif optional:
        for k in optional:
            model.add(built.placed[k] == 1)
    kept = [built.x[k][t] for k, t in previous.items() if t in built.x[k]]
    if kept:
        if current is not None and sum(1 for k, t in previous.items() if current[k] == t) == len(kept):
            for lit in kept:
                model.add(lit == 1)
        else:
            moved = len(kept) - sum(kept)
            phase = lex.run("moves", moved, 0.5)
            if phase.solution is None:
                return no_solution(phase)
            current = phase.solution.slot_of
            model.add(moved <= round(phase.solution.value))
            lex.hint(current)
    if polish is not None and not previous and current is not None:
        better = polish(ix, current, lex.deadline)
        if better is not None and better.breaks == 0:
            return answer(better.slot_of, "optimal" if lex.all_optimal else "feasible", 0.0)
        if better is not None and better.breaks < sum(breaks_of(ix, current)):
            current = better.slot_of
            lex.hint(current)
            model.add(sum(built.participant_breaks) <= better.breaks)
    total_breaks = sum(built.participant_breaks)
    phase = lex.run("breaks", total_breaks, 1.0)
    if phase.solution is None:
        if phase.status == cp_model.INFEASIBLE:
            return no_solution(phase)
        if current is None:
            return None
        lex.all_optimal = False
        return answer(current, "feasible", None, "breaks: no improvement found before the time limit")
    best = phase.solution
    bound = float(math.ceil(best.bound - 1e-6))
    assert sum(breaks_of(ix, best.slot_of)) == round(best.value), "break model and recount disagree"
    return answer(best.slot_of, "optimal" if lex.all_optimal else "feasible", bound)
