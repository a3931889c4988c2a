"""`outgoing report`: missions' outcomes per market, sector or mission, and the editions' KPIs."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from outgoing_cli.console import CliError, err, fail, out, settings
from outgoing_cli.report.formats import as_csv, as_json, print_report
from outgoing_cli.report.page import html_report
from outgoing_cli.report.rows import Report, build_report
from outgoing_cli.report.source import load_outcomes
from shared.contracts.reporting import MissionOutcomes


class By(StrEnum):
    MARKET = "market"
    SECTOR = "sector"
    MISSION = "mission"


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def report(
    ctx: typer.Context,
    edition: Annotated[int | None, typer.Option(help="only this edition's missions (the year their meetings start)")] = None,
    mission: Annotated[list[str] | None, typer.Option("--mission", help="only this mission; repeat for several")] = None,
    by: Annotated[By, typer.Option(help="one row per market, sector or mission")] = By.MARKET,
    output_format: Annotated[Format, typer.Option("--format", help="table on the terminal, or json / csv for other tools")] = Format.TABLE,
    html: Annotated[Path | None, typer.Option(dir_okay=False, help="also write a self-contained HTML report with charts here")] = None,
    source: Annotated[
        str | None, typer.Option(help="an http(s) URL of /views/outcomes or a JSON file (default: the local matching service)")
    ] = None,
) -> None:
    """Missions' outcomes: companies, sessions, meetings, satisfaction, contracts; companies counted once."""
    try:
        outcomes = load_outcomes(source, settings(ctx))
        built = build_report(outcomes, by.value, edition, mission or [])
        if not built.missions:
            raise _nothing_selected(outcomes, edition, mission or [])
    except CliError as error:
        raise fail(error) from None
    if output_format is Format.TABLE:
        print_report(built, out)
    else:
        typer.echo(as_json(built) if output_format is Format.JSON else as_csv(built), nl=False)
    if html is not None:
        _write_html(built, html)


def _nothing_selected(outcomes: list[MissionOutcomes], edition: int | None, mission_ids: list[str]) -> CliError:
    if not outcomes:
        return CliError("the source has no mission outcomes yet", "plan missions and let matching record their follow-ups first")
    asked = " and ".join(filter(None, [f"edition {edition}" if edition is not None else "", ", ".join(mission_ids)]))
    editions = ", ".join(str(e) for e in sorted({m.edition for m in outcomes}))
    missions = ", ".join(sorted({m.mission_id for m in outcomes}))
    return CliError(f"no mission matches {asked}", f"the source has editions {editions}; missions {missions}")


def _write_html(built: Report, path: Path) -> None:
    try:
        path.write_text(html_report(built), encoding="utf-8")
    except OSError as error:
        raise fail(CliError(f"could not write {path}: {error.strerror or error}", "choose a writable path for --html")) from None
    err.print(f"HTML report written to {path}", markup=False)
