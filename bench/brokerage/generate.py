"""Brokerage-event instances calibrated on the published ones, each with a hidden agenda.

    .venv/bin/python -m bench.brokerage.generate [--prove-seconds 300]

Writes ``instances/<name>.json`` (the offline solver's format) and ``expected.json``.

Bofill et al. (JAIR 74, 2022) describe their real events: one day, a morning session and
usually an afternoon one, 8-22 slots, 12-27 tables, 42-78 participants, 125-302 meetings,
each meeting tied to the morning, to the afternoon or free, forbidden slots per participant,
fairness 2, optima of 0-6 breaks. The generator reproduces what makes them hard:

- activity is skewed (Pareto): a few participants meet in nearly every slot of the day,
  most meet a handful of times;
- tables bind: each slot of the hidden agenda is filled up to the number of tables;
- half of the meetings are tied to the session they were booked in;
- people arrive late or leave early (outside their hidden agenda), have an errand in a
  free slot, and one in ten has a slot of its hidden agenda forbidden after all.

The hidden agenda gives each participant one run of consecutive slots, so every meeting
can be placed; the forbidden slots inside the runs and the session ties push the optimum
to a few breaks that no construction reveals. ``expected.json`` records each optimum, the
solver run that proved it, and the sum of the participants' own minima (a bound anyone can
recompute participant by participant).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.matching.domain.instance import index
from services.matching.domain.portfolio import race
from services.matching.domain.satmodel import own_minimum
from services.matching.domain.scheduling import Instance, MeetingSpec, Participant, Slot
from services.matching.offline import to_json
from tests.unit.matching.recount import recount_breaks

HERE = Path(__file__).parent
INSTANCES = HERE / "instances"

ZONE = "Europe/Madrid"
DAY = datetime(2021, 10, 21, 7, 0, tzinfo=UTC)
"""09:00 in Madrid (CEST) on a Thursday: the first slot of the morning."""
AFTERNOON = datetime(2021, 10, 21, 13, 0, tzinfo=UTC)
"""15:00 in Madrid: the first slot after lunch."""


@dataclass(frozen=True)
class Shape:
    seed: int
    participants: int
    morning: int
    afternoon: int
    tables: int
    meetings: int
    minutes: int = 30
    tied: float = 0.5
    """Share of meetings tied to the session they were booked in."""
    skew: float = 1.1
    """Pareto shape of the participants' activity: lower is more skewed."""
    absent: float = 0.3
    """Chance that a participant arrives late, leaves early, or has an errand (each drawn apart)."""
    clash: float = 0.1
    """Chance that one slot of a participant's hidden agenda is forbidden to it."""

    @property
    def slots(self) -> int:
        return self.morning + self.afternoon


def _slots(shape: Shape) -> list[Slot]:
    length = timedelta(minutes=shape.minutes)
    starts = [DAY + i * length for i in range(shape.morning)]
    starts += [AFTERNOON + i * length for i in range(shape.afternoon)]
    return [Slot(id=f"s{i + 1:02d}", start=s, end=s + length) for i, s in enumerate(starts)]


def _session(shape: Shape, t: int) -> range:
    return range(shape.morning) if t < shape.morning else range(shape.morning, shape.slots)


def _sizes(rng: random.Random, shape: Shape) -> list[int]:
    """How many slots each participant is booked for: skewed, the busiest filling a session or the day."""
    n, total = shape.participants, 2 * shape.meetings
    raw = [rng.paretovariate(shape.skew) for _ in range(n)]
    scale = total / sum(raw)
    sizes = [max(1, min(shape.slots, round(r * scale))) for r in raw]
    while sum(sizes) > total:
        sizes[max(range(n), key=lambda p: sizes[p])] -= 1
    while sum(sizes) < total:
        sizes[rng.choice([p for p in range(n) if sizes[p] < shape.slots])] += 1
    return sizes


