"""Simulated annealing for missions too large for an exact model.

Greedy and single-meeting descent stop where every lone move adds a break; the breaks left
come from partners' hours together (a Rome firm meets Dubai in the morning and New York
after 14:00 UTC). Annealing accepts a worse agenda now and then, at a temperature falling
through the run, and so walks past those local optima. Its moves keep every placed meeting
placed: one meeting to another free slot of its domain, two meetings of one participant
exchanging slots, or a Kempe chain (a meeting to another slot, the meetings it displaces
back to its slot, and so on). Counts per participant never change, so ``max_meetings``
holds by construction; relocations and chains check the slots' room. Measured on the
10,000-meeting benchmark: about 1,700 breaks after a 12 s descent, 293–313 after 120 s in
all with the compiled kernel (``annealkernel``), 493–500 with this interpreted loop, which
serves smaller missions and fairness spreads (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from services.matching.domain.boundworker import BoundWorker
from services.matching.domain.heuristics import Agenda, answer, construct, improve, place_left_out
from services.matching.domain.instance import Indexed, Schedule

HOT = 0.3
"""Starting temperature, in breaks: a move adding one break is taken one time in 28."""
COLD = 0.01
"""Final temperature: at the end almost only moves that do not add a break are taken."""
SWAP_SHARE = 0.4
KEMPE_SHARE = 0.3
KEMPE_LIMIT = 40
"""Longest chain tried: longer ones are rarely taken and cost a move's time each."""
CLOCK_EVERY = 2048
PATIENCE_PER_MEETING = 2000
"""Moves tried per movable meeting without a new best before giving up early: small instances
settle in a fraction of a second, the 10,000-meeting benchmark never stops early."""
COMPILED_FROM = 2000
"""Movable meetings from which the compiled kernel runs: below, the interpreted loop settles in
seconds and spares the 2 s numba takes to load (6 s to compile on a machine's first run)."""
BATCH = 1 << 14
"""Moves per call of the compiled kernel: the clock and the temperature are looked at in between."""
DESCENT_SHARE = 0.1
"""Share of the time for single-meeting descent (which also places what greedy left out) before annealing."""


@dataclass
class AnnealStats:
    tried: int = 0
    taken: int = 0
    start_breaks: int = 0
    best_breaks: int = 0


class _Spread:
    """Break counts per value, so that the fairness spread is checked in O(1) after a move."""

    def __init__(self, agenda: Agenda) -> None:
        self.agenda = agenda
        self.d = agenda.ix.instance.fairness
        self.allowed = agenda.fairness_excess()
        self.hist: dict[int, int] = {}
        for b in agenda.breaks:
            self.hist[b] = self.hist.get(b, 0) + 1

    def update(self, before: dict[int, int]) -> bool:
        """Record the changed counts; False if the spread now exceeds what it was at the start."""
        if self.d is None:
            return True
        for p, old in before.items():
            self.hist[old] -= 1
            if not self.hist[old]:
                del self.hist[old]
            new = self.agenda.breaks[p]
            self.hist[new] = self.hist.get(new, 0) + 1
        return max(self.hist) - min(self.hist) - self.d <= self.allowed


Move = list[tuple[int, int]]
"""Meetings and the slots they go to."""


