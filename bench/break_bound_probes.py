"""Lower bounds on breaks for the 10,000-meeting benchmark: what the relaxations tried so far give, measured.

    .venv/bin/python bench/break_bound_probes.py [--seed 1] [--time-limit 120] [--pairs 300] [--day-seconds 90]

1. The agenda ``solve`` returns (as bench/scheduling_scale.py runs it), and where its breaks
   fall: per zone, and per Lombard firm and day, whether partners of two zones with disjoint
   hours met it that day (Dubai until 13:00 UTC, New York from 14:00).
2. Pairs: for sampled meetings whose two participants can each keep all their meetings, the
   fewest breaks of both together (their other partners ignored) against the sum of each one's
   own fewest. A gain anywhere would lift the bound above the participants' own minima.
3. Days: a relaxation in which each meeting gets only a day. A participant's day costs a break
   when one of its meetings that day must end before slot s, another must start after s, and
   none of its meetings that day can sit at s; per day a participant holds no more meetings
   than fit the slots of any of its meetings' domains; the placement is worth at least the
   agenda's. Its optimum bounds the breaks from below. Printed: CP-SAT's best day plan and
   bound, the agenda's own score, and the breaks annealing reaches with meetings tied to the
   best plan's days (whether the plan is near an agenda).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ortools.sat.python import cp_model

from bench.scheduling_scale import benchmark_instance
from services.matching.domain.annealing import solve_large
from services.matching.domain.ceiling import integral_weights
from services.matching.domain.instance import Indexed, breaks_of, index
from services.matching.domain.satmodel import fewest_together, own_minimum
from services.matching.domain.scheduling import solve


def where_breaks_fall(ix: Indexed, slot_of: list[int]) -> None:
    zone = [p.timezone for p in ix.instance.participants]
    per_zone: collections.Counter[str] = collections.Counter()
    for p, count in enumerate(breaks_of(ix, slot_of)):
        per_zone[zone[p]] += count
    days: collections.Counter[tuple[str, bool]] = collections.Counter()
    for p, meetings in enumerate(ix.meetings_of):
        by_day: dict[int, list[tuple[int, str]]] = collections.defaultdict(list)
        for k in meetings:
            if slot_of[k] >= 0:
                partner = ix.pairs[k][1] if ix.pairs[k][0] == p else ix.pairs[k][0]
                by_day[ix.day_of[p][slot_of[k]]].append((slot_of[k], zone[partner]))
        for held in by_day.values():
            busy = sorted(t for t, _ in held)
            gaps = sum(1 for s, t in itertools.pairwise(busy) if t - s > 1)
            if zone[p] == "Europe/Rome":
                mixed = {"Asia/Dubai", "America/New_York"} <= {z for _, z in held}
                days[("Dubai and New York" if mixed else "one of them or neither", gaps > 0)] += 1
    print(f"breaks per participant's zone: {dict(per_zone)}")
    print("| Rome firm-days with partners from | days | with a break |")
    print("|---|---|---|")
    for kind in ("Dubai and New York", "one of them or neither"):
        print(f"| {kind} | {days[(kind, True)] + days[(kind, False)]} | {days[(kind, True)]} |")


def pairs_probe(ix: Indexed, samples: int) -> None:
    began = time.perf_counter()
    own: dict[int, int | None] = {}
    gains: collections.Counter[int] = collections.Counter()
    for k in random.Random(0).sample(range(len(ix.meeting_ids)), samples):
        a, b = ix.pairs[k]
        for p in (a, b):
            if p not in own:
                own[p] = own_minimum(ix, p, 10)
        own_a, own_b = own[a], own[b]
        if own_a is None or own_b is None:
            continue
        joint = fewest_together(ix, [a, b], own_a + own_b + 2)
        gains[(own_a + own_b + 3 if joint is None else joint) - own_a - own_b] += 1
    print(f"pairs: gain over the own minima -> pairs {dict(gains)} ({time.perf_counter() - began:.0f} s)")


def day_probe(ix: Indexed, slot_of: list[int], seconds: float) -> dict[int, int]:
    """The day relaxation's best plan (meeting -> day), printing its value and proven bound."""
    model = cp_model.CpModel()
    day = {}
    for k, domain in enumerate(ix.domains):
        if domain:
            p = ix.pairs[k][0]
            day[k] = {d: model.new_bool_var("") for d in sorted({ix.day_of[p][t] for t in domain})}
            model.add_at_most_one(day[k].values())
    weights = integral_weights(ix)
    model.add(sum(weights[k] * lit for k, lits in day.items() for lit in lits.values()) >= sum(weights[k] for k in day if slot_of[k] >= 0))
    costs = [cost for p in range(len(ix.participant_ids)) for cost in _day_costs(model, ix, p, day)]
    model.minimize(sum(costs))
    fixed = model.clone()
    for k, lits in day.items():
        for d, lit in lits.items():
            held = slot_of[k] >= 0 and ix.day_of[ix.pairs[k][0]][slot_of[k]] == d
            model.add_hint(lit, held)
            fixed.add(fixed.get_bool_var_from_proto_index(lit.index) == int(held))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    solver.solve(fixed)
    agenda_score = solver.objective_value
    status = solver.solve(model)
    print(
        f"days: the agenda's plan {agenda_score:.0f} day-breaks; CP-SAT {solver.status_name(status)} in {seconds:g} s: "
        f"best plan {solver.objective_value:.0f}, bound {solver.best_objective_bound:.0f}"
    )
    return {k: d for k, lits in day.items() for d, lit in lits.items() if solver.boolean_value(lit)}


