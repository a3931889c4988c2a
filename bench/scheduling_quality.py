"""Agenda quality: the exact scheduler against first-come-first-served, on seeded missions and forum-shaped instances.

    .venv/bin/python bench/scheduling_quality.py [--time-limit 30]

Missions use the 2020 edition's real grids (time zones, DST, business hours), seeded
companies with unavailability spans, and meeting requests; the forum instances are the
fixtures in tests/fixtures/scheduling. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.matching.domain.scheduling import Instance, Schedule, greedy_first_come, solve  # noqa: E402
from services.matching.offline import parse  # noqa: E402
from shared.contracts.edition_2020 import MISSIONS_2020  # noqa: E402
from tests.unit.matching.instances import random_mission  # noqa: E402

MISSIONS = {m.mission_id: m for m in MISSIONS_2020}


def generated() -> list[tuple[str, Instance]]:
    india, canada, uk = MISSIONS["india-2020"], MISSIONS["canada-2020"], MISSIONS["uk-2020"]
    return [
        ("india-2020, 40+40 firms, 6 requests each, 10 days", random_mission(1, india, 40, 40, 6)),
        ("russia-2020 first week, 30+30 firms, 8 requests", random_mission(2, MISSIONS["russia-2020"], 30, 30, 8, days=5)),
        (
            "canada-2020, 30+30 firms (some in Vancouver), 6 requests",
            random_mission(3, canada, 30, 30, 6, other_zones=("America/Vancouver",)),
        ),
        (
            "uk-2020 3 days of 20 min, 60+40 firms, 8 requests",
            random_mission(
                4, uk.model_copy(update={"meeting_minutes": 20, "window_end": date(2020, 11, 4), "parallel_capacity": 15}), 60, 40, 8
            ),
        ),
    ]


def fixtures() -> list[tuple[str, Instance]]:
    folder = ROOT / "tests" / "fixtures" / "scheduling"
    expected = json.loads((folder / "expected.json").read_text())
    return [
        (f"{name} (optimum {expected[name]['total_breaks']})", parse((folder / f"{name}.json").read_bytes())[0])
        for name in sorted(expected)
    ]


def row(name: str, instance: Instance, baseline: Schedule, best: Schedule) -> str:
    def cells(s: Schedule) -> str:
        return f"{len(s.assignments)} | {s.total_breaks} | {max(s.breaks.values(), default=0)} | {s.seconds:.2f}"

    status = best.status + ("" if best.status != "feasible" or best.bound is None else f" (bound {best.bound:g})")
    return (
        f"| {name} | {len(instance.participants)} / {len(instance.meetings)} / {len(instance.slots)} | "
        f"{cells(baseline)} | {cells(best)} | {status} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()
    print(
        "| instance | people / meetings / slots | FCFS placed | FCFS breaks | FCFS max | FCFS s "
        "| solver placed | solver breaks | solver max | solver s | solver status |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    began = time.perf_counter()
    for name, instance in generated() + fixtures():
        baseline = greedy_first_come(instance)
        best = solve(instance, time_limit_s=args.time_limit)
        print(row(name, instance, baseline, best), flush=True)
    print(f"\n(total {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