def anneal(agenda: Agenda, deadline: float, *, frozen: set[int] | None = None, seed: int = 0) -> AnnealStats:
    """Lower the agenda's breaks in place until the deadline or none is left; it ends at the best agenda seen."""
    ix = agenda.ix
    rng = random.Random(seed)
    frozen = frozen or set()
    movable = [k for k, t in enumerate(agenda.slot_of) if t >= 0 and k not in frozen and len(ix.domains[k]) > 1]
    if ix.instance.fairness is None and len(movable) >= COMPILED_FROM:
        return _anneal_compiled(agenda, deadline, frozen, movable, seed)
    stats = AnnealStats(start_breaks=sum(agenda.breaks), best_breaks=sum(agenda.breaks))
    allowed = [frozenset(d) for d in ix.domains]
    spread = _Spread(agenda)
    current = stats.start_breaks
    undo_to_best: list[Move] = []
    started = time.perf_counter()
    span = max(deadline - started, 1e-9)
    temperature = HOT
    patience = PATIENCE_PER_MEETING * len(movable)
    last_best = 0
    while movable:
        if stats.tried % CLOCK_EVERY == 0:
            now = time.perf_counter()
            if now >= deadline or stats.tried - last_best > patience:
                break
            temperature = HOT * (COLD / HOT) ** ((now - started) / span)
        stats.tried += 1
        k = movable[rng.randrange(len(movable))]
        draw = rng.random()
        if draw < SWAP_SHARE:
            move = _swap(agenda, k, rng, allowed, frozen)
        elif draw < SWAP_SHARE + KEMPE_SHARE:
            move = _kempe(agenda, k, rng, allowed, frozen)
        else:
            move = _relocation(agenda, k, rng)
        if move is None:
            continue
        taken = _take(agenda, move, spread, rng, temperature)
        if taken is None:
            continue
        back, delta = taken
        stats.taken += 1
        current += delta
        undo_to_best.append(back)
        if current < stats.best_breaks:
            stats.best_breaks, undo_to_best, last_best = current, [], stats.tried
            if current == 0:
                break
    for back in reversed(undo_to_best):
        _apply(agenda, back)
    return stats


def _anneal_compiled(agenda: Agenda, deadline: float, frozen: set[int], movable: list[int], seed: int) -> AnnealStats:
    """The same walk in the compiled kernel, batch by batch; the agenda ends at the best seen.

    It runs to the deadline (or no break): no patience rule, since given minutes the walk
    stays above its starting agenda for longer than that rule waits, while it is still hot.
    """
    from services.matching.domain import annealkernel as kernel

    state = kernel.state_of(agenda, frozen, movable)
    kernel.seed_kernel(seed)
    counters = state.counters
    start_breaks = int(counters[kernel.CURRENT])
    started = time.perf_counter()
    span = max(deadline - started, 1e-9)
    while counters[kernel.BEST] > 0:
        now = time.perf_counter()
        if now >= deadline:
            break
        temperature = HOT * (COLD / HOT) ** ((now - started) / span)
        kernel.run_batch(state, BATCH, temperature, SWAP_SHARE, KEMPE_SHARE, KEMPE_LIMIT)
    moved = [k for k, t in enumerate(state.best.tolist()) if t != agenda.slot_of[k]]
    for k in moved:
        agenda.unplace(k)
    for k in moved:
        agenda.place(k, int(state.best[k]))
    return AnnealStats(
        tried=int(counters[kernel.TRIED]),
        taken=int(counters[kernel.TAKEN]),
        start_breaks=start_breaks,
        best_breaks=int(counters[kernel.BEST]),
    )


def _take(agenda: Agenda, move: Move, spread: _Spread, rng: random.Random, temperature: float) -> tuple[Move, int] | None:
    """Makes the move if the Metropolis rule takes it: the move undoing it and the change in breaks; else None.

    Without a fairness spread the move is priced before it is made (most are not taken);
    with one, it is made, checked and undone if refused.
    """
    if spread.d is None:
        delta = agenda.price(move)
        if delta > 0 and rng.random() >= math.exp(-delta / temperature):
            return None
        return _apply(agenda, move), delta
    before = {p: agenda.breaks[p] for j, _ in move for p in agenda.ix.pairs[j]}
    back = _apply(agenda, move)
    delta = sum(agenda.breaks[p] for p in before) - sum(before.values())
    if spread.update(before) and (delta <= 0 or rng.random() < math.exp(-delta / temperature)):
        return back, delta
    after = {p: agenda.breaks[p] for p in before}
    _apply(agenda, back)
    spread.update(after)
    return None


def _apply(agenda: Agenda, move: Move) -> Move:
    """Carry out the move; returns the move that undoes it."""
    back = [(k, agenda.slot_of[k]) for k, _ in move]
    for k, _ in move:
        agenda.unplace(k)
    for k, t in move:
        agenda.place(k, t)
    return back


def _relocation(agenda: Agenda, k: int, rng: random.Random) -> Move | None:
    domain = agenda.ix.domains[k]
    t = domain[rng.randrange(len(domain))]
    if t == agenda.slot_of[k] or not agenda.fits(k, t):
        return None
    return [(k, t)]


