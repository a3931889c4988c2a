"""The annealing loop compiled with numba: the moves and the rule of ``annealing``, on arrays.

Interpreted, a move costs about 5 µs and the 10,000-meeting benchmark gets 22 M of them in
120 s, far from where its breaks stop falling (600 s gave a third fewer). Compiled, the same
moves cost a small fraction of that. The kernel runs a batch of moves at one temperature;
the caller keeps the clock, lowers the temperature between batches and reads the best
agenda seen back into its ``Agenda``. It serves runs without a fairness spread, which
must be checked after each move and stays with the interpreted loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numba import njit

from services.matching.domain.heuristics import Agenda
from services.matching.domain.instance import Instance, MeetingSpec, Participant, Slot, index

TRIED, TAKEN, CURRENT, BEST, LAST_BEST = range(5)
"""Positions in the counters array the kernel and its caller share."""


@dataclass
class State:
    """The agenda and the instance as arrays; ``counters`` and ``best`` carry over between batches."""

    pairs: np.ndarray
    dom_ptr: np.ndarray
    dom: np.ndarray
    allowed: np.ndarray
    own_ptr: np.ndarray
    own: np.ndarray
    same: np.ndarray
    day: np.ndarray
    capacity: np.ndarray
    movable: np.ndarray
    frozen: np.ndarray
    slot_of: np.ndarray
    busy: np.ndarray
    at: np.ndarray
    day_count: np.ndarray
    breaks: np.ndarray
    load: np.ndarray
    best: np.ndarray
    counters: np.ndarray
    stamp: np.ndarray


def state_of(agenda: Agenda, frozen: set[int], movable: list[int]) -> State:
    """The arrays for the agenda as it stands; moves start from ``movable``, meetings in ``frozen`` never move."""
    ix = agenda.ix
    n_meetings, n_people, n_slots = len(ix.meeting_ids), len(ix.participant_ids), ix.n_slots
    dom_ptr = np.zeros(n_meetings + 1, np.int64)
    dom_ptr[1:] = np.cumsum([len(d) for d in ix.domains])
    allowed = np.zeros((n_meetings, n_slots), np.uint8)
    for k, domain in enumerate(ix.domains):
        allowed[k, domain] = 1
    own_ptr = np.zeros(n_people + 1, np.int64)
    own_ptr[1:] = np.cumsum([len(m) for m in ix.meetings_of])
    day = np.zeros((n_people, n_slots), np.int64)
    for p, days in enumerate(ix.day_of):
        first = min(days)
        day[p] = [d - first for d in days]
    at = np.full((n_people, n_slots), -1, np.int64)
    for p, held in enumerate(agenda.at):
        for t, k in held.items():
            at[p, t] = k
    busy = np.array([list(b) for b in agenda.busy], np.uint8).reshape(n_people, n_slots)
    n_days = int(day.max()) + 1
    day_count = np.array([np.bincount(day[p][busy[p] == 1], minlength=n_days) for p in range(n_people)], np.int64).reshape(n_people, n_days)
    slot_of = np.array(agenda.slot_of, np.int64)
    total = sum(agenda.breaks)
    return State(
        pairs=np.array(ix.pairs, np.int64).reshape(n_meetings, 2),
        dom_ptr=dom_ptr,
        dom=np.array([t for d in ix.domains for t in d], np.int64),
        allowed=allowed,
        own_ptr=own_ptr,
        own=np.array([k for m in ix.meetings_of for k in m], np.int64),
        same=np.array(ix.same_day_prev, np.uint8).reshape(n_people, n_slots),
        day=day,
        capacity=np.array(ix.capacity, np.int64),
        movable=np.array(movable, np.int64),
        frozen=np.array([k in frozen for k in range(n_meetings)], np.uint8),
        slot_of=slot_of,
        busy=busy,
        at=at,
        day_count=day_count,
        breaks=np.array(agenda.breaks, np.int64),
        load=np.array(agenda.load, np.int64),
        best=slot_of.copy(),
        counters=np.array([0, 0, total, total, 0], np.int64),
        stamp=np.zeros(n_meetings, np.int64),
    )


def warm() -> None:
    """Compile the kernel into numba's cache (about 6 s) so that no solve pays for it: run at install."""
    day = datetime(2020, 11, 2, 9, 0, tzinfo=UTC)
    slots = tuple(Slot(id=f"s{i}", start=day + timedelta(minutes=20 * i), end=day + timedelta(minutes=20 * i + 20)) for i in range(2))
    meeting = MeetingSpec("m", ("a", "b"))
    ix = index(Instance(slots=slots, participants=(Participant("a", "UTC"), Participant("b", "UTC")), meetings=(meeting,), capacity=1))
    agenda = Agenda(ix)
    agenda.place(0, 0)
    seed_kernel(0)
    run_batch(state_of(agenda, set(), [0]), 1, 1.0, 0.4, 0.3, 40)


