"""The demo's closing figures for the whole path: orientation, then the edition's KPIs in the
source's words, from matching's outcomes read model, and the HTML report with its charts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from outgoing_cli.report.page import html_report
from outgoing_cli.report.rows import build_report
from outgoing_cli.report.source import OutcomesView


@dataclass
class ProgrammeFigures:
    sessions: dict[str, int] = field(default_factory=dict)
    """Registration's orientation figures: planned, invited, seats, waiting, attended."""
    kpis: list[str] = field(default_factory=list)
    report: Path | None = None
    problem: str = ""


def programme_figures(view: dict[str, Any] | None, sessions: dict[str, Any], report_path: Path) -> ProgrammeFigures:
    """The KPIs and the HTML report from matching's ``/views/outcomes``; a problem is reported, not raised."""
    figures = ProgrammeFigures(sessions={k: int(v) for k, v in sessions.items() if isinstance(v, int)})
    try:
        outcomes = OutcomesView.model_validate_json(json.dumps(view or {})).missions
    except ValidationError as error:
        figures.problem = f"matching's outcomes view could not be read: {error.error_count()} errors"
        return figures
    if not outcomes:
        figures.problem = "matching's outcomes view has no missions"
        return figures
    report = build_report(outcomes, "market", None, [])
    figures.kpis = [kpis.sentence() for kpis in report.editions]
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(html_report(report), encoding="utf-8")
    figures.report = report_path
    return figures


def render_programme(figures: ProgrammeFigures, console: Console) -> None:
    s = figures.sessions
    lines = [
        f"orientation: {s.get('planned', 0)} webinars, {s.get('invited', 0)} invitations, {s.get('seats', 0)} seats taken, "
        f"{s.get('waiting', 0)} still waiting, {s.get('attended', 0)} firms attended",
        *(escape(k) for k in figures.kpis),
    ]
    if figures.report is not None:
        lines.append(f"report with charts: {figures.report}")
    if figures.problem:
        lines.append(f"[yellow]{escape(figures.problem)}[/]")
    console.print(Panel("\n".join(lines), title="the programme, as the agency reports it", expand=False))