def _day_costs(model: cp_model.CpModel, ix: Indexed, p: int, day: dict[int, dict[int, cp_model.IntVar]]) -> list[cp_model.IntVar]:
    by_day: dict[int, list[tuple[cp_model.IntVar, list[int]]]] = collections.defaultdict(list)
    for k in ix.meetings_of[p]:
        for d, lit in day.get(k, {}).items():
            by_day[d].append((lit, [t for t in ix.domains[k] if ix.day_of[p][t] == d]))
    costs = []
    for held in by_day.values():
        for slots in {frozenset(s) for _, s in held}:
            inside = [lit for lit, s in held if set(s) <= slots]
            if len(inside) > len(slots):
                model.add(sum(inside) <= len(slots))
        cost = model.new_bool_var("")
        reachable = sorted({t for _, s in held for t in s})
        for t in range(reachable[0] + 1, reachable[-1]):
            before = [lit for lit, s in held if max(s) < t]
            after = [lit for lit, s in held if min(s) > t]
            if before and after:
                ended, starts = model.new_bool_var(""), model.new_bool_var("")
                model.add_max_equality(ended, before)
                model.add_max_equality(starts, after)
                model.add_bool_or([ended.Not(), starts.Not(), cost, *(lit for lit, s in held if t in s)])
        costs.append(cost)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--day-seconds", type=float, default=90.0)
    args = parser.parse_args()
    ix = index(benchmark_instance(args.seed))
    answer = solve(ix.instance, time_limit_s=args.time_limit)
    slot_of = [ix.slot_pos[answer.assignments[m]] if m in answer.assignments else -1 for m in ix.meeting_ids]
    print(f"agenda: {len(answer.assignments)} placed, {answer.total_breaks} breaks")
    where_breaks_fall(ix, slot_of)
    pairs_probe(ix, args.pairs)
    plan = day_probe(ix, slot_of, args.day_seconds)
    tied = [[t for t in domain if ix.day_of[ix.pairs[k][0]][t] == plan[k]] if k in plan else domain for k, domain in enumerate(ix.domains)]
    realized = solve_large(dataclasses.replace(ix, domains=tied), {}, args.time_limit, time.perf_counter(), reason="")
    print(f"annealing with meetings tied to the plan's days: {len(realized.assignments)} placed, {realized.total_breaks} breaks")


if __name__ == "__main__":
    main()
