"""The short fault run (bench/faults.py --short), on a Kafka broker and database of its own.

The three services run as processes and are killed with SIGKILL, Kafka is stopped and
restarted, the database is down for ten seconds and a second matching instance joins and
leaves, all while signups, meeting requests, agendas and e-mails go through. Afterwards
nothing may be lost, duplicated unannounced or double booked (the checks are in
bench/faults.py). The full run, 5,000 signups, is a benchmark: docs/reliability.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.faults import Plan, run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


async def test_the_short_fault_run_loses_nothing_sends_nothing_twice_unannounced_and_books_nobody_twice(tmp_path: Path) -> None:
    lines: list[str] = []
    result = await run(Plan.short(), tmp_path / "faults", log=lines.append)

    assert result["problems"] == [], "\n".join([*result["problems"], "", *lines, f"logs and data kept in {result['run_dir']}"])
    played = [f["fault"] for f in result["faults"]]
    assert played == [str(f) for f in Plan.short().faults]
    kills = [f for f in result["faults"] if f["fault"].startswith("kill -9")]
    assert all(any(key.startswith("verified_") for key in f) for f in kills), f"a kill's committed-offsets check did not run: {kills}"
    assert sum(value for f in kills for key, value in f.items() if key.startswith("verified_")) > 100, (
        "the kills found little committed work to check"
    )
    figures = result["figures"]
    assert figures["registration"]["decided"] == figures["registration"]["signups"] > 100
    assert figures["matching"]["active_meetings"] > 0 and figures["matching"]["double_bookings"] == 0
    assert figures["mail"]["received_distinct"] == figures["mail"]["expected"] > 0
