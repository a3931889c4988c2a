"""One SAT worker: fewest breaks with every placeable meeting placed, searched upward from a lower bound.

One CaDiCaL instance answers "at most K breaks?" for K = the sum of the participants' own
minima, then K + 1, ... under an assumption on a totalizer over the break literals. What
it learns refuting K carries over to K + 1, and the first satisfiable K is the optimum,
proven at once. Each refuted K is reported as it is proven, so a search stopped by the
clock still leaves a real lower bound.

A worker may first ask for any agenda at all (no bound): cheap, and the answer the
portfolio falls back on if the clock runs out before the optimum.

Or it may first ask whether everyone can sit at its own minimum (the lower bound itself)
with that said as a unit clause, not as an assumption: the solver then simplifies the
formula at the root: on the hard set's slowest instance (bk17) the race went from 18-23 s to 6 s.
If not, the search goes on from the bound + 1 in a solver of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pysat.card import EncType, ITotalizer
from pysat.solvers import Solver

from services.matching.domain.instance import Indexed
from services.matching.domain.satmodel import SOLVER, BreakModel, agenda, build, fairness, own_minimum, phases, zero_break_windows
from services.matching.domain.windows import fits

TOTALIZER_STEP = 16
"""The totalizer counts this far above the current K, and is extended when K gets there."""


@dataclass(frozen=True)
class Worker:
    name: str
    table_encoding: int = EncType.seqcounter
    seed: int = 0
    any_first: bool = False
    tight: bool = True
    tight_first: bool = False
    """Ask "everyone at its own minimum?" first, as a unit clause in a solver of its own."""
    options: tuple[tuple[str, int], ...] = ()
    """CaDiCaL options (its options.hpp), e.g. ("phase", 0)."""


@dataclass(frozen=True)
class Bound:
    """No agenda placing every placeable meeting has fewer than ``value`` breaks."""

    value: int


@dataclass(frozen=True)
class Found:
    slot_of: list[int]
    optimal: bool


@dataclass(frozen=True)
class Infeasible:
    """No agenda places every placeable meeting (under the fairness bound)."""


Message = Bound | Found | Infeasible


def applicable(ix: Indexed) -> bool:
    """Whether "every placeable meeting placed, fewest breaks" is the instance's whole question.

    Not when a meeting is required but has no possible slot (CP-SAT proves infeasibility),
    when someone has more placeable meetings than ``max_meetings`` or than slots to hold them
    (Hall's condition, per participant: cheaper than a SAT proof).
    """
    mine = [[ix.domains[k] for k in ks if ix.domains[k]] for ks in ix.meetings_of]
    if any(r and not ix.domains[k] for k, r in enumerate(ix.required)):
        return False
    if any(limit is not None and len(d) > limit for d, limit in zip(mine, ix.max_meetings, strict=True)):
        return False
    return all(fits(d, sorted({t for domain in d for t in domain})) for d in mine)


def _model(ix: Indexed, worker: Worker) -> tuple[BreakModel, int, int]:
    """The model with its implied constraints, the sum of the participants' own minima, and "tight".

    "tight" (a literal, assumed only when asking for exactly that sum) says that everyone is
    at its own minimum, which the sum implies; said outright it propagates far better.
    """
    model = build(ix, [k for k in range(len(ix.meeting_ids)) if ix.domains[k]], table_encoding=worker.table_encoding)
    cnf = model.cnf
    tight = cnf.new()
    low = 0
    for p in range(len(ix.participant_ids)):
        own = own_minimum(ix, p, limit=ix.n_slots) or 0
        low += own
        cnf.at_least(model.breaks[p], own)
        if own == 0:
            zero_break_windows(cnf, ix, p, model, tight)
        cnf.at_most(model.breaks[p], own, unless=tight)
    if ix.instance.fairness is not None:
        fairness(cnf, ix, model, ix.instance.fairness)
    return model, low, tight


def _solver(worker: Worker, clauses: list[list[int]]) -> Solver:
    solver = Solver(name=SOLVER)
    settings = dict(worker.options) | ({"seed": worker.seed} if worker.seed else {})
    if settings:
        solver.configure(settings)
    solver.append_formula(clauses)
    return solver


def search(ix: Indexed, worker: Worker, report: Callable[[Message], None], hint: list[int] | None = None) -> None:
    """Report bounds as they are proven, then the optimum (or that every meeting cannot be placed).

    ``any_first``: a first, separate solver finds any agenda (the fallback, and a quick
    answer to "can everything be placed?"); the search proper starts afresh, so that the
    phases of that first agenda, usually a poor one, do not steer it.
    """
    model, low, tight = _model(ix, worker)
    if worker.any_first:
        with _solver(worker, model.cnf.clauses) as first:
            if not first.solve():
                report(Infeasible())
                return
            report(Found(agenda(model, first.get_model() or []), optimal=False))
    if worker.tight_first:
        report(Bound(low))
        with _solver(worker, [*model.cnf.clauses, [tight]]) as first:
            if hint is not None:
                first.set_phases(phases(model, hint))
            if first.solve():
                report(Found(agenda(model, first.get_model() or []), optimal=True))
                return
        low += 1
    every = [b for lits in model.breaks for b in lits]
    counter = ITotalizer(lits=every, ubound=min(len(every), low + TOTALIZER_STEP), top_id=model.cnf.top) if every else None
    with _solver(worker, model.cnf.clauses) as solver:
        if counter is not None:
            solver.append_formula(counter.cnf.clauses)
        if hint is not None:
            solver.set_phases(phases(model, hint))
        bound = low
        report(Bound(bound))
        while True:
            assumptions: list[int] = []
            if counter is not None and bound < len(every):
                if bound >= len(counter.rhs):
                    counter.increase(ubound=min(len(every), bound + TOTALIZER_STEP))
                    solver.append_formula(counter.cnf.clauses[-counter.nof_new :])
                assumptions = [-counter.rhs[bound]]
            if bound == low and worker.tight and not worker.tight_first:
                assumptions.append(tight)
            if solver.solve(assumptions=assumptions):
                report(Found(agenda(model, solver.get_model() or []), optimal=True))
                return
            if not assumptions or assumptions == [tight]:
                report(Infeasible())
                return
            bound += 1
            report(Bound(bound))