def _blocks(rng: random.Random, shape: Shape, sizes: list[int]) -> list[range]:
    """One run of consecutive slots per participant, laid out so that no slot needs more than its tables."""
    load = [0] * shape.slots
    blocks: list[range] = [range(0)] * len(sizes)
    for p in sorted(range(len(sizes)), key=lambda q: -sizes[q]):
        starts = list(range(shape.slots - sizes[p] + 1))
        rng.shuffle(starts)
        best = min(starts, key=lambda s: max(load[s : s + sizes[p]]))
        blocks[p] = range(best, best + sizes[p])
        for t in blocks[p]:
            load[t] += 1
    return blocks


def _pair_slot(rng: random.Random, people: list[int], met: set[frozenset[int]], tables: int) -> list[tuple[int, int]]:
    """Pairs of the participants booked in one slot, none met before, at most ``tables`` of them."""
    best: list[tuple[int, int]] = []
    for _ in range(30):
        pool = people[:]
        rng.shuffle(pool)
        pairs: list[tuple[int, int]] = []
        while len(pool) >= 2 and len(pairs) < tables:
            a = pool.pop()
            partner = next((b for b in pool if frozenset((a, b)) not in met), None)
            if partner is not None:
                pool.remove(partner)
                pairs.append((a, partner))
        if len(pairs) > len(best):
            best = pairs
        if 2 * len(best) >= len(people) - 1:
            break
    return best


def generate(shape: Shape) -> Instance:
    """An instance of the shape whose hidden agenda places every meeting with few breaks."""
    rng = random.Random(shape.seed)
    n = shape.participants
    blocks = _blocks(rng, shape, _sizes(rng, shape))
    met: set[frozenset[int]] = set()
    booked: list[tuple[int, int, int]] = []
    for t in range(shape.slots):
        for a, b in _pair_slot(rng, [p for p in range(n) if t in blocks[p]], met, shape.tables):
            met.add(frozenset((a, b)))
            booked.append((a, b, t))
    busy = [{t for a, b, t in booked if p in (a, b)} for p in range(n)]
    away = [_absent(rng, shape, busy[p]) for p in range(n)]
    slots = _slots(shape)
    ids = [s.id for s in slots]
    meetings = []
    for k, (a, b, t) in enumerate(rng.sample(booked, len(booked))):
        tied = shape.afternoon > 0 and rng.random() < shape.tied
        allowed = frozenset(ids[u] for u in _session(shape, t)) if tied else None
        meetings.append(MeetingSpec(id=f"m{k + 1:03d}", participants=(f"p{a + 1:02d}", f"p{b + 1:02d}"), allowed_slots=allowed))
    participants = tuple(
        Participant(id=f"p{p + 1:02d}", timezone=ZONE, forbidden_slots=frozenset(ids[t] for t in away[p])) for p in range(n)
    )
    return Instance(slots=tuple(slots), participants=participants, meetings=tuple(meetings), capacity=shape.tables, fairness=2)


def _absent(rng: random.Random, shape: Shape, busy: set[int]) -> set[int]:
    """Slots a participant cannot attend: arriving late, leaving early, or an errand in a free slot.

    With probability ``shape.clash`` one slot of its hidden agenda is blocked too, which is
    what forces breaks (or a different agenda) on an otherwise perfect day.
    """
    away: set[int] = set()
    if not busy:
        return away
    first, last = min(busy), max(busy)
    if rng.random() < shape.absent:
        away |= set(range(rng.randint(0, first)))
    if rng.random() < shape.absent:
        away |= set(range(rng.randint(last + 1, shape.slots), shape.slots))
    idle = [t for t in range(shape.slots) if t not in busy and t not in away]
    if idle and rng.random() < shape.absent:
        away.add(rng.choice(idle))
    if rng.random() < shape.clash and len(busy) < shape.slots - len(away) - 1:
        away.add(rng.choice(sorted(busy)))
    return away