def _swap(agenda: Agenda, k: int, rng: random.Random, allowed: list[frozenset[int]], frozen: set[int]) -> Move | None:
    """k and another meeting of one of its participants exchange slots, if both partners are free there."""
    a, b = agenda.ix.pairs[k]
    p, q = (a, b) if rng.random() < 0.5 else (b, a)
    t = agenda.slot_of[k]
    theirs = agenda.at[p]
    if len(theirs) < 2:
        return None
    u = rng.choice(list(theirs))
    j = theirs[u]
    if j == k or j in frozen:
        return None
    c = agenda.ix.pairs[j][0] if agenda.ix.pairs[j][1] == p else agenda.ix.pairs[j][1]
    if agenda.busy[q][u] or agenda.busy[c][t] or u not in allowed[k] or t not in allowed[j]:
        return None
    return [(k, u), (j, t)]


def _kempe(agenda: Agenda, k: int, rng: random.Random, allowed: list[frozenset[int]], frozen: set[int]) -> Move | None:
    """k goes to another slot u, and the chain of meetings it displaces alternates between the two slots.

    Whoever has meetings at both slots keeps its busy slots (the two trade places): only
    the chain's two ends gain or lose a busy slot, so a long chain is a small change in
    breaks, one that single moves cannot make without passing through double bookings.
    """
    ix = agenda.ix
    t = agenda.slot_of[k]
    domain = ix.domains[k]
    u = domain[rng.randrange(len(domain))]
    if u == t:
        return None
    chain, todo = {k}, [k]
    while todo:
        j = todo.pop()
        other = u if agenda.slot_of[j] == t else t
        for p in ix.pairs[j]:
            i = agenda.at[p].get(other)
            if i is not None and i not in chain:
                if i in frozen or len(chain) >= KEMPE_LIMIT:
                    return None
                chain.add(i)
                todo.append(i)
    move = [(j, u if agenda.slot_of[j] == t else t) for j in chain]
    if any(slot not in allowed[j] for j, slot in move):
        return None
    into_u = sum(1 for _, slot in move if slot == u)
    into_t = len(move) - into_u
    if agenda.load[u] + into_u - into_t > ix.capacity[u] or agenda.load[t] + into_t - into_u > ix.capacity[t]:
        return None
    return move


def solve_large(ix: Indexed, previous: Mapping[int, int], time_limit_s: float, started: float, reason: str) -> Schedule:
    """Greedy, single-meeting descent, then annealing until the deadline; kept meetings never move.

    ``reason`` also says how far the placement is from its ceiling, a proven bound.
    """
    # Imported here: OR-Tools takes 2 s to import, and the SAT race may answer without it.
    from services.matching.domain.ceiling import integral_weights, placement_ceiling

    weights = integral_weights(ix)
    optional = [k for k, r in enumerate(ix.required) if not r and ix.domains[k]]
    ceiling = placement_ceiling(ix, weights, optional)
    agenda = construct(ix, previous)
    first = time.perf_counter()
    kept = {k for k, t in previous.items() if agenda.slot_of[k] == t}
    deadline = started + time_limit_s
    improve(agenda, min(deadline, started + DESCENT_SHARE * time_limit_s), frozen=kept)
    placed = sum(1 for t in agenda.slot_of if t >= 0)
    worker = BoundWorker(ix, placed, deadline - time.perf_counter())
    try:
        stats = anneal(agenda, deadline, frozen=kept)
    finally:
        proven = worker.collect(until=deadline)
    place_left_out(agenda, kept)
    value = sum(weights[k] for k in optional if agenda.slot_of[k] >= 0)
    short = (ceiling - value) / ceiling if ceiling else 0.0
    reason += f"; annealing: {stats.start_breaks} -> {stats.best_breaks} breaks, {stats.taken} of {stats.tried} moves taken"
    reason += f"; placement worth {value} of at most {ceiling} (within {short:.3%} of the ceiling)"
    reason += f"; {proven.says(placed)}"
    return answer(ix, agenda, previous, started, first, reason=reason, bound=proven.bound)