def seed_kernel(seed: int) -> None:
    """numba keeps its own random state: seeded here so that a run can be repeated."""
    _seed(seed)


def run_batch(s: State, moves: int, temperature: float, swap_share: float, kempe_share: float, kempe_limit: int) -> None:
    """Try ``moves`` moves at this temperature; stops early when no break is left."""
    _batch(
        s.pairs, s.dom_ptr, s.dom, s.allowed, s.own_ptr, s.own, s.same, s.day, s.capacity, s.movable, s.frozen,
        s.slot_of, s.busy, s.at, s.day_count, s.breaks, s.load, s.best, s.counters, s.stamp,
        moves, temperature, swap_share, kempe_share, kempe_limit,
    )  # fmt: skip


@njit(cache=True)
def _seed(seed: int) -> None:  # pragma: no cover - compiled
    np.random.seed(seed)


@njit(cache=True)
def _joins(busy, same, p, t):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    left = 1 if same[p, t] and busy[p, t - 1] else 0
    right = 1 if t + 1 < busy.shape[1] and same[p, t + 1] and busy[p, t + 1] else 0
    return left + right


@njit(cache=True)
def _add_cost(busy, same, day, day_count, p, t):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    if day_count[p, day[p, t]] == 0:
        return 0
    return 1 - _joins(busy, same, p, t)


@njit(cache=True)
def _remove_cost(busy, same, day, day_count, p, t):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    if day_count[p, day[p, t]] == 1:
        return 0
    return _joins(busy, same, p, t) - 1


@njit(cache=True)
def _price(pairs, same, day, slot_of, busy, day_count, mk, mu, n):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """The change in breaks if mk[i] went to mu[i]; busy marks and day counts are left as they were."""
    delta = 0
    for i in range(n):
        t = slot_of[mk[i]]
        for side in range(2):
            p = pairs[mk[i], side]
            delta += _remove_cost(busy, same, day, day_count, p, t)
            busy[p, t] = 0
            day_count[p, day[p, t]] -= 1
    for i in range(n):
        u = mu[i]
        for side in range(2):
            p = pairs[mk[i], side]
            delta += _add_cost(busy, same, day, day_count, p, u)
            busy[p, u] = 1
            day_count[p, day[p, u]] += 1
    for i in range(n):
        u = mu[i]
        for side in range(2):
            p = pairs[mk[i], side]
            busy[p, u] = 0
            day_count[p, day[p, u]] -= 1
    for i in range(n):
        t = slot_of[mk[i]]
        for side in range(2):
            p = pairs[mk[i], side]
            busy[p, t] = 1
            day_count[p, day[p, t]] += 1
    return delta


@njit(cache=True)
def _apply(pairs, same, day, slot_of, busy, at, day_count, breaks, load, mk, mu, n):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    for i in range(n):
        k = mk[i]
        t = slot_of[k]
        for side in range(2):
            p = pairs[k, side]
            breaks[p] += _remove_cost(busy, same, day, day_count, p, t)
            busy[p, t] = 0
            day_count[p, day[p, t]] -= 1
            at[p, t] = -1
        load[t] -= 1
        slot_of[k] = -1
    for i in range(n):
        k, u = mk[i], mu[i]
        for side in range(2):
            p = pairs[k, side]
            breaks[p] += _add_cost(busy, same, day, day_count, p, u)
            busy[p, u] = 1
            day_count[p, day[p, u]] += 1
            at[p, u] = k
        load[u] += 1
        slot_of[k] = u


