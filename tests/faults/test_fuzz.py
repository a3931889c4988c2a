"""The short fuzz run (bench/fuzz.py): hostile records on every consumed topic, produced
as an outside client would, against the three services running as processes.

Every consumer group must commit to the end of every partition (no stall), no service may
die, and every dead letter must say why. The full run, 10,000 cases per input type, is a
benchmark: docs/reliability.md.
"""

from __future__ import annotations

import pytest

from bench.fuzz import run
from deploy.local import infra

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


async def test_the_short_fuzz_run_stalls_nothing_crashes_nothing_and_explains_every_dead_letter(real_servers: infra.Config) -> None:
    result = await run(cases=25, seed=11, timeout_s=400)

    assert result["stalled_groups"] == {}, result
    assert result["crashed"] == [], result
    assert result["dead_letters_without_reason"] == 0, result
    assert {key.split(":")[0] for key in result["dead_lettered"]} == {"registration", "matching", "notifications"}, (
        "a service dead-lettered nothing"
    )
