"""The agenda scheduler: which slot each meeting gets, with as few idle gaps as possible.

Self-service platforms let each pair grab the first free common slot, which leaves
agendas full of gaps. Here the whole mission is scheduled at once, lexicographically:
(1) place every meeting if possible, else the most valuable by weight (required ones
must be placed); (2) when re-scheduling, move as few previously placed meetings as
possible; (3) minimise the total number of breaks; optionally (4) keep any two
participants' break counts within ``fairness`` of each other (a hard constraint).

A break: two consecutive meetings of a participant on the same day, in the participant's
own time zone, with at least one mission slot between them. Gaps with no mission slot
in them (lunch, the night) are not breaks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

from services.matching.domain.annealing import solve_large
from services.matching.domain.grid import mission_slots, unavailable_slots
from services.matching.domain.heuristics import construct, greedy_first_come, improve
from services.matching.domain.instance import (
    Indexed,
    Instance,
    InstanceError,
    MeetingSpec,
    Participant,
    Schedule,
    Slot,
    breaks_of,
    index,
    is_complete,
    known_previous,
    make_schedule,
)
from services.matching.domain.polish import fewest_breaks_for
from services.matching.domain.portfolio import Race, race
from services.matching.domain.satsearch import applicable

__all__ = [
    "Instance",
    "InstanceError",
    "MeetingSpec",
    "Participant",
    "Schedule",
    "Slot",
    "count_breaks",
    "greedy_first_come",
    "mission_slots",
    "solve",
    "unavailable_slots",
]

DEFAULT_WORKERS = 8
"""CP-SAT's portfolio needs its diverse workers more than it needs cores: on 2 cores, 8
workers find zero-break agendas of forum-sized instances 10-50x sooner than 2 do."""

EXACT_UP_TO_LITERALS = 150_000
"""Above this many (meeting, slot) choices the exact model takes too long to build and
search on two cores; the greedy + local search heuristic answers instead."""


def solve(
    instance: Instance,
    *,
    time_limit_s: float = 30.0,
    previous: Mapping[str, str] | None = None,
    workers: int | None = None,
    sat: bool = True,
) -> Schedule:
    """Schedule every meeting of the instance; raises InstanceError if the instance is malformed.

    ``previous`` (meeting id -> slot id) is the agenda already published: entries naming
    meetings or slots that no longer exist are ignored.

    When every placeable meeting can be placed and nothing is to be kept, two SAT workers
    race for the fewest breaks (``portfolio``); they prove the optimum of brokerage-sized
    events in seconds. Otherwise, or if they find nothing, CP-SAT's lexicographic phases
    answer; when not everything fits, annealing and then the race re-schedule the meetings
    CP-SAT chose (``polish``). ``sat=False`` skips the race (benchmarks compare the two).
    """
    # Imported here: OR-Tools takes 2 s to import, and the SAT race may answer without it.
    from services.matching.domain.cpsat import solve_cpsat

    started = time.perf_counter()
    ix = index(instance)
    kept = known_previous(ix, previous)
    literals = sum(len(d) for d in ix.domains)
    if literals > EXACT_UP_TO_LITERALS:
        return solve_large(ix, kept, time_limit_s, started, reason=f"{literals} meeting-slot choices: too large for the exact solver")
    sat_bound = 0
    ran_race = sat and not kept and applicable(ix)
    if ran_race:
        answer = race(ix, started + time_limit_s)
        if answer.slot_of is not None:
            return _sat_schedule(ix, answer, started)
        sat_bound = 0 if answer.infeasible else answer.bound
    agenda = construct(ix, kept)
    first = time.perf_counter() if is_complete(ix, agenda.slot_of) else None
    improve(agenda, started + min(1.0, 0.1 * time_limit_s), frozen={k for k, t in kept.items() if agenda.slot_of[k] == t})
    exact = solve_cpsat(
        ix,
        previous=kept,
        hint=agenda.slot_of,
        time_limit_s=time_limit_s,
        workers=workers or DEFAULT_WORKERS,
        started=started,
        first_solution=first,
        polish=fewest_breaks_for if sat and not kept and not ran_race else None,
    )
    if exact is not None:
        return _with_bound(ix, exact, sat_bound)
    return solve_large(
        ix,
        kept,
        time_limit_s,
        started,
        reason="the exact solver found no agenda in time; heuristic answer",
    )


def _sat_schedule(ix: Indexed, answer: Race, started: float) -> Schedule:
    assert answer.slot_of is not None
    proven = answer.optimal or (answer.breaks is not None and answer.breaks <= answer.bound)
    reason = "" if proven else f"time limit reached: no agenda with fewer than {answer.bound} breaks, none found with {answer.bound} yet"
    return make_schedule(
        ix,
        answer.slot_of,
        status="optimal" if proven else "feasible",
        solver="sat",
        bound=float(answer.bound),
        started=started,
        now=time.perf_counter(),
        previous={},
        first_solution=answer.first_found,
        reason=reason,
    )


def _with_bound(ix: Indexed, schedule: Schedule, sat_bound: int) -> Schedule:
    """CP-SAT's answer with the SAT race's bound, which holds when every placeable meeting is placed."""
    placed_all = all(m in schedule.assignments for k, m in enumerate(ix.meeting_ids) if ix.domains[k])
    if not placed_all or schedule.bound is None or sat_bound <= schedule.bound:
        return schedule
    proven = schedule.total_breaks <= sat_bound
    return dataclasses.replace(
        schedule,
        bound=float(sat_bound),
        gap=0.0 if proven else (schedule.total_breaks - sat_bound) / max(schedule.total_breaks, 1),
        status="optimal" if proven else schedule.status,
        reason="" if proven else schedule.reason,
    )


def count_breaks(instance: Instance, assignments: Mapping[str, str]) -> dict[str, int]:
    """Breaks per participant for an agenda (meeting id -> slot id) of this instance."""
    ix = index(instance)
    slot_of = [-1] * len(ix.meeting_ids)
    for meeting, slot in assignments.items():
        if meeting not in ix.meeting_pos:
            raise InstanceError(f"assignment names unknown meeting {meeting!r}")
        if slot not in ix.slot_pos:
            raise InstanceError(f"assignment of meeting {meeting!r} names unknown slot {slot!r}")
        slot_of[ix.meeting_pos[meeting]] = ix.slot_pos[slot]
    return dict(zip(ix.participant_ids, breaks_of(ix, slot_of), strict=True))
