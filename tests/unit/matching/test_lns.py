"""Large-neighbourhood search: each step is exact on its neighbourhood and never makes the agenda worse."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.matching.domain.heuristics import Agenda, answer, construct
from services.matching.domain.instance import breaks_of, index
from services.matching.domain.lns import search
from services.matching.domain.scheduling import Instance, MeetingSpec, Participant, Slot
from services.matching.offline import parse
from tests.unit.matching.recount import recount_breaks, violations

BROKERAGE = Path(__file__).parents[3] / "bench" / "brokerage" / "instances"


def test_the_search_only_improves_and_keeps_every_rule() -> None:
    instance, _ = parse((BROKERAGE / "bk13-70x300-20.json").read_bytes())
    ix = index(instance)
    agenda = construct(ix, {})
    placed_before = sum(t >= 0 for t in agenda.slot_of)
    breaks_before = sum(agenda.breaks)
    began = time.perf_counter()
    stats = search(agenda, began + 8.0, seed=3)
    assert stats.steps >= 3 and stats.improved > 0
    assert sum(agenda.breaks) < breaks_before
    assert sum(t >= 0 for t in agenda.slot_of) >= placed_before
    assert agenda.breaks == breaks_of(ix, agenda.slot_of), "the incremental counts drifted from a recount"
    schedule = answer(ix, agenda, {}, began, began, reason="lns")
    assert violations(instance, schedule) == []
    assert sum(recount_breaks(instance, dict(schedule.assignments)).values()) == sum(agenda.breaks)


def test_frozen_meetings_stay_where_they_are() -> None:
    instance, _ = parse((BROKERAGE / "bk05-52x240-22.json").read_bytes())
    ix = index(instance)
    agenda = construct(ix, {})
    frozen = {k for k, t in enumerate(agenda.slot_of) if t >= 0 and k % 3 == 0}
    where = {k: agenda.slot_of[k] for k in frozen}
    stats = search(agenda, time.perf_counter() + 2.0, frozen=frozen, seed=1)
    assert stats.steps > 0
    assert {k: agenda.slot_of[k] for k in frozen} == where


def test_meetings_left_out_are_placed_within_max_meetings() -> None:
    """Three firms, a limit of one meeting each for two of them: placement first, never past the limit."""
    day = datetime(2020, 10, 20, 8, 0, tzinfo=UTC)
    slots = tuple(Slot(id=f"s{i}", start=day + timedelta(minutes=30 * i), end=day + timedelta(minutes=30 * i + 30)) for i in range(4))
    people = (
        Participant("a", "Europe/Rome", max_meetings=1),
        Participant("b", "Europe/Rome"),
        Participant("c", "Europe/Rome", max_meetings=1),
        Participant("d", "Europe/Rome"),
    )
    meetings = (
        MeetingSpec("ab", ("a", "b")),
        MeetingSpec("ac", ("a", "c")),
        MeetingSpec("bd", ("b", "d"), fixed_slot="s0"),
        MeetingSpec("bd2", ("b", "c"), fixed_slot="s3"),
    )
    instance = Instance(slots=slots, participants=people, meetings=meetings, capacity=2)
    ix = index(instance)
    agenda = Agenda(ix)
    agenda.place(ix.meeting_pos["bd"], 0)
    agenda.place(ix.meeting_pos["bd2"], 3)
    stats = search(agenda, time.perf_counter() + 3.0, seed=2)
    assert stats.steps > 0
    placed = {ix.meeting_ids[k] for k, t in enumerate(agenda.slot_of) if t >= 0}
    assert "ab" in placed and "ac" not in placed
    schedule = answer(ix, agenda, {}, 0.0, 0.0, reason="lns")
    assert violations(instance, schedule) == []
