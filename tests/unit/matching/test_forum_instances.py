"""Forum-shaped instances (see tests/fixtures/scheduling/generate.py): the known optimum is reached.

The time limit is generous on purpose: these finish in seconds, and a loaded machine must
not turn a correct answer into a failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.matching.domain.scheduling import greedy_first_come, solve
from services.matching.offline import parse
from tests.unit.matching.recount import violations

FIXTURES = Path(__file__).parents[2] / "fixtures" / "scheduling"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_known_optimum_is_reached(name: str) -> None:
    instance, _ = parse((FIXTURES / f"{name}.json").read_bytes())
    assert 40 <= len(instance.participants) <= 80 and 90 <= len(instance.meetings) <= 300
    answer = solve(instance, time_limit_s=120)
    assert violations(instance, answer) == []
    assert answer.status == "optimal", answer.reason
    assert answer.total_breaks == EXPECTED[name]["total_breaks"] == answer.bound
    assert len(answer.unscheduled) == EXPECTED[name]["unscheduled"]
    baseline = greedy_first_come(instance)
    assert baseline.total_breaks > answer.total_breaks
