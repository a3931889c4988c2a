"""The report on a terminal (rich tables), as JSON, and as CSV.

JSON and CSV carry the rows' numbers unformatted under the stable names of ``COLUMNS``,
one row per group and the total last (``by`` = ``total``). In CSV an empty cell is a rate
with nothing to count, and contract values are ``EUR=1200000.0;USD=50000.0``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from outgoing_cli.report.rows import COLUMNS, Report, Value, shown

LABELS = {
    "lombard_companies": "Lombard",
    "foreign_companies": "foreign",
    "companies": "companies",
    "missions": "missions",
    "markets": "markets",
    "sessions_invited": "invited",
    "sessions_attended": "attended",
    "meetings_requested": "requested",
    "meetings_scheduled": "scheduled",
    "meetings_held": "held",
    "meetings_no_show": "no-show",
    "meetings_contradictory": "contradictory",
    "meetings_per_lombard_company": "per Lombard firm",
    "satisfaction_answers": "answers",
    "satisfaction_mean": "mean (1–5)",
    "share_satisfied": "satisfied (4–5)",
    "response_rate": "response rate",
    "no_further_contact": "no further contact",
    "negotiation": "negotiation",
    "contract_signed": "contract",
    "contracts_signed_or_negotiating": "contract or negotiation",
    "contract_values": "contract values",
}
SECTIONS = {
    "companies and orientation sessions": COLUMNS[COLUMNS.index("lombard_companies") : COLUMNS.index("sessions_attended") + 1],
    "meetings": COLUMNS[COLUMNS.index("meetings_requested") : COLUMNS.index("meetings_per_lombard_company") + 1],
    "satisfaction": ("satisfaction_answers", "satisfaction_mean", "share_satisfied", "response_rate"),
    "business outcomes": ("no_further_contact", "negotiation", "contract_signed", "contracts_signed_or_negotiating", "contract_values"),
}


def print_report(report: Report, console: Console) -> None:
    """The editions' KPIs, then one table per theme, each with the total row last."""
    for kpis in report.editions:
        console.print(f"[bold]{escape(kpis.sentence())}[/]")
    for title, columns in SECTIONS.items():
        table = Table(report.by, title=f"{title}, by {report.by}")
        for column in columns:
            table.add_column(LABELS[column], justify="left" if column == "contract_values" else "right")
        for row in report.rows:
            table.add_row(escape(str(row["group"])), *(shown(c, row[c]) for c in columns), end_section=row is report.rows[-1])
        table.add_row("total", *(shown(c, report.total[c]) for c in columns), style="bold")
        console.print(table)


def as_json(report: Report) -> str:
    document = {
        "by": report.by,
        "filters": {"edition": report.edition, "missions": list(report.mission_ids)},
        "editions": [asdict(kpis) | {"summary": kpis.sentence()} for kpis in report.editions],
        "rows": list(report.rows),
        "total": report.total,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def as_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in (*report.rows, report.total):
        writer.writerow({column: _cell(row[column]) for column in COLUMNS})
    return buffer.getvalue()


def _cell(value: Value) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ";".join(f"{currency}={amount!r}" for currency, amount in value.items())
    return value