SHAPES: dict[str, Shape] = {
    "bk01-42x125-8": Shape(seed=101, participants=42, morning=8, afternoon=0, tables=17, meetings=125),
    "bk02-45x130-10": Shape(seed=102, participants=45, morning=10, afternoon=0, tables=14, meetings=130),
    "bk03-48x170-16": Shape(seed=103, participants=48, morning=8, afternoon=8, tables=12, meetings=170),
    "bk04-50x135-12": Shape(seed=104, participants=50, morning=6, afternoon=6, tables=12, meetings=135),
    "bk05-52x240-22": Shape(seed=105, participants=52, morning=11, afternoon=11, tables=12, meetings=240),
    "bk06-55x250-20": Shape(seed=106, participants=55, morning=10, afternoon=10, tables=14, meetings=250),
    "bk07-58x220-12": Shape(seed=107, participants=58, morning=12, afternoon=0, tables=20, meetings=220),
    "bk08-60x280-22": Shape(seed=108, participants=60, morning=11, afternoon=11, tables=14, meetings=280),
    "bk09-62x260-18": Shape(seed=109, participants=62, morning=9, afternoon=9, tables=16, meetings=260),
    "bk10-64x290-21": Shape(seed=110, participants=64, morning=11, afternoon=10, tables=15, meetings=290),
    "bk11-66x260-16": Shape(seed=111, participants=66, morning=8, afternoon=8, tables=18, meetings=260),
    "bk12-68x270-22": Shape(seed=112, participants=68, morning=11, afternoon=11, tables=13, meetings=270),
    "bk13-70x300-20": Shape(seed=113, participants=70, morning=10, afternoon=10, tables=16, meetings=300),
    "bk14-72x295-22": Shape(seed=114, participants=72, morning=12, afternoon=10, tables=14, meetings=295),
    "bk15-74x302-22": Shape(seed=115, participants=74, morning=11, afternoon=11, tables=27, meetings=302),
    "bk16-75x290-16": Shape(seed=116, participants=75, morning=8, afternoon=8, tables=20, meetings=290),
    "bk17-76x302-22": Shape(seed=117, participants=76, morning=11, afternoon=11, tables=14, meetings=302),
    "bk18-78x300-20": Shape(seed=118, participants=78, morning=10, afternoon=10, tables=16, meetings=300),
    "bk19-78x302-22": Shape(seed=119, participants=78, morning=11, afternoon=11, tables=15, meetings=302),
    "bk20-44x200-22": Shape(seed=120, participants=44, morning=11, afternoon=11, tables=12, meetings=200),
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the brokerage instances and prove their optima.")
    parser.add_argument("--prove-seconds", type=float, default=300.0)
    args = parser.parse_args()
    INSTANCES.mkdir(exist_ok=True)
    expected = {}
    for name, shape in SHAPES.items():
        instance = generate(shape)
        (INSTANCES / f"{name}.json").write_text(json.dumps(to_json(instance), separators=(",", ":")) + "\n")
        ix = index(instance)
        began = time.perf_counter()
        answer = race(ix, began + args.prove_seconds)
        seconds = time.perf_counter() - began
        if not answer.optimal or answer.slot_of is None:
            raise SystemExit(f"{name}: optimum not proven in {args.prove_seconds} s: {answer.trace}")
        agenda = {ix.meeting_ids[k]: ix.slot_ids[t] for k, t in enumerate(answer.slot_of) if t >= 0}
        if len(agenda) != len(instance.meetings) or sum(recount_breaks(instance, agenda).values()) != answer.breaks:
            raise SystemExit(f"{name}: the agenda does not recount to {answer.breaks} breaks with every meeting placed")
        own = sum(own_minimum(ix, p, limit=ix.n_slots) or 0 for p in range(len(ix.participant_ids)))
        expected[name] = {
            "participants": len(instance.participants),
            "meetings": len(instance.meetings),
            "slots": len(instance.slots),
            "tables": shape.tables,
            "optimum": answer.breaks,
            "own_minima": own,
            "source": f"proven by the SAT race when generated ({seconds:.1f} s); agenda recounted",
        }
        print(name, expected[name], flush=True)
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    main()