@njit(cache=True)
def _relocation(k, pairs, dom_ptr, dom, busy, load, capacity, slot_of, mk, mu):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    lo, hi = dom_ptr[k], dom_ptr[k + 1]
    t = dom[lo + np.random.randint(hi - lo)]
    if t == slot_of[k] or busy[pairs[k, 0], t] or busy[pairs[k, 1], t] or load[t] >= capacity[t]:
        return 0
    mk[0], mu[0] = k, t
    return 1


@njit(cache=True)
def _swap(k, pairs, own_ptr, own, allowed, frozen, slot_of, busy, mk, mu):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """k and another meeting of one of its participants exchange slots, if both partners are free there."""
    p, q = (pairs[k, 0], pairs[k, 1]) if np.random.random() < 0.5 else (pairs[k, 1], pairs[k, 0])
    lo, hi = own_ptr[p], own_ptr[p + 1]
    if hi - lo < 2:
        return 0
    j = own[lo + np.random.randint(hi - lo)]
    t, u = slot_of[k], slot_of[j]
    if j == k or frozen[j] or u < 0:
        return 0
    c = pairs[j, 0] if pairs[j, 1] == p else pairs[j, 1]
    if busy[q, u] or busy[c, t] or not allowed[k, u] or not allowed[j, t]:
        return 0
    mk[0], mu[0], mk[1], mu[1] = k, u, j, t
    return 2


@njit(cache=True)
def _kempe(k, tick, limit, pairs, dom_ptr, dom, allowed, frozen, slot_of, at, load, capacity, stamp, mk, mu):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """k to another slot u, the meetings it displaces to its slot t, theirs to u, and so on (see ``annealing._kempe``)."""
    t = slot_of[k]
    lo, hi = dom_ptr[k], dom_ptr[k + 1]
    u = dom[lo + np.random.randint(hi - lo)]
    if u == t:
        return 0
    stamp[k] = tick
    mk[0] = k
    n, i = 1, 0
    while i < n:
        j = mk[i]
        i += 1
        other = u if slot_of[j] == t else t
        for side in range(2):
            m = at[pairs[j, side], other]
            if m >= 0 and stamp[m] != tick:
                if frozen[m] or n >= limit:
                    return 0
                stamp[m] = tick
                mk[n] = m
                n += 1
    into_u = 0
    for i in range(n):
        dest = u if slot_of[mk[i]] == t else t
        if not allowed[mk[i], dest]:
            return 0
        mu[i] = dest
        into_u += dest == u
    into_t = n - into_u
    if load[u] + into_u - into_t > capacity[u] or load[t] + into_t - into_u > capacity[t]:
        return 0
    return n


@njit(cache=True)
def _batch(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    pairs, dom_ptr, dom, allowed, own_ptr, own, same, day, capacity, movable, frozen,
    slot_of, busy, at, day_count, breaks, load, best, counters, stamp,
    moves, temperature, swap_share, kempe_share, kempe_limit,
):  # fmt: skip
    mk = np.empty(max(kempe_limit, 2), np.int64)
    mu = np.empty(max(kempe_limit, 2), np.int64)
    for _ in range(moves):
        counters[TRIED] += 1
        k = movable[np.random.randint(movable.size)]
        draw = np.random.random()
        if draw < swap_share:
            n = _swap(k, pairs, own_ptr, own, allowed, frozen, slot_of, busy, mk, mu)
        elif draw < swap_share + kempe_share:
            n = _kempe(k, counters[TRIED], kempe_limit, pairs, dom_ptr, dom, allowed, frozen, slot_of, at, load, capacity, stamp, mk, mu)
        else:
            n = _relocation(k, pairs, dom_ptr, dom, busy, load, capacity, slot_of, mk, mu)
        if n == 0:
            continue
        delta = _price(pairs, same, day, slot_of, busy, day_count, mk, mu, n)
        if delta > 0 and np.random.random() >= np.exp(-delta / temperature):
            continue
        _apply(pairs, same, day, slot_of, busy, at, day_count, breaks, load, mk, mu, n)
        counters[TAKEN] += 1
        counters[CURRENT] += delta
        if counters[CURRENT] < counters[BEST]:
            counters[BEST] = counters[CURRENT]
            counters[LAST_BEST] = counters[TRIED]
            best[:] = slot_of
            if counters[BEST] == 0:
                return
