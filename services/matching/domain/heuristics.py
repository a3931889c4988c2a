"""Fast agendas without a solver: the self-service baseline, and greedy + local search.

The baseline is what platforms do today (each pair, in request order, grabs the first
free common slot). The break-aware greedy and its local search give the exact solver its
starting point, and are the answer on instances too large for it.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Mapping

from services.matching.domain.instance import (
    Indexed,
    Instance,
    Schedule,
    index,
    is_complete,
    make_schedule,
)


class Agenda:
    """A mutable agenda with what is needed to price a move in O(1): busy marks, loads, breaks."""

    def __init__(self, ix: Indexed) -> None:
        self.ix = ix
        n_slots = ix.n_slots
        self.slot_of = [-1] * len(ix.meeting_ids)
        self.busy = [bytearray(n_slots) for _ in ix.participant_ids]
        self.load = [0] * n_slots
        self.count = [0] * len(ix.participant_ids)
        self.day_count: list[defaultdict[int, int]] = [defaultdict(int) for _ in ix.participant_ids]
        self.breaks = [0] * len(ix.participant_ids)
        self.at: list[dict[int, int]] = [{} for _ in ix.participant_ids]

    def joins(self, p: int, t: int) -> int:
        """How many same-day neighbours of slot t participant p is busy in (0, 1 or 2)."""
        busy, same = self.busy[p], self.ix.same_day_prev[p]
        left = 1 if same[t] and busy[t - 1] else 0
        right = 1 if t + 1 < len(busy) and same[t + 1] and busy[t + 1] else 0
        return left + right

    def add_cost(self, p: int, t: int) -> int:
        """Change in p's breaks if p became busy at t: a new block is a break unless the day was empty."""
        if self.day_count[p][self.ix.day_of[p][t]] == 0:
            return 0
        return 1 - self.joins(p, t)

    def remove_cost(self, p: int, t: int) -> int:
        if self.day_count[p][self.ix.day_of[p][t]] == 1:
            return 0
        return self.joins(p, t) - 1

    def fits(self, k: int, t: int) -> bool:
        a, b = self.ix.pairs[k]
        return not self.busy[a][t] and not self.busy[b][t] and self.load[t] < self.ix.capacity[t]

    def has_room(self, k: int) -> bool:
        for p in self.ix.pairs[k]:
            limit = self.ix.max_meetings[p]
            if limit is not None and self.count[p] >= limit:
                return False
        return True

    def place(self, k: int, t: int) -> None:
        for p in self.ix.pairs[k]:
            self.breaks[p] += self.add_cost(p, t)
            self.busy[p][t] = 1
            self.day_count[p][self.ix.day_of[p][t]] += 1
            self.count[p] += 1
            self.at[p][t] = k
        self.load[t] += 1
        self.slot_of[k] = t

    def unplace(self, k: int) -> None:
        t = self.slot_of[k]
        for p in self.ix.pairs[k]:
            self.breaks[p] += self.remove_cost(p, t)
            self.busy[p][t] = 0
            self.day_count[p][self.ix.day_of[p][t]] -= 1
            self.count[p] -= 1
            del self.at[p][t]
        self.load[t] -= 1
        self.slot_of[k] = -1

    def price(self, move: list[tuple[int, int]]) -> int:
        """The change in total breaks if the meetings went to these slots; the agenda is left as it was.

        Cheaper than making the move and undoing it, which is what most rejected moves cost.
        """
        pairs, day_of, slot_of = self.ix.pairs, self.ix.day_of, self.slot_of
        delta = 0
        for k, _ in move:
            t = slot_of[k]
            for p in pairs[k]:
                delta += self.remove_cost(p, t)
                self.busy[p][t] = 0
                self.day_count[p][day_of[p][t]] -= 1
        for k, u in move:
            for p in pairs[k]:
                delta += self.add_cost(p, u)
                self.busy[p][u] = 1
                self.day_count[p][day_of[p][u]] += 1
        for k, u in move:
            for p in pairs[k]:
                self.busy[p][u] = 0
                self.day_count[p][day_of[p][u]] -= 1
        for k, _ in move:
            t = slot_of[k]
            for p in pairs[k]:
                self.busy[p][t] = 1
                self.day_count[p][day_of[p][t]] += 1
        return delta

    def best_slot(self, k: int, exclude: int = -1) -> tuple[int, int] | None:
        """The free slot adding fewest breaks (then joining most neighbours, then earliest), and its cost."""
        a, b = self.ix.pairs[k]
        best: tuple[int, int, int] | None = None
        for t in self.ix.domains[k]:
            if t == exclude or not self.fits(k, t):
                continue
            key = (self.add_cost(a, t) + self.add_cost(b, t), -(self.joins(a, t) + self.joins(b, t)), t)
            if best is None or key < best:
                best = key
        return None if best is None else (best[2], best[0])

    def fairness_excess(self) -> int:
        d = self.ix.instance.fairness
        if d is None or not self.breaks:
            return 0
        return max(0, max(self.breaks) - min(self.breaks) - d)


