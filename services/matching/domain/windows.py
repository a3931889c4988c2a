"""Where one participant's meetings can sit without a break: its feasible windows."""

from __future__ import annotations

from services.matching.domain.instance import Indexed

MAX_WINDOWS = 64
"""Beyond this many windows the implied clause no longer pays for itself."""


def fits(domains: list[list[int]], slots: list[int]) -> bool:
    """Whether each meeting gets its own slot among ``slots``: a perfect bipartite matching."""
    if len(domains) > len(slots):
        return False
    usable = set(slots)
    return most_placed([[t for t in domain if t in usable] for domain in domains]) == len(domains)


def most_placed(domains: list[list[int]]) -> int:
    """How many of the meetings can each get a slot of its own: a maximum bipartite matching (Kuhn's).

    Hand-written because it is a dozen lines on at most a few dozen vertices, and a solver
    process that imports scipy for it starts a second later.
    """
    holder: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for t in domains[i]:
            if t not in seen:
                seen.add(t)
                if t not in holder or place(holder[t], seen):
                    holder[t] = i
                    return True
        return False

    return sum(place(i, set()) for i in sorted(range(len(domains)), key=lambda i: len(domains[i])))


def most_kept(ix: Indexed, p: int) -> int:
    """The most meetings p can hold: a maximum matching of its meetings into their slots, within ``max_meetings``."""
    most = most_placed([ix.domains[k] for k in ix.meetings_of[p] if ix.domains[k]])
    limit = ix.max_meetings[p]
    return most if limit is None else min(most, limit)


def feasible_windows(ix: Indexed, p: int) -> list[list[int]] | None:
    """Runs of consecutive slots of one local day that hold all of p's meetings exactly.

    None when p's meetings may span several local days (a zero-break agenda may then be
    split over days) or when there are too many windows to be worth a clause.
    """
    domains = [ix.domains[k] for k in ix.meetings_of[p] if ix.domains[k]]
    if len(domains) < 2:
        return None
    reachable = sorted({t for d in domains for t in d})
    if len({ix.day_of[p][t] for t in reachable}) > 1:
        return None
    n = len(domains)
    windows = []
    for first in range(reachable[0], reachable[-1] - n + 2):
        window = list(range(first, first + n))
        if all(ix.same_day_prev[p][t] for t in window[1:]) and fits(domains, window):
            windows.append(window)
    return windows if len(windows) <= MAX_WINDOWS else None
