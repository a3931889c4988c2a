"""The figures the report shows: one row per group, a total row, and each edition's KPIs.

Meetings per company is per *Lombard* company: every meeting has exactly one Lombard
firm, the agency's client, so the figure reads as "meetings a Lombard firm had on
average" and does not halve when more partners are scouted. Rates are None, not 0, when
nothing was there to count (no surveys yet, no Lombard company in the group).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from itertools import groupby

from outgoing_cli.report.tally import Grouping, Tally, grouped, latest_per_mission, selected, total
from shared.contracts.reporting import MissionOutcomes

SCORES = ("1", "2", "3", "4", "5")
SATISFIED = ("4", "5")
OUTCOME_KINDS = ("no_further_contact", "negotiation", "contract_signed")
PERCENTS = frozenset({"share_satisfied", "response_rate"})

Value = int | float | str | dict[str, float] | None
Row = dict[str, Value]


def figures_row(by: str, group: str, tally: Tally) -> Row:
    """A group's figures under stable column names (COLUMNS), numbers unformatted."""
    answers = sum(tally.satisfaction.values())
    outcomes = {kind: tally.outcomes.get(kind, 0) for kind in OUTCOME_KINDS}
    return {
        "by": by,
        "group": group,
        "lombard_companies": len(tally.lombard),
        "foreign_companies": len(tally.foreign),
        "companies": len(tally.lombard | tally.foreign),
        "missions": len(tally.missions),
        "markets": len(tally.markets),
        "sessions_invited": len(tally.invited),
        "sessions_attended": len(tally.attended),
        "meetings_requested": tally.meetings_requested,
        "meetings_scheduled": tally.meetings_scheduled,
        "meetings_held": tally.meetings_held,
        "meetings_no_show": tally.meetings_no_show,
        "meetings_contradictory": len(tally.contradictory),
        "meetings_per_lombard_company": _ratio(tally.meetings_scheduled, len(tally.lombard)),
        **{f"satisfaction_{score}": tally.satisfaction.get(score, 0) for score in SCORES},
        "satisfaction_answers": answers,
        "satisfaction_surveys": tally.satisfaction_surveys,
        "satisfaction_mean": _ratio(sum(int(score) * n for score, n in tally.satisfaction.items()), answers),
        "share_satisfied": _share_satisfied(tally),
        "response_rate": _ratio(answers, tally.satisfaction_surveys),
        "outcome_surveys": tally.outcome_surveys,
        **outcomes,
        "contracts_signed_or_negotiating": _signed_or_negotiating(tally),
        "contract_values": {currency: float(value) for currency, value in sorted(tally.contract_values.items())},
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _share_satisfied(tally: Tally) -> float | None:
    return _ratio(sum(tally.satisfaction.get(score, 0) for score in SATISFIED), sum(tally.satisfaction.values()))


def _signed_or_negotiating(tally: Tally) -> int:
    return tally.outcomes.get("negotiation", 0) + tally.outcomes.get("contract_signed", 0)


COLUMNS: tuple[str, ...] = tuple(figures_row("total", "all", Tally()))
"""Every row's keys, in order: the CSV header and the JSON rows' keys."""


@dataclass(frozen=True)
class EditionKpis:
    """An edition in the source's words: "17 missions in 13 markets; 1,105 companies involved; …"."""

    edition: int
    missions: int
    markets: int
    companies: int
    share_satisfied: float | None
    contracts_signed_or_negotiating: int

    def sentence(self) -> str:
        satisfied = "no satisfaction answers yet" if self.share_satisfied is None else f"{self.share_satisfied:.0%} satisfied (4 or 5 of 5)"
        return (
            f"{self.edition} edition: {_counted(self.missions, 'mission')} in {_counted(self.markets, 'market')}; "
            f"{_counted(self.companies, 'company', 'companies')} involved; {satisfied}; "
            f"{_counted(self.contracts_signed_or_negotiating, 'contract')} signed or under negotiation"
        )


def _counted(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def edition_kpis(missions: Iterable[MissionOutcomes]) -> list[EditionKpis]:
    by_edition = groupby(sorted(missions, key=lambda m: m.edition), key=lambda m: m.edition)
    return [_kpis(edition, total(group)) for edition, group in by_edition]


def _kpis(edition: int, tally: Tally) -> EditionKpis:
    return EditionKpis(
        edition=edition,
        missions=len(tally.missions),
        markets=len(tally.markets),
        companies=len(tally.lombard | tally.foreign),
        share_satisfied=_share_satisfied(tally),
        contracts_signed_or_negotiating=_signed_or_negotiating(tally),
    )


@dataclass(frozen=True)
class Report:
    """What every format shows: the selected missions, their rows per group, the total, the KPIs."""

    by: Grouping
    edition: int | None
    mission_ids: tuple[str, ...]
    missions: tuple[MissionOutcomes, ...]
    rows: tuple[Row, ...]
    total: Row
    editions: tuple[EditionKpis, ...]


def build_report(outcomes: Iterable[MissionOutcomes], by: Grouping, edition: int | None, mission_ids: Collection[str]) -> Report:
    missions = selected(latest_per_mission(outcomes), edition, mission_ids)
    return Report(
        by=by,
        edition=edition,
        mission_ids=tuple(mission_ids),
        missions=tuple(missions),
        rows=tuple(figures_row(by, key, tally) for key, tally in grouped(missions, by).items()),
        total=figures_row("total", "all", total(missions)),
        editions=tuple(edition_kpis(missions)),
    )


def shown(column: str, value: Value) -> str:
    """A figure as people read it: thousands separated, rates in percent, values per currency."""
    if value is None:
        return "–"
    if isinstance(value, dict):
        return (
            "; ".join(
                f"{currency} {amount:,.0f}" if amount.is_integer() else f"{currency} {amount:,.2f}" for currency, amount in value.items()
            )
            or "–"
        )
    if column in PERCENTS and isinstance(value, float):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value