def greedy_first_come(instance: Instance) -> Schedule:
    """The self-service baseline: fixed meetings first, then each pair in request order takes the first free common slot."""
    started = time.perf_counter()
    ix = index(instance)
    agenda = Agenda(ix)
    order = sorted(range(len(ix.meeting_ids)), key=lambda k: instance.meetings[k].fixed_slot is None)
    for k in order:
        if agenda.has_room(k):
            for t in ix.domains[k]:
                if agenda.fits(k, t):
                    agenda.place(k, t)
                    break
    return answer(ix, agenda, {}, started, started, reason="first come, first served baseline")


def construct(ix: Indexed, previous: Mapping[int, int]) -> Agenda:
    """Break-aware greedy: kept meetings first, then required, heavy and hard-to-place ones."""
    agenda = Agenda(ix)
    for k, t in previous.items():
        if t in set(ix.domains[k]) and agenda.fits(k, t) and agenda.has_room(k):
            agenda.place(k, t)
    order = sorted(
        (k for k in range(len(ix.meeting_ids)) if agenda.slot_of[k] < 0),
        key=lambda k: (not ix.required[k], -ix.weights[k], len(ix.domains[k]), k),
    )
    for k in order:
        if agenda.has_room(k):
            found = agenda.best_slot(k)
            if found is not None:
                agenda.place(k, found[0])
    return agenda


def _relocate_blockers(agenda: Agenda, k: int, frozen: set[int]) -> bool:
    """Place unscheduled k by moving the (at most two) meetings in its way to other free slots."""
    ix = agenda.ix
    a, b = ix.pairs[k]
    for t in ix.domains[k]:
        if agenda.load[t] >= ix.capacity[t]:
            continue
        blockers = {agenda.at[p][t] for p in (a, b) if t in agenda.at[p]}
        if blockers & frozen:
            continue
        moved: list[tuple[int, int]] = []
        for j in blockers:
            origin = agenda.slot_of[j]
            agenda.unplace(j)
            target = agenda.best_slot(j, exclude=t)
            if target is None:
                agenda.place(j, origin)
                break
            agenda.place(j, target[0])
            moved.append((j, origin))
        else:
            if agenda.fits(k, t):
                agenda.place(k, t)
                return True
        for j, origin in reversed(moved):
            agenda.unplace(j)
            agenda.place(j, origin)
    return False


def place_left_out(agenda: Agenda, frozen: set[int]) -> bool:
    """Place what is out where it fits, moving the meetings in its way if need be; True if any was placed."""
    placed = False
    for k in range(len(agenda.slot_of)):
        if agenda.slot_of[k] < 0 and agenda.has_room(k):
            found = agenda.best_slot(k)
            if found is not None:
                agenda.place(k, found[0])
                placed = True
            elif _relocate_blockers(agenda, k, frozen):
                placed = True
    return placed


def improve(agenda: Agenda, deadline: float, frozen: set[int] | None = None, seed: int = 0) -> None:
    """Local search: place what is still out, then move single meetings while breaks go down.

    Sideways moves (same breaks) are taken now and then to leave plateaus; it stops at the
    deadline or after two passes without a strict improvement.
    """
    ix = agenda.ix
    frozen = frozen or set()
    rng = random.Random(seed)
    movable = [k for k in range(len(ix.meeting_ids)) if k not in frozen and len(ix.domains[k]) > 1]
    idle_passes = 0
    while idle_passes < 2 and time.perf_counter() < deadline:
        improved = place_left_out(agenda, frozen)
        rng.shuffle(movable)
        for step, k in enumerate(movable):
            if step % 512 == 0 and time.perf_counter() >= deadline:
                break
            origin = agenda.slot_of[k]
            if origin < 0:
                continue
            a, b = ix.pairs[k]
            before = agenda.breaks[a] + agenda.breaks[b]
            excess = agenda.fairness_excess()
            agenda.unplace(k)
            found = agenda.best_slot(k, exclude=origin)
            if found is None:
                agenda.place(k, origin)
                continue
            target, cost = found
            gain = before - (agenda.breaks[a] + agenda.breaks[b] + cost)
            if gain > 0 or (gain == 0 and rng.random() < 0.1):
                agenda.place(k, target)
                if agenda.fairness_excess() > excess:
                    agenda.unplace(k)
                    agenda.place(k, origin)
                elif gain > 0:
                    improved = True
            else:
                agenda.place(k, origin)
        idle_passes = 0 if improved else idle_passes + 1


def answer(
    ix: Indexed, agenda: Agenda, previous: Mapping[int, int], started: float, first: float, reason: str, bound: int | None = None
) -> Schedule:
    """The heuristic's agenda; ``bound`` is a proven lower bound on its breaks, if one was worked out."""
    complete = is_complete(ix, agenda.slot_of)
    if not complete:
        reason += "; a required meeting is out or fairness fails (not proven infeasible)"
    return make_schedule(
        ix,
        agenda.slot_of,
        status="feasible" if complete else "infeasible",
        solver="heuristic",
        bound=None if bound is None else float(bound),
        started=started,
        now=time.perf_counter(),
        previous=previous,
        first_solution=first,
        reason=reason,
    )
