"""Fewest breaks for a chosen set of meetings, once CP-SAT has chosen what to place.

Whole missions rarely place every meeting (someone asked for more than their slots hold),
so the race, which needs every meeting placed, cannot take them whole. Once CP-SAT's
placement phase has chosen the meetings, annealing moves them first (seconds, no proof);
if breaks remain, the race schedules exactly those meetings. On the 2020 missions they
found agendas without a break where CP-SAT's break phase stopped at 2 to 59
(docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from services.matching.domain.annealing import anneal
from services.matching.domain.heuristics import Agenda
from services.matching.domain.instance import Indexed, breaks_of, index
from services.matching.domain.portfolio import race
from services.matching.domain.satsearch import applicable

POLISH_SHARE = 0.7
"""Share of the time left after placement for annealing and the race; CP-SAT's break phase gets the rest."""
ANNEAL_SHARE = 0.3
"""Annealing's part of that share; it stops early on an agenda without a break."""


@dataclass(frozen=True)
class Polished:
    slot_of: list[int]
    breaks: int
    proven: bool
    """No agenda of the same meetings has fewer breaks."""


def fewest_breaks_for(ix: Indexed, slot_of: list[int], deadline: float) -> Polished | None:
    """An agenda of the meetings ``slot_of`` places, with the fewest breaks found in a share of the time to ``deadline``."""
    chosen = [k for k, t in enumerate(slot_of) if t >= 0]
    if not chosen:
        return None
    now = time.perf_counter()
    until = now + POLISH_SHARE * max(0.0, deadline - now)
    annealed = _annealed(ix, slot_of, now + ANNEAL_SHARE * (until - now))
    if annealed.breaks == 0:
        return annealed
    raced = _raced(ix, chosen, len(slot_of), until)
    return raced if raced is not None and raced.breaks <= annealed.breaks else annealed


def _annealed(ix: Indexed, slot_of: list[int], deadline: float) -> Polished:
    agenda = Agenda(ix)
    for k, t in enumerate(slot_of):
        if t >= 0:
            agenda.place(k, t)
    anneal(agenda, deadline)
    breaks = sum(agenda.breaks)
    return Polished(list(agenda.slot_of), breaks, proven=breaks == 0)


def _raced(ix: Indexed, chosen: list[int], n_meetings: int, deadline: float) -> Polished | None:
    meetings = ix.instance.meetings
    sub = dataclasses.replace(ix.instance, meetings=tuple(dataclasses.replace(meetings[k], required=True) for k in chosen))
    sub_ix = index(sub)
    if not applicable(sub_ix):
        return None
    answer = race(sub_ix, deadline, patience=1.0)
    if answer.slot_of is None:
        return None
    mapped = [-1] * n_meetings
    for position, k in enumerate(chosen):
        mapped[k] = answer.slot_of[position]
    if any(mapped[k] < 0 for k in chosen):
        return None
    proven = answer.optimal or (answer.breaks is not None and answer.breaks <= answer.bound)
    return Polished(mapped, sum(breaks_of(ix, mapped)), proven)
