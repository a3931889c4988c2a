"""The whole-mission bound on breaks: never above any agenda placing as many meetings, and not empty either."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.domain import boundworker, scheduling
from services.matching.domain.breakbound import _envelope, combine, curve
from services.matching.domain.frames import ROOT
from services.matching.domain.instance import Instance, MeetingSpec, Participant, Slot, index, make_schedule
from services.matching.domain.windows import most_kept
from tests.unit.matching.recount import recount_breaks, violations
from tests.unit.matching.test_scheduling_properties import FAST, instances

DAY = datetime(2020, 11, 2, 9, 0, tzinfo=UTC)


def _fewest_by_placed(instance: Instance) -> dict[int, int]:
    """For each number of meetings placed, the fewest breaks of any valid agenda, by enumerating them all."""
    ix = index(instance)
    fewest: dict[int, int] = {}
    for choice in itertools.product(*([-1, *ix.domains[k]] for k in range(len(ix.meeting_ids)))):
        schedule = make_schedule(ix, list(choice), status="feasible", solver="sat", bound=None, started=0, now=0, previous={})
        if violations(instance, schedule):
            continue
        placed = sum(1 for t in choice if t >= 0)
        breaks = sum(recount_breaks(instance, dict(schedule.assignments)).values())
        fewest[placed] = min(breaks, fewest.get(placed, breaks))
    return fewest


def _bound(instance: Instance, placed_at_least: int) -> int:
    ix = index(instance)
    tops = [most_kept(ix, p) for p in range(len(ix.participant_ids))]
    return combine(ix, {p: curve(ix, p) for p in range(len(tops))}, placed_at_least, tops)


@settings(FAST, max_examples=60)
@given(instances(max_meetings=4, max_slots=4))
def test_no_agenda_placing_as_many_meetings_has_fewer_breaks_than_the_bound(instance: Instance) -> None:
    fewest = _fewest_by_placed(instance)
    for placed in fewest:
        best = min(b for n, b in fewest.items() if n >= placed)
        assert _bound(instance, placed) <= best, (placed, fewest)


def _slots(n: int) -> tuple[Slot, ...]:
    return tuple(Slot(id=f"s{i}", start=DAY + timedelta(minutes=30 * i), end=DAY + timedelta(minutes=30 * i + 30)) for i in range(n))


def _instance(meetings: tuple[MeetingSpec, ...], people: str) -> Instance:
    return Instance(slots=_slots(3), participants=tuple(Participant(p, "Europe/Rome") for p in people), meetings=meetings, capacity=3)


PA = MeetingSpec("pa", ("P", "A"), allowed_slots=frozenset({"s0"}))
PB = MeetingSpec("pb", ("P", "B"), allowed_slots=frozenset({"s2"}))


def test_a_break_one_participant_cannot_avoid_alone_is_proven() -> None:
    """P meets A only at 9:00 and B only at 10:00: keeping both costs P a break, keeping one does not."""
    instance = _instance((PA, PB), "PAB")
    ix = index(instance)
    assert curve(ix, ix.participant_ids.index("P")) == {2: 1, 1: 0}
    assert _bound(instance, 2) == 1 == _fewest_by_placed(instance)[2]
    assert _bound(instance, 1) == 0


def test_an_overfull_partner_may_leave_out_the_meeting_that_costs_a_break() -> None:
    """B can hold one of its two meetings (both at 10:00): leaving out P's spares P its break at no cost in meetings."""
    instance = _instance((PA, PB, MeetingSpec("bc", ("B", "C"), allowed_slots=frozenset({"s2"}))), "PABC")
    assert _fewest_by_placed(instance)[2] == 0
    assert _bound(instance, 2) == 0


def test_a_partner_holding_fewer_meetings_than_asked_cannot_stand_in_for_p() -> None:
    """C's two meetings with D both want 9:30, so at most one counts: three placed means both of P's."""
    together = (MeetingSpec(f"cd{i}", ("C", "D"), allowed_slots=frozenset({"s1"})) for i in (1, 2))
    instance = _instance((PA, PB, *together), "PABCD")
    assert _fewest_by_placed(instance)[3] == 1
    assert _bound(instance, 3) == 1


@given(st.lists(st.integers(0, 3), min_size=1, max_size=6))
def test_the_envelope_lies_under_the_curve_and_meets_it_at_both_ends(steps: list[int]) -> None:
    """Breaks by meetings placed, from the first 0 up: any nondecreasing curve."""
    points = {5 + i: sum(steps[: i + 1]) - steps[0] for i in range(len(steps))}
    lines = list(_envelope(points))
    for k, breaks in points.items():
        assert max((a * k + b for a, b in lines), default=0.0) <= breaks + 1e-9
    first, last = min(points), max(points)
    assert max((a * last + b for a, b in lines), default=0.0) == pytest.approx(points[last])
    assert max((a * first + b for a, b in lines), default=0.0) == pytest.approx(points[first])


def test_solve_above_the_exact_limit_reports_the_bound_and_its_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path of the 10,000-meeting benchmark: the bound comes from a worker process on the other core."""
    monkeypatch.setattr(scheduling, "EXACT_UP_TO_LITERALS", 1)
    instance = _instance((PA, PB), "PAB")
    began = time.perf_counter()
    answer = scheduling.solve(instance, time_limit_s=20)
    assert answer.solver == "heuristic" and answer.total_breaks == 1
    assert answer.bound == 1.0 and answer.gap == 0.0, answer.reason
    assert "no agenda placing 2 meetings or more has fewer than 1 breaks" in answer.reason
    assert time.perf_counter() - began < 15, "the worker's answer should end the wait, not the deadline"


def test_without_its_worker_the_answer_comes_with_no_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine out of processes still gets its agenda; the reason says the bound is missing."""

    def refused(*_: object) -> NoReturn:
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(scheduling, "EXACT_UP_TO_LITERALS", 1)
    monkeypatch.setattr(boundworker, "spawn", refused)
    answer = scheduling.solve(_instance((PA, PB), "PAB"), time_limit_s=2)
    assert answer.solver == "heuristic" and answer.total_breaks == 1
    assert answer.bound == 0.0 and "no bound on breaks: its worker did not finish in time" in answer.reason


def test_a_worker_stopped_at_the_deadline_leaves_the_bound_it_had_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real process that writes one bound and then works on past the deadline: the parent keeps that bound and kills it."""
    script = "import sys, time; from services.matching.domain.frames import write_frame; write_frame(sys.stdout.buffer, 7); time.sleep(60)"
    started: list[subprocess.Popen[bytes]] = []

    def slow(module: str, payload: object) -> subprocess.Popen[bytes]:
        started.append(
            subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
        )
        return started[-1]

    monkeypatch.setattr(boundworker, "spawn", slow)
    worker = boundworker.BoundWorker(index(_instance((PA, PB), "PAB")), 2, 60.0)
    proven = worker.collect(until=time.perf_counter() + 3.0)
    assert proven == boundworker.Proven(7, finished=False)
    assert started[0].returncode is not None, "the worker outlived its deadline"
    assert "fewer than 7 breaks (each participant alone, combined, unfinished at the deadline)" in proven.says(2)
