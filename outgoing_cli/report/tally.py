"""Missions' outcomes added up per market, sector or mission: exact, whatever the grouping.

The contract keeps only counts, sums and id lists, so adding is exact: id lists are
unioned (a company enrolled in two missions is one company, a meeting two sectors report
is one meeting), counts are added, and every rate is computed later from the added
counts, never averaged from rates. Contract values are added as fractions, so a sum does
not depend on the order of the groups it went through.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any, Literal

from shared.contracts.reporting import Figures, MissionOutcomes

Grouping = Literal["market", "sector", "mission"]
GROUPINGS: tuple[Grouping, ...] = ("market", "sector", "mission")
NO_SECTOR = "(no sector)"
"""The group of a mission that reports no sectors: its whole total."""


@dataclass(frozen=True)
class Tally:
    """The figures of any set of missions or sectors, in a form that adds exactly."""

    missions: frozenset[str] = frozenset()
    markets: frozenset[str] = frozenset()
    lombard: frozenset[str] = frozenset()
    foreign: frozenset[str] = frozenset()
    invited: frozenset[str] = frozenset()
    attended: frozenset[str] = frozenset()
    contradictory: frozenset[str] = frozenset()
    meetings_requested: int = 0
    meetings_scheduled: int = 0
    meetings_held: int = 0
    meetings_no_show: int = 0
    satisfaction_surveys: int = 0
    outcome_surveys: int = 0
    satisfaction: Mapping[str, int] = field(default_factory=dict)
    outcomes: Mapping[str, int] = field(default_factory=dict)
    contract_values: Mapping[str, Fraction] = field(default_factory=dict)

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{f.name: _added(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)})


def _added(mine: Any, theirs: Any) -> Any:
    if isinstance(mine, frozenset):
        return mine | theirs
    if isinstance(mine, Mapping):
        return {key: mine.get(key, 0) + theirs.get(key, 0) for key in sorted({*mine, *theirs})}
    return mine + theirs


def tally_of(mission: MissionOutcomes, figures: Figures) -> Tally:
    """One mission's figures (its total or one sector's) as a Tally."""
    return Tally(
        missions=frozenset({mission.mission_id}),
        markets=frozenset({mission.market}),
        lombard=frozenset(figures.lombard),
        foreign=frozenset(figures.foreign),
        invited=frozenset(figures.invited),
        attended=frozenset(figures.attended),
        contradictory=frozenset(figures.contradictory),
        meetings_requested=figures.meetings_requested,
        meetings_scheduled=figures.meetings_scheduled,
        meetings_held=figures.meetings_held,
        meetings_no_show=figures.meetings_no_show,
        satisfaction_surveys=figures.satisfaction_surveys,
        outcome_surveys=figures.outcome_surveys,
        satisfaction={str(score): n for score, n in figures.satisfaction.items()},
        outcomes={str(kind): n for kind, n in figures.outcomes.items()},
        contract_values={currency: Fraction(value) for currency, value in figures.contract_values.items()},
    )


def summed(tallies: Iterable[Tally]) -> Tally:
    return functools.reduce(operator.add, tallies, Tally())


def latest_per_mission(missions: Iterable[MissionOutcomes]) -> list[MissionOutcomes]:
    """One report per mission, the latest: a source that lists a mission twice must not count it twice."""
    latest: dict[str, MissionOutcomes] = {}
    for mission in missions:
        known = latest.get(mission.mission_id)
        if known is None or mission.as_of >= known.as_of:
            latest[mission.mission_id] = mission
    return sorted(latest.values(), key=lambda m: (m.edition, m.mission_id))


def selected(missions: Iterable[MissionOutcomes], edition: int | None, mission_ids: Collection[str]) -> list[MissionOutcomes]:
    return [m for m in missions if (edition is None or m.edition == edition) and (not mission_ids or m.mission_id in mission_ids)]


def grouped(missions: Iterable[MissionOutcomes], by: Grouping) -> dict[str, Tally]:
    """The missions' figures per group, groups in name order."""
    groups: dict[str, Tally] = {}
    for mission in missions:
        for key, figures in _parts(mission, by):
            groups[key] = groups.get(key, Tally()) + tally_of(mission, figures)
    return dict(sorted(groups.items()))


def _parts(mission: MissionOutcomes, by: Grouping) -> list[tuple[str, Figures]]:
    if by == "sector":
        return list(mission.by_sector.items()) or [(NO_SECTOR, mission.total)]
    return [(mission.market if by == "market" else mission.mission_id, mission.total)]


def total(missions: Iterable[MissionOutcomes]) -> Tally:
    return summed(tally_of(m, m.total) for m in missions)
