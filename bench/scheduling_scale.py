"""Scale of the agenda scheduler: 1,000 participants, 10,000 requested meetings, three days of 20-minute slots.

    .venv/bin/python bench/scheduling_scale.py [--time-limit 120] [--seed 1]

Reports which solver ran (the exact one hands over to greedy + local search above
EXACT_UP_TO_LITERALS meeting-slot choices), the time to a first complete agenda, to the
final one, and the process's peak resident memory (ru_maxrss, instance building included).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.matching.domain.instance import index
from services.matching.domain.scheduling import EXACT_UP_TO_LITERALS, Instance, greedy_first_come, solve
from shared.contracts.edition_2020 import MISSIONS_2020
from tests.unit.matching.instances import random_mission


def benchmark_instance(seed: int) -> Instance:
    """Rome firms meeting London, New York and Dubai partners over three days of the uk-2020 mission."""
    uk = next(m for m in MISSIONS_2020 if m.mission_id == "uk-2020")
    mission = uk.model_copy(
        update={
            "meeting_minutes": 20,
            "window_start": date(2020, 11, 2),
            "window_end": date(2020, 11, 4),
            "parallel_capacity": 250,
            "max_meetings_per_company": 40,
        }
    )
    return random_mission(seed, mission, lombard=500, foreign=500, requests_per_company=20, other_zones=("America/New_York", "Asia/Dubai"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    began = time.perf_counter()
    instance = benchmark_instance(args.seed)
    built = time.perf_counter() - began
    choices = sum(len(domain) for domain in index(instance).domains)
    baseline = greedy_first_come(instance)
    answer = solve(instance, time_limit_s=args.time_limit)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    placed = len(answer.assignments)
    print(
        f"participants {len(instance.participants)}, meetings {len(instance.meetings)}, slots {len(instance.slots)}, "
        f"{choices} meeting-slot choices (exact solver up to {EXACT_UP_TO_LITERALS}); built in {built:.1f} s"
    )
    print()
    print("| agenda | solver | placed | total breaks | max breaks | first agenda | final agenda |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| first come, first served | baseline | {len(baseline.assignments)} | {baseline.total_breaks} | "
        f"{max(baseline.breaks.values())} | {baseline.seconds:.1f} s | {baseline.seconds:.1f} s |"
    )
    print(
        f"| `solve(time_limit_s={args.time_limit:g})` | {answer.solver} | {placed} | {answer.total_breaks} | "
        f"{max(answer.breaks.values())} | {answer.first_solution_seconds:.1f} s | {answer.seconds:.1f} s |"
    )
    print()
    worker_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    gap = "none" if answer.gap is None else f"{answer.gap:.1%}"
    print(f"bound on breaks {answer.bound}, gap {gap}")
    print(f"status {answer.status}; peak RSS {peak_mib:.0f} MiB (bound worker {worker_mib:.0f} MiB); reason: {answer.reason}")


if __name__ == "__main__":
    main()
