"""Large-neighbourhood search for missions too large for an exact model.

A step frees the meetings around one participant with breaks (it and two of its partners:
some sixty meetings), and CP-SAT re-places them exactly, every other meeting staying where
it is: fewest breaks among everyone they touch, never fewer meetings placed, never a worse
fairness spread. The step's model only counts breaks on the local days the freed meetings
can reach; breaks elsewhere cannot change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ortools.sat.python import cp_model

from services.matching.domain.cpsat import day_breaks
from services.matching.domain.heuristics import Agenda, answer, construct, improve
from services.matching.domain.instance import Indexed, Schedule

STEP_SECONDS = 0.5
PARTNERS = 2
EMPTY_TRIES = 50
"""Neighbourhoods in a row with nothing to free (all frozen, or no breaks left) before giving up."""


@dataclass
class LnsStats:
    steps: int = 0
    improved: int = 0


def _neighbourhood(agenda: Agenda, rng: random.Random, frozen: set[int]) -> list[int]:
    ix = agenda.ix
    troubled = [p for p, b in enumerate(agenda.breaks) if b > 0]
    if not troubled:
        return []
    p = rng.choices(troubled, weights=[agenda.breaks[q] for q in troubled])[0]
    partners = sorted({q for k in ix.meetings_of[p] if agenda.slot_of[k] >= 0 for q in ix.pairs[k] if q != p})
    chosen = {p, *rng.sample(partners, min(PARTNERS, len(partners)))}
    return sorted({k for q in chosen for k in ix.meetings_of[q] if k not in frozen and ix.domains[k]})


def _step(agenda: Agenda, freed: list[int], seconds: float) -> bool:
    """Re-place ``freed`` exactly; True if more are placed or breaks went down. The agenda stays valid.

    Placement comes first (the objective's weight on an extra meeting exceeds any break
    count), as in the exact models; ``max_meetings`` holds for everyone touched.
    """
    ix = agenda.ix
    origin = {k: agenda.slot_of[k] for k in freed}
    touched = sorted({p for k in freed for p in ix.pairs[k]})
    before = sum(agenda.breaks[p] for p in touched)
    spread = agenda.fairness_excess()
    for k in freed:
        if agenda.slot_of[k] >= 0:
            agenda.unplace(k)
    model, x = _model(agenda, origin, touched)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 1
    if solver.solve(model) in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = {k: next((t for t, lit in lits.items() if solver.boolean_value(lit)), -1) for k, lits in x.items()}
        for k, t in chosen.items():
            if t >= 0:
                agenda.place(k, t)
        after = sum(agenda.breaks[p] for p in touched)
        placed_more = any(chosen[k] >= 0 for k in freed if origin[k] < 0)
        if (placed_more or after <= before) and agenda.fairness_excess() <= spread:
            return placed_more or after < before
        for k in freed:
            if agenda.slot_of[k] >= 0:
                agenda.unplace(k)
    for k, t in origin.items():
        if t >= 0:
            agenda.place(k, t)
    return False


def _model(agenda: Agenda, origin: dict[int, int], touched: list[int]) -> tuple[cp_model.CpModel, dict[int, dict[int, cp_model.IntVar]]]:
    """The freed meetings' model, everything else as constants, hinted with where they were."""
    ix = agenda.ix
    model = cp_model.CpModel()
    x: dict[int, dict[int, cp_model.IntVar]] = {}
    for k, was in origin.items():
        a, b = ix.pairs[k]
        options = [t for t in ix.domains[k] if not agenda.busy[a][t] and not agenda.busy[b][t] and agenda.load[t] < ix.capacity[t]]
        x[k] = {t: model.new_bool_var("") for t in options}
        (model.add_exactly_one if was >= 0 else model.add_at_most_one)(x[k].values())
        for t, lit in x[k].items():
            model.add_hint(lit, was == t)
    by_slot: dict[int, list[cp_model.IntVar]] = {}
    for lits in x.values():
        for t, lit in lits.items():
            by_slot.setdefault(t, []).append(lit)
    for t, in_slot in by_slot.items():
        if len(in_slot) > ix.capacity[t] - agenda.load[t]:
            model.add(sum(in_slot) <= ix.capacity[t] - agenda.load[t])
    always = model.new_bool_var("")
    model.add(always == 1)
    breaks = []
    for p in touched:
        mine = [k for k in ix.meetings_of[p] if k in x]
        limit = ix.max_meetings[p]
        if limit is not None:
            model.add(sum(sum(x[k].values()) for k in mine) <= limit - agenda.count[p])
        breaks += _participant_breaks(model, agenda, p, mine, x, always)
    extra = [lit for k, was in origin.items() if was < 0 for lit in x[k].values()]
    model.minimize(sum(breaks) - (len(ix.participant_ids) * ix.n_slots + 1) * sum(extra))
    return model, x


def _participant_breaks(
    model: cp_model.CpModel,
    agenda: Agenda,
    p: int,
    mine: list[int],
    x: dict[int, dict[int, cp_model.IntVar]],
    always: cp_model.IntVar,
) -> list[cp_model.IntVar]:
    """p's break literals on the local days its freed meetings can reach, its fixed meetings as constants."""
    ix = agenda.ix
    days = {ix.day_of[p][t] for k in mine for t in x[k]}
    if not days:
        return []
    result: list[cp_model.IntVar] = []
    chain: list[cp_model.IntVar | None] = []
    for t in range(ix.n_slots):
        if not ix.same_day_prev[p][t] and chain:
            result += day_breaks(model, chain)
            chain = []
        if ix.day_of[p][t] not in days:
            continue
        if agenda.busy[p][t]:
            chain.append(always)
            continue
        lits = [x[k][t] for k in mine if t in x[k]]
        if not lits:
            chain.append(None)
        elif len(lits) == 1:
            chain.append(lits[0])
        else:
            busy = model.new_bool_var("")
            model.add(sum(lits) == busy)
            chain.append(busy)
    if chain:
        result += day_breaks(model, chain)
    return result


def search(agenda: Agenda, deadline: float, *, frozen: set[int] | None = None, seed: int = 0) -> LnsStats:
    """Improve the agenda in place until the deadline; each step is exact on its neighbourhood."""
    rng = random.Random(seed)
    stats = LnsStats()
    frozen = frozen or set()
    empty = 0
    while empty < EMPTY_TRIES:
        left = deadline - time.perf_counter()
        if left < 0.05:
            return stats
        freed = _neighbourhood(agenda, rng, frozen)
        if not freed:
            empty += 1
            continue
        empty = 0
        stats.steps += 1
        stats.improved += _step(agenda, freed, min(STEP_SECONDS, left))
    return stats


LOCAL_SEARCH_SHARE = 0.25
"""Share of the time for single-meeting moves before large neighbourhoods take over."""


def solve_large(ix: Indexed, previous: Mapping[int, int], time_limit_s: float, started: float, reason: str) -> Schedule:
    """Greedy, then single-meeting moves, then large-neighbourhood search until the deadline."""
    agenda = construct(ix, previous)
    first = time.perf_counter()
    kept = {k for k, t in previous.items() if agenda.slot_of[k] == t}
    deadline = started + time_limit_s
    improve(agenda, min(deadline, started + LOCAL_SEARCH_SHARE * time_limit_s), frozen=kept)
    stats = search(agenda, deadline, frozen=kept)
    reason += f"; large-neighbourhood search: {stats.steps} steps, {stats.improved} improving"
    return answer(ix, agenda, previous, started, first, reason=reason)
