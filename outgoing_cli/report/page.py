"""The HTML report: one self-contained file to mail or archive.

Charts are inline SVG and styles inline; there is no script and nothing to fetch, and the
page's Content-Security-Policy forbids both, so it opens offline and a text from the data
can never run. Every text from the data is escaped.
"""

from __future__ import annotations

from html import escape

from outgoing_cli.report import charts
from outgoing_cli.report.formats import LABELS
from outgoing_cli.report.rows import Report, Row, figures_row, shown
from outgoing_cli.report.tally import grouped, total

SECTOR_COLUMNS = (
    "lombard_companies",
    "foreign_companies",
    "meetings_scheduled",
    "meetings_held",
    "meetings_per_lombard_company",
    "satisfaction_mean",
    "share_satisfied",
    "response_rate",
    "negotiation",
    "contract_signed",
    "contract_values",
)
CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 80em; color: #1c2833; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
.kpis { font-size: 1.05em; font-weight: bold; } .scope { color: #566573; }
figure { margin: 0; } figure svg { max-width: 100%; height: auto; } figcaption { color: #566573; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.8em; } th, td { padding: 0.3em 0.6em; border-bottom: 1px solid #d5d8dc; }
td { text-align: right; white-space: nowrap; } td:first-child, th:first-child { text-align: left; } tfoot td { font-weight: bold; }
.wide { overflow-x: auto; }
"""
HEADINGS = LABELS | {
    "lombard_companies": "Lombard firms",
    "foreign_companies": "foreign partners",
    "meetings_scheduled": "meetings scheduled",
    "meetings_held": "meetings held",
    "meetings_per_lombard_company": "meetings per Lombard firm",
    "satisfaction_mean": "satisfaction (1–5)",
}
POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def html_report(report: Report) -> str:
    whole = total(report.missions)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        f"<title>{escape(_title(report))}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(_title(report))}</h1>",
        f'<p class="scope">{escape(_scope(report))}</p>',
        *(f'<p class="kpis">{escape(kpis.sentence())}.</p>' for kpis in report.editions),
        _chart(
            "meetings-per-market",
            "Meetings per market",
            "Requested, scheduled and held.",
            charts.meetings_per_market(grouped(report.missions, "market")),
        ),
        _chart(
            "satisfaction",
            "Satisfaction",
            "Answers to the satisfaction survey, per score.",
            charts.satisfaction_distribution(whole.satisfaction),
        ),
        _chart(
            "outcomes-funnel",
            "From request to contract",
            "Meetings requested by the companies, scheduled (requests and matching's proposals) and held; then the meetings whose follow-up reports a negotiation or a contract.",
            charts.outcomes_funnel(whole),
        ),
        _sector_table(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _title(report: Report) -> str:
    editions = sorted({m.edition for m in report.missions})
    return "Outgoing: outcomes of the " + (f"{editions[0]} edition" if len(editions) == 1 else "missions")


def _scope(report: Report) -> str:
    closed = sum(1 for m in report.missions if m.closed)
    as_of = max(m.as_of for m in report.missions).strftime("%Y-%m-%d %H:%M UTC")
    missions = ", ".join(m.mission_id for m in report.missions)
    return f"Missions {missions}; {closed} of {len(report.missions)} closed; figures as of {as_of}."


def _chart(name: str, heading: str, caption: str, svg: str) -> str:
    return f'<h2>{escape(heading)}</h2>\n<figure id="{name}" class="chart">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _sector_table(report: Report) -> str:
    header = "".join(f"<th>{escape(HEADINGS[column])}</th>" for column in SECTOR_COLUMNS)
    rows = [figures_row("sector", sector, tally) for sector, tally in grouped(report.missions, "sector").items()]
    return "\n".join(
        [
            "<h2>Per sector</h2>",
            '<div class="wide"><table id="sectors">',
            f"<thead><tr><th>sector</th>{header}</tr></thead>",
            "<tbody>",
            *(_table_row(str(row["group"]), row) for row in rows),
            "</tbody>",
            f"<tfoot>{_table_row('total', report.total)}</tfoot>",
            "</table></div>",
        ]
    )


def _table_row(name: str, row: Row) -> str:
    cells = "".join(f"<td>{escape(shown(column, row[column]))}</td>" for column in SECTOR_COLUMNS)
    return f"<tr><td>{escape(name)}</td>{cells}</tr>"
