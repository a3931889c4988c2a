"""The hard brokerage set: time to reach and to prove each optimum, as `outgoing schedule solve` runs it.

    .venv/bin/python bench/scheduling_hard.py [--time-limit 30] [--runs 3] [--plain-cpsat]

Each instance of bench/brokerage/instances goes through ``solve`` with fairness 2 and the
time limit, as the published instances were run. Every agenda is checked against the
hard rules and its breaks recounted by tests/unit/matching/recount.py, which shares no code
with the solver. ``--plain-cpsat`` also runs the CP-SAT model alone (the solver before the
SAT race), for the calibration column. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.matching.domain import scheduling  # noqa: E402
from services.matching.domain.instance import Instance  # noqa: E402
from services.matching.offline import parse  # noqa: E402
from tests.unit.matching.recount import recount_breaks, violations  # noqa: E402

FOLDER = ROOT / "bench" / "brokerage"


def checked(instance: Instance, time_limit: float) -> tuple[float, float | None, int, str]:
    """(seconds, seconds to the first agenda, breaks, status) of one run, after an independent check."""
    answer = scheduling.solve(instance, time_limit_s=time_limit)
    problems = violations(instance, answer)
    recounted = sum(recount_breaks(instance, dict(answer.assignments)).values())
    if problems or recounted != answer.total_breaks or answer.unscheduled:
        raise SystemExit(
            f"invalid agenda: {problems[:3]}, recount {recounted} vs {answer.total_breaks}, {len(answer.unscheduled)} unscheduled"
        )
    return answer.seconds, answer.first_solution_seconds, answer.total_breaks, answer.status


def plain_cpsat(instance: Instance, time_limit: float) -> str:
    answer = scheduling.solve(instance, time_limit_s=time_limit, sat=False)
    return f"{answer.total_breaks} ({len(answer.unscheduled)} unplaced, {answer.status})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plain-cpsat", action="store_true")
    args = parser.parse_args()
    expected = json.loads((FOLDER / "expected.json").read_text())
    header = "| instance | people / meetings / slots / tables | optimum | own minima | runs: s to prove (status) | median s | max s |"
    if args.plain_cpsat:
        header += " plain CP-SAT, 30 s |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    within = 0
    for name, facts in expected.items():
        instance, _ = parse((FOLDER / "instances" / f"{name}.json").read_bytes())
        instance = dataclasses.replace(instance, fairness=2)
        runs = []
        for _ in range(args.runs):
            seconds, _first, breaks, status = checked(instance, args.time_limit)
            if breaks != facts["optimum"]:
                status += f", {breaks} breaks"
            runs.append((seconds, status))
        times = [s for s, _ in runs]
        within += all(s <= 10 and st == "optimal" for s, st in runs)
        cells = ", ".join(f"{s:.1f} ({st})" for s, st in runs)
        row = (
            f"| {name} | {facts['participants']} / {facts['meetings']} / {facts['slots']} / {facts['tables']} | {facts['optimum']} "
            f"| {facts['own_minima']} | {cells} | {statistics.median(times):.1f} | {max(times):.1f} |"
        )
        if args.plain_cpsat:
            row += f" {plain_cpsat(instance, args.time_limit)} |"
        print(row, flush=True)
    print(f"\n{within} of {len(expected)} instances proven optimal within 10 s in every run.")


if __name__ == "__main__":
    began = time.perf_counter()
    main()
    print(f"(total {time.perf_counter() - began:.0f} s)")
