"""The break model in CNF: every placeable meeting placed, breaks as literals, and the implied constraints.

The model (after Bofill et al., JAIR 2022, and the measurements in docs/scheduling.md):
one Boolean per (meeting, allowed slot), a busy literal per participant and slot, and one
literal per break (busy at s, free at s+1, busy again later that local day), channelled
both ways. Implied constraints that make the proofs short: each participant's busy slots
number its meetings, also within each of its meetings' domains (Hall's bounds); at most
2 x tables busy participants per slot; each participant's own fewest breaks; a
participant with no break sits in one of its feasible windows.

``satsearch`` asks it "at most K breaks?" for K upward from the lower bound.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from pysat.card import CardEnc, EncType, ITotalizer
from pysat.solvers import Solver

from services.matching.domain.instance import Indexed
from services.matching.domain.windows import feasible_windows

SOLVER = "cadical195"


@dataclass
class Cnf:
    """Clauses and a variable counter, with the cardinality encodings the model needs."""

    clauses: list[list[int]] = field(default_factory=list)
    top: int = 0

    def new(self) -> int:
        self.top += 1
        return self.top

    def add(self, clause: list[int]) -> None:
        self.clauses.append(clause)

    def add_all(self, clauses: list[list[int]]) -> None:
        self.clauses.extend(clauses)

    def at_most(self, lits: list[int], bound: int, encoding: int | None = None, *, unless: int | None = None) -> None:
        """At most ``bound`` of ``lits`` true; only when ``unless`` is true, if it is given."""
        if len(lits) <= bound:
            return
        guard = [] if unless is None else [-unless]
        if bound == 0:
            self.clauses.extend([*guard, -lit] for lit in lits)
            return
        if encoding is None:
            encoding = EncType.pairwise if bound == 1 and len(lits) <= 5 else EncType.seqcounter
        cnf = CardEnc.atmost(lits, bound=bound, top_id=self.top, encoding=encoding)
        self.clauses.extend([*guard, *clause] for clause in cnf.clauses)
        self.top = max(self.top, cnf.nv)

    def at_least(self, lits: list[int], bound: int, *, unless: int | None = None) -> None:
        """At least ``bound`` of ``lits`` true; only when ``unless`` is true, if it is given."""
        guard = [] if unless is None else [-unless]
        if bound <= 0:
            return
        if bound > len(lits):
            self.add(guard)
            return
        if bound == 1:
            self.add([*guard, *lits])
            return
        cnf = CardEnc.atleast(lits, bound=bound, top_id=self.top, encoding=EncType.seqcounter)
        self.clauses.extend([*guard, *clause] for clause in cnf.clauses)
        self.top = max(self.top, cnf.nv)


@dataclass
class BreakModel:
    cnf: Cnf
    x: list[dict[int, int]]
    busy: list[list[int | None]]
    breaks: list[list[int]]
    """Per participant, its break literals."""


def _or(cnf: Cnf, lits: list[int]) -> int:
    """A literal equal to the disjunction of ``lits`` (at least one)."""
    if len(lits) == 1:
        return lits[0]
    out = cnf.new()
    for lit in lits:
        cnf.add([-lit, out])
    cnf.add([-out, *lits])
    return out


def _day_breaks(cnf: Cnf, chain: list[int | None]) -> list[int]:
    """One literal per break of one local day: busy at i, free at i+1, busy again later."""
    later: list[int | None] = [None] * (len(chain) + 1)
    for i in range(len(chain) - 1, -1, -1):
        here, after = chain[i], later[i + 1]
        later[i] = after if here is None else (here if after is None else _or(cnf, [here, after]))
    breaks = []
    for i in range(len(chain) - 1):
        here, following, rest = chain[i], chain[i + 1], later[i + 2]
        if here is None or rest is None:
            continue
        brk = cnf.new()
        cnf.add([-brk, here])
        cnf.add([-brk, rest])
        reasons = [brk, -here, -rest]
        if following is not None:
            cnf.add([-brk, -following])
            reasons.append(following)
        cnf.add(reasons)
        breaks.append(brk)
    return breaks


def _chains(ix: Indexed, p: int, busy: list[int | None]) -> list[list[int | None]]:
    chains: list[list[int | None]] = []
    for t in range(ix.n_slots):
        if not ix.same_day_prev[p][t]:
            chains.append([])
        chains[-1].append(busy[t])
    return chains


def build(
    ix: Indexed,
    meetings: Iterable[int],
    *,
    participants: Iterable[int] | None = None,
    tables: bool = True,
    table_encoding: int = EncType.seqcounter,
) -> BreakModel:
    """Every listed meeting placed once, nobody twice in a slot, breaks counted for ``participants``.

    ``table_encoding``: how "at most nTables per slot" is written (pysat's EncType); the
    portfolio's workers differ in it, as the encodings' strengths differ by instance.
    """
    cnf = Cnf()
    chosen = sorted(meetings)
    x: list[dict[int, int]] = [{} for _ in ix.meeting_ids]
    for k in chosen:
        x[k] = {t: cnf.new() for t in ix.domains[k]}
        cnf.add(list(x[k].values()))
        cnf.at_most(list(x[k].values()), 1)
    if tables:
        for t in range(ix.n_slots):
            cnf.at_most([x[k][t] for k in chosen if t in x[k]], ix.capacity[t], table_encoding)
    modelled = range(len(ix.participant_ids)) if participants is None else participants
    busy: list[list[int | None]] = [[None] * ix.n_slots for _ in ix.participant_ids]
    breaks: list[list[int]] = [[] for _ in ix.participant_ids]
    for p in modelled:
        mine = [k for k in ix.meetings_of[p] if x[k]]
        for t in range(ix.n_slots):
            at = [x[k][t] for k in mine if t in x[k]]
            if at:
                cnf.at_most(at, 1)
                busy[p][t] = _or(cnf, at)
        _participant_counts(cnf, ix, mine, busy[p])
        breaks[p] = [brk for chain in _chains(ix, p, busy[p]) for brk in _day_breaks(cnf, chain)]
    if tables and participants is None:
        for t in range(ix.n_slots):
            cnf.at_most([lit for b in busy if (lit := b[t]) is not None], 2 * ix.capacity[t], table_encoding)
    return BreakModel(cnf, x, busy, breaks)


def _participant_counts(cnf: Cnf, ix: Indexed, mine: list[int], busy: list[int | None]) -> None:
    """Busy slots = meetings, in all and within each domain of its meetings (Hall's bounds both ways)."""
    every = [b for b in busy if b is not None]
    cnf.at_most(every, len(mine))
    cnf.at_least(every, len(mine))
    for domain in {frozenset(ix.domains[k]) for k in mine}:
        if len(domain) == len(every):
            continue
        inside = [lit for t in sorted(domain) if (lit := busy[t]) is not None]
        need = sum(1 for k in mine if domain.issuperset(ix.domains[k]))
        room = sum(1 for k in mine if not domain.isdisjoint(ix.domains[k]))
        cnf.at_least(inside, need)
        cnf.at_most(inside, room)


def fairness(cnf: Cnf, ix: Indexed, model: BreakModel, spread: int) -> None:
    """Any two participants' breaks differ by at most ``spread``: everyone within [L, L + spread].

    L, the fewest breaks anyone has, is unary (``at_least[j]``: L >= j + 1). It cannot
    exceed the breaks possible for the participant with the fewest meetings, so when
    someone has at most one meeting this is plainly "at most ``spread`` each".
    """
    counts = [len([k for k in ks if ix.domains[k]]) for ks in ix.meetings_of]
    top = max(0, min(counts, default=0) - 1)
    at_least = [cnf.new() for _ in range(top)]
    for lower, higher in itertools.pairwise(at_least):
        cnf.add([-higher, lower])
    for lits in model.breaks:
        for j, lit in enumerate(at_least):
            cnf.at_least(lits, j + 1, unless=lit)
            cnf.at_most(lits, j + spread, unless=-lit)
        cnf.at_most(lits, top + spread)


def own_minimum(ix: Indexed, p: int, limit: int) -> int | None:
    """The fewest breaks participant p can have on its own, its partners ignored; None if above ``limit``."""
    return fewest_together(ix, [p], limit)


def fewest_together(ix: Indexed, group: list[int], limit: int) -> int | None:
    """The fewest breaks of the group's participants in all, others' agendas ignored; None if above ``limit``."""
    meetings = sorted({k for p in group for k in ix.meetings_of[p] if ix.domains[k]})
    if len(meetings) <= 1:
        return 0
    model = build(ix, meetings, participants=group, tables=False)
    lits = [b for p in group for b in model.breaks[p]]
    if not lits:
        return 0
    with Solver(name=SOLVER, bootstrap_with=model.cnf.clauses) as solver:
        counter = ITotalizer(lits=lits, ubound=min(limit + 1, len(lits)), top_id=model.cnf.top)
        solver.append_formula(counter.cnf.clauses)
        for bound in range(min(limit, len(lits)) + 1):
            assumptions = [-counter.rhs[bound]] if bound < len(counter.rhs) else []
            if solver.solve(assumptions=assumptions):
                return bound
            if not assumptions:
                return None
    return None


def zero_break_windows(cnf: Cnf, ix: Indexed, p: int, model: BreakModel, tight: int) -> None:
    """With no break, p's busy slots are one of its feasible windows: implied clauses.

    Always: no break, or some window is chosen (and then its slots are busy). Under
    ``tight`` (p has no break for sure) also the converse: a busy slot lies in the chosen
    window, so one busy slot rules out every window without it at once.
    """
    windows = feasible_windows(ix, p)
    if windows is None:
        return
    covering: dict[int, list[int]] = {}
    choices = []
    for window in windows:
        lits = [model.busy[p][t] for t in window]
        if any(lit is None for lit in lits):
            continue
        chosen = cnf.new()
        cnf.add_all([[-chosen, lit] for lit in lits if lit is not None])
        choices.append(chosen)
        for t in window:
            covering.setdefault(t, []).append(chosen)
    cnf.add([*model.breaks[p], *choices])
    for t, lit in enumerate(model.busy[p]):
        if lit is not None:
            cnf.add([-tight, -lit, *covering.get(t, [])])


def phases(model: BreakModel, slot_of: list[int]) -> list[int]:
    """Preferred polarities: the given agenda's placements, and no break."""
    preferred = [lit if slot_of[k] == t else -lit for k, lits in enumerate(model.x) for t, lit in lits.items()]
    return preferred + [-b for lits in model.breaks for b in lits]


def agenda(model: BreakModel, assignment: list[int]) -> list[int]:
    """Slot position per meeting (-1 when not placed) from a solver's model."""
    true = {lit for lit in assignment if lit > 0}
    return [next((t for t, lit in lits.items() if lit in true), -1) for lits in model.x]
