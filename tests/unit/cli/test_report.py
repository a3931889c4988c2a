"""`outgoing report`: every KPI checked against numbers worked out by hand, and properties of regrouping.

The fixture, ``hand_missions()``: India 2020 and United Kingdom 2020 (the 2020 edition),
and India 2021. Lombard company ``lombard-a`` is enrolled in india-2020, uk-2020 and
india-2021; meeting ``india-2020:m3`` is contradictory; contracts are in EUR and GBP.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from outgoing_cli.main import app
from outgoing_cli.report.formats import as_csv, as_json
from outgoing_cli.report.page import html_report
from outgoing_cli.report.rows import COLUMNS, Report, Row, build_report
from shared.contracts.reporting import Figures, MissionOutcomes

ENV = {"COLUMNS": "250"}


@pytest.fixture(autouse=True)
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's consoles take their width when first imported, which under xdist is another test's: wide here, so nothing wraps."""
    from outgoing_cli import console

    monkeypatch.setattr(console.out, "width", 250)
    monkeypatch.setattr(console.err, "width", 250)


SCORES = ("1", "2", "3", "4", "5")


def combined(parts: list[Figures]) -> Figures:
    """A mission's total as matching computes it: ids unioned, counts added (independent of the report's code)."""
    ids = ("lombard", "foreign", "invited", "attended", "contradictory")
    counts = ("meetings_requested", "meetings_scheduled", "meetings_held", "meetings_no_show", "satisfaction_surveys", "outcome_surveys")
    maps = ("satisfaction", "outcomes", "contract_values")
    values: dict[str, Any] = {name: sorted({i for p in parts for i in getattr(p, name)}) for name in ids}
    values |= {name: sum(getattr(p, name) for p in parts) for name in counts}
    for name in maps:
        merged: dict[str, Any] = {}
        for part in parts:
            for key, n in getattr(part, name).items():
                merged[key] = merged.get(key, 0) + n
        values[name] = merged
    return Figures(**values)


def mission(mission_id: str, edition: int, market: str, country: str, by_sector: dict[str, Figures]) -> MissionOutcomes:
    return MissionOutcomes(
        mission_id=mission_id,
        edition=edition,
        market=market,
        country=country,
        total=combined(list(by_sector.values())),
        by_sector=by_sector,
        closed=True,
        as_of=datetime(edition + 1, 3, 31, 12, tzinfo=UTC),
    )


def hand_missions() -> list[MissionOutcomes]:
    india_2020 = {
        "meccanica": Figures(
            lombard=["lombard-a"],
            foreign=["partner-in1"],
            invited=["lombard-a", "partner-in1"],
            attended=["lombard-a"],
            meetings_requested=4,
            meetings_scheduled=3,
            meetings_held=2,
            contradictory=["india-2020:m3"],
            satisfaction={"5": 2, "4": 1, "2": 1},
            satisfaction_surveys=6,
            outcomes={"negotiation": 2, "contract_signed": 1, "no_further_contact": 1},
            outcome_surveys=6,
            contract_values={"EUR": 120000.0},
        ),
        "alimentare": Figures(
            lombard=["lombard-b"],
            foreign=["partner-in2"],
            invited=["lombard-b"],
            meetings_requested=2,
            meetings_scheduled=2,
            meetings_held=1,
            meetings_no_show=1,
            satisfaction={"3": 1, "1": 1},
            satisfaction_surveys=4,
            outcomes={"no_further_contact": 2},
            outcome_surveys=4,
        ),
    }
    uk_2020 = {
        "meccanica": Figures(
            lombard=["lombard-a"],
            foreign=["partner-uk1"],
            invited=["lombard-a"],
            attended=["lombard-a"],
            meetings_requested=3,
            meetings_scheduled=2,
            meetings_held=2,
            satisfaction={"5": 1, "4": 2},
            satisfaction_surveys=4,
            outcomes={"contract_signed": 2},
            outcome_surveys=4,
            contract_values={"GBP": 50000.0, "EUR": 30000.5},
        ),
        "alimentare": Figures(
            lombard=["lombard-c"],
            foreign=["partner-uk2"],
            invited=["lombard-c", "partner-uk2"],
            attended=["lombard-c", "partner-uk2"],
            meetings_requested=1,
            meetings_scheduled=1,
            meetings_no_show=1,
            satisfaction_surveys=2,
            outcome_surveys=2,
        ),
    }
    india_2021 = {
        "meccanica": Figures(
            lombard=["lombard-a", "lombard-d"],
            foreign=["partner-in1"],
            meetings_requested=2,
            meetings_scheduled=2,
            meetings_held=2,
            satisfaction={"4": 2},
            satisfaction_surveys=4,
            outcomes={"negotiation": 1},
            outcome_surveys=4,
        ),
    }
    return [
        mission("india-2020", 2020, "India", "IN", india_2020),
        mission("uk-2020", 2020, "United Kingdom", "GB", uk_2020),
        mission("india-2021", 2021, "India", "IN", india_2021),
    ]


def rows_by_group(report: Report) -> dict[str, Row]:
    return {str(row["group"]): row for row in report.rows}


def test_the_2020_edition_by_market_matches_the_hand_count() -> None:
    report = build_report(hand_missions(), "market", 2020, [])
    india, uk = rows_by_group(report)["India"], rows_by_group(report)["United Kingdom"]
    # India 2020: Lombard a, b; partners in1, in2; invited a, in1, b; attended a.
    assert (india["lombard_companies"], india["foreign_companies"], india["companies"], india["missions"]) == (2, 2, 4, 1)
    assert (india["sessions_invited"], india["sessions_attended"]) == (3, 1)
    # requested 4+2, scheduled 3+2, held 2+1, no-show 0+1, contradictory m3
    assert [
        india[c] for c in ("meetings_requested", "meetings_scheduled", "meetings_held", "meetings_no_show", "meetings_contradictory")
    ] == [6, 5, 3, 1, 1]
    assert india["meetings_per_lombard_company"] == 5 / 2
    # scores 1, 2, 3, 4, 5, 5: mean 20/6; 4-5: 3 of 6; 6 answers of 10 surveys
    assert (india["satisfaction_mean"], india["share_satisfied"], india["response_rate"]) == (20 / 6, 0.5, 0.6)
    assert (india["no_further_contact"], india["negotiation"], india["contract_signed"], india["contracts_signed_or_negotiating"]) == (
        3,
        2,
        1,
        3,
    )
    assert india["contract_values"] == {"EUR": 120000.0}
    # UK 2020: Lombard a, c; partners uk1, uk2; scores 4, 4, 5: mean 13/3, all satisfied, 3 answers of 6 surveys
    assert (uk["companies"], uk["sessions_invited"], uk["sessions_attended"], uk["meetings_scheduled"]) == (4, 3, 3, 3)
    assert (uk["meetings_per_lombard_company"], uk["satisfaction_mean"], uk["share_satisfied"], uk["response_rate"]) == (
        1.5,
        13 / 3,
        1.0,
        0.5,
    )
    assert uk["contract_values"] == {"EUR": 30000.5, "GBP": 50000.0}


def test_the_total_counts_a_company_in_two_missions_once() -> None:
    total = build_report(hand_missions(), "market", 2020, []).total
    # Lombard a, b, c (a is in india-2020 and uk-2020); partners in1, in2, uk1, uk2
    assert (total["lombard_companies"], total["foreign_companies"], total["companies"], total["missions"], total["markets"]) == (
        3,
        4,
        7,
        2,
        2,
    )
    assert (total["sessions_invited"], total["sessions_attended"]) == (5, 3)  # a, in1, b, c, uk2; a, c, uk2
    assert [
        total[c] for c in ("meetings_requested", "meetings_scheduled", "meetings_held", "meetings_no_show", "meetings_contradictory")
    ] == [10, 8, 5, 2, 1]
    assert total["meetings_per_lombard_company"] == 8 / 3
    # histogram 1:1 2:1 3:1 4:3 5:3 -> 9 answers, sum 33; 6 satisfied; 16 surveys
    assert [total[f"satisfaction_{s}"] for s in SCORES] == [1, 1, 1, 3, 3]
    assert (total["satisfaction_mean"], total["share_satisfied"], total["response_rate"]) == (33 / 9, 6 / 9, 9 / 16)
    assert (total["no_further_contact"], total["negotiation"], total["contract_signed"], total["contracts_signed_or_negotiating"]) == (
        3,
        2,
        3,
        5,
    )
    assert total["contract_values"] == {"EUR": 150000.5, "GBP": 50000.0}


def test_sectors_attribute_companies_and_meetings_once() -> None:
    sectors = rows_by_group(build_report(hand_missions(), "sector", 2020, []))
    meccanica, alimentare = sectors["meccanica"], sectors["alimentare"]
    # meccanica: Lombard a (in both missions, one company), partners in1, uk1; 5 meetings for one Lombard firm
    assert (meccanica["lombard_companies"], meccanica["foreign_companies"], meccanica["missions"], meccanica["markets"]) == (1, 2, 2, 2)
    assert (meccanica["meetings_scheduled"], meccanica["meetings_per_lombard_company"], meccanica["meetings_contradictory"]) == (5, 5.0, 1)
    # scores 2, 4, 4, 4, 5, 5, 5: mean 29/7, 6 of 7 satisfied, 7 answers of 10 surveys
    assert (meccanica["satisfaction_mean"], meccanica["share_satisfied"], meccanica["response_rate"]) == (29 / 7, 6 / 7, 0.7)
    # alimentare: Lombard b, c; scores 1 and 3; nobody satisfied; 2 answers of 6 surveys
    assert (alimentare["lombard_companies"], alimentare["meetings_held"], alimentare["meetings_no_show"]) == (2, 1, 2)
    assert (alimentare["satisfaction_mean"], alimentare["share_satisfied"], alimentare["response_rate"]) == (2.0, 0.0, 2 / 6)
    assert alimentare["contract_values"] == {}


def test_edition_kpis_read_as_the_source_does() -> None:
    report = build_report(hand_missions(), "market", None, [])
    assert [k.sentence() for k in report.editions] == [
        "2020 edition: 2 missions in 2 markets; 7 companies involved; 67% satisfied (4 or 5 of 5); 5 contracts signed or under negotiation",
        "2021 edition: 1 mission in 1 market; 3 companies involved; 100% satisfied (4 or 5 of 5); 1 contract signed or under negotiation",
    ]


def test_all_editions_by_market_join_a_market_across_years() -> None:
    india = rows_by_group(build_report(hand_missions(), "market", None, []))["India"]
    # Lombard a, b (2020) and a, d (2021): three firms with 5 + 2 scheduled meetings
    assert (india["lombard_companies"], india["missions"], india["meetings_scheduled"], india["meetings_per_lombard_company"]) == (
        3,
        2,
        7,
        7 / 3,
    )


def test_missions_can_be_chosen_by_id() -> None:
    report = build_report(hand_missions(), "mission", None, ["uk-2020", "india-2021"])
    assert [row["group"] for row in report.rows] == ["india-2021", "uk-2020"]
    assert report.total["lombard_companies"] == 3  # a, d, c


def test_a_mission_listed_twice_counts_once_at_its_latest() -> None:
    older, *_ = hand_missions()
    newer = older.model_copy(update={"as_of": datetime(2022, 1, 1, tzinfo=UTC), "total": Figures(meetings_scheduled=99)})
    assert build_report([newer, older], "mission", None, []).total["meetings_scheduled"] == 99


def test_rates_without_a_base_are_empty_not_zero() -> None:
    quiet = mission("canada-2020", 2020, "Canada", "CA", {"moda": Figures(foreign=["partner-ca1"])})
    row = build_report([quiet], "market", None, []).total
    assert (row["meetings_per_lombard_company"], row["satisfaction_mean"], row["share_satisfied"], row["response_rate"]) == (
        None,
        None,
        None,
        None,
    )
    assert (
        build_report([quiet], "market", None, [])
        .editions[0]
        .sentence()
        .endswith("no satisfaction answers yet; 0 contracts signed or under negotiation")
    )


# ---------------------------------------------------------------- properties

SECTORS = ("meccanica", "alimentare", "moda")
LOMBARD = [f"lombard-{i:02}" for i in range(9)]
FOREIGN = [f"partner-{i:02}" for i in range(9)]
ADDITIVE = (
    "lombard_companies",
    "foreign_companies",
    "companies",
    "sessions_invited",
    "sessions_attended",
    "meetings_requested",
    "meetings_scheduled",
    "meetings_held",
    "meetings_no_show",
    "meetings_contradictory",
    *(f"satisfaction_{s}" for s in SCORES),
    "satisfaction_answers",
    "satisfaction_surveys",
    "outcome_surveys",
    "no_further_contact",
    "negotiation",
    "contract_signed",
    "contracts_signed_or_negotiating",
)
"""Columns whose sector rows add up to the total: each company has one sector, each meeting one Lombard firm."""
counts = st.integers(0, 50)


def sector_of(company_id: str) -> str:
    return SECTORS[int(company_id[-2:]) % len(SECTORS)]


@st.composite
def sector_figures(draw: st.DrawFn, mission_id: str, sector: str, lombard: set[str], foreign: set[str]) -> Figures:
    mine = sorted(c for c in lombard | foreign if sector_of(c) == sector)
    return Figures(
        lombard=sorted(c for c in lombard if sector_of(c) == sector),
        foreign=sorted(c for c in foreign if sector_of(c) == sector),
        invited=sorted(draw(st.sets(st.sampled_from(mine)))) if mine else [],
        attended=sorted(draw(st.sets(st.sampled_from(mine)))) if mine else [],
        meetings_requested=draw(counts),
        meetings_scheduled=draw(counts),
        meetings_held=draw(counts),
        meetings_no_show=draw(counts),
        contradictory=[f"{mission_id}:{sector}:{k}" for k in range(draw(st.integers(0, 3)))],
        satisfaction=draw(st.dictionaries(st.sampled_from(SCORES), counts)),
        satisfaction_surveys=draw(counts),
        outcomes=draw(st.dictionaries(st.sampled_from(["no_further_contact", "negotiation", "contract_signed"]), counts)),
        outcome_surveys=draw(counts),
        contract_values=draw(st.dictionaries(st.sampled_from(["EUR", "USD", "GBP"]), st.floats(0, 1e7, allow_nan=False))),
    )


@st.composite
def editions(draw: st.DrawFn) -> list[MissionOutcomes]:
    missions = []
    for n in range(draw(st.integers(1, 4))):
        mission_id = f"mission-{n}"
        lombard, foreign = draw(st.sets(st.sampled_from(LOMBARD))), draw(st.sets(st.sampled_from(FOREIGN)))
        sectors = draw(st.lists(st.sampled_from(SECTORS), unique=True, min_size=1))
        by_sector = {s: draw(sector_figures(mission_id, s, lombard, foreign)) for s in sectors}
        market, country = draw(st.sampled_from([("India", "IN"), ("Canada", "CA"), ("China", "CN")]))
        missions.append(mission(mission_id, draw(st.sampled_from([2020, 2021])), market, country, by_sector))
    return missions


def column_sum(rows: tuple[Row, ...], column: str) -> int:
    return sum(value for row in rows if isinstance(value := row[column], int))


def currency_sum(rows: tuple[Row, ...]) -> dict[str, float]:
    summed: dict[str, float] = {}
    for row in rows:
        values = row["contract_values"]
        assert isinstance(values, dict)
        for currency, amount in values.items():
            summed[currency] = summed.get(currency, 0.0) + amount
    return summed


@settings(max_examples=150, deadline=None)
@given(editions())
def test_sector_rows_add_up_to_the_total(missions: list[MissionOutcomes]) -> None:
    """Only missions whose sectors cover their companies: the contract files every company under one sector."""
    covered = [
        m
        for m in missions
        if set(m.total.lombard) | set(m.total.foreign) <= {c for f in m.by_sector.values() for c in f.lombard + f.foreign}
    ]
    if not covered:
        return
    report = build_report(covered, "sector", None, [])
    assert {c: column_sum(report.rows, c) for c in ADDITIVE} == {c: report.total[c] for c in ADDITIVE}
    assert currency_sum(report.rows) == pytest.approx(report.total["contract_values"])


@settings(max_examples=150, deadline=None)
@given(editions())
def test_regrouping_keeps_the_total(missions: list[MissionOutcomes]) -> None:
    totals = {by: build_report(missions, by, None, []) for by in ("market", "sector", "mission")}
    assert totals["market"].total == totals["sector"].total == totals["mission"].total
    for by in ("market", "mission"):  # a mission is in one market: every count adds up, companies aside
        rows = totals[by].rows
        assert {c: column_sum(rows, c) for c in ADDITIVE[5:]} == {c: totals[by].total[c] for c in ADDITIVE[5:]}
        assert currency_sum(rows) == pytest.approx(totals[by].total["contract_values"])


def parsed_csv(text: str) -> list[Row]:
    """Back from CSV: ints stay ints, rates floats, an empty cell None, contract values a dict."""

    def value(column: str, cell: str) -> Any:
        if column in ("by", "group"):
            return cell
        if column == "contract_values":
            return {c: float(a) for c, a in (pair.split("=") for pair in cell.split(";") if pair)}
        if cell == "":
            return None
        return float(cell) if "." in cell or "e" in cell else int(cell)

    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return [{column: value(column, cell) for column, cell in line.items()} for line in reader]


@settings(max_examples=100, deadline=None)
@given(editions(), st.sampled_from(["market", "sector", "mission"]))
def test_csv_and_json_carry_the_same_numbers(missions: list[MissionOutcomes], by: Any) -> None:
    report = build_report(missions, by, None, [])
    expected = [*report.rows, report.total]
    assert parsed_csv(as_csv(report)) == expected
    document = json.loads(as_json(report))
    assert [*document["rows"], document["total"]] == expected
    assert [e["summary"] for e in document["editions"]] == [k.sentence() for k in report.editions]


# ---------------------------------------------------------------- the command


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "outcomes.json"
    path.write_text(json.dumps({"missions": [m.model_dump(mode="json") for m in hand_missions()]}))
    return path


def test_the_table_shows_kpis_groups_and_total(source: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--source", str(source), "--edition", "2020"], env=ENV)
    assert result.exit_code == 0, result.output
    assert "2020 edition: 2 missions in 2 markets; 7 companies involved; 67% satisfied" in result.stdout
    assert "2021 edition" not in result.stdout
    lines = result.stdout.splitlines()
    assert any("United Kingdom" in line and "1.50" in line for line in lines)  # 3 meetings for 2 Lombard firms
    assert any("total" in line and "EUR 150,000.50; GBP 50,000" in line for line in lines)


def test_csv_has_one_row_per_group_and_the_total(source: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--source", str(source), "--by", "sector", "--format", "csv"], env=ENV)
    assert result.exit_code == 0, result.output
    rows = parsed_csv(result.stdout)
    assert [(r["by"], r["group"]) for r in rows] == [("sector", "alimentare"), ("sector", "meccanica"), ("total", "all")]
    assert rows[-1]["lombard_companies"] == 4  # a, b, c, d


def test_json_says_what_was_asked(source: Path) -> None:
    result = CliRunner().invoke(
        app, ["report", "--source", str(source), "--mission", "uk-2020", "--format", "json", "--by", "mission"], env=ENV
    )
    document = json.loads(result.stdout)
    assert (document["by"], document["filters"], [r["group"] for r in document["rows"]]) == (
        "mission",
        {"edition": None, "missions": ["uk-2020"]},
        ["uk-2020"],
    )


def test_the_html_report_is_written_and_named_on_stderr(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--source", str(source), "--format", "csv", "--html", str(target)], env=ENV)
    assert result.exit_code == 0, result.output
    assert f"HTML report written to {target}" in result.stderr and "HTML" not in result.stdout
    assert target.read_text().count("<svg") == 3


def test_a_filter_that_matches_nothing_says_what_there_is(source: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--source", str(source), "--edition", "2019"], env=ENV)
    assert result.exit_code == 1
    assert "error: no mission matches edition 2019" in result.stderr
    assert "editions 2020, 2021; missions india-2020, india-2021, uk-2020" in result.stderr


def test_a_source_that_is_not_outcomes_is_refused_readably(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"missions": [{"mission_id": "x"}]}')
    result = CliRunner().invoke(app, ["report", "--source", str(wrong)], env=ENV)
    said = " ".join(result.stderr.split())
    assert result.exit_code == 1 and "is not a list of mission outcomes: missions.0." in said and "Field required" in said
    result = CliRunner().invoke(app, ["report", "--source", str(tmp_path / "missing.json")], env=ENV)
    assert result.exit_code == 1 and "could not read" in result.stderr and "No such file" in result.stderr


def test_without_a_running_matching_service_it_says_how_to_start_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report"], env=ENV | {"OUTGOING_RUN_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "error: the matching service is not running here" in result.stderr
    assert "outgoing dev up" in result.stderr and "--source" in result.stderr


def test_the_html_report_is_the_same_file_every_time_and_escapes_every_name() -> None:
    hostile = mission("hostile-2020", 2020, "<b>&market</b>", "CA", {"<img src=x>": Figures(lombard=["lombard-x"], meetings_scheduled=1)})
    report = build_report([*hand_missions(), hostile], "market", None, [])
    page = html_report(report)
    assert page == html_report(report)
    assert "<img" not in page and "<b>" not in page and "<script" not in page
    assert "<td>&lt;img src=x&gt;</td>" in page
    assert page.count("<svg") == 3 and "dc:date" not in page


@pytest.fixture
def matching_health(tmp_path: Path) -> Iterator[tuple[Path, str, dict[str, bytes]]]:
    """A stand-in for matching's health port on 127.0.0.1 (its routes can be changed), and a run folder whose pid file points at it."""
    body = json.dumps({"missions": [m.model_dump(mode="json") for m in hand_missions()]}).encode()
    routes = {"/views/outcomes": body, "/readyz": b'{"ready": true}'}

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = routes.get(self.path)
            self.send_response(200 if found else 404)
            self.end_headers()
            self.wfile.write(found or b'{"error": "try /livez"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    (tmp_path / "matching.pid").write_text(json.dumps({"pid": os.getpid(), "marker": "python", "health_port": port}))
    yield tmp_path, f"http://127.0.0.1:{port}", routes
    server.shutdown()
    thread.join()


def test_the_local_matching_service_is_found_by_its_pid_file(matching_health: tuple[Path, str, dict[str, bytes]]) -> None:
    run_dir, _, routes = matching_health
    result = CliRunner().invoke(app, ["report", "--format", "json"], env=ENV | {"OUTGOING_RUN_DIR": str(run_dir)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"]["missions"] == 3
    del routes["/views/outcomes"]
    result = CliRunner().invoke(app, ["report"], env=ENV | {"OUTGOING_RUN_DIR": str(run_dir)})
    assert result.exit_code == 1 and "answers, but not GET /views/outcomes" in " ".join(result.stderr.split())


def test_a_url_source_is_read_and_a_wrong_one_named(matching_health: tuple[Path, str, dict[str, bytes]]) -> None:
    _, url, _ = matching_health
    result = CliRunner().invoke(app, ["report", "--format", "csv", "--source", f"{url}/views/outcomes"], env=ENV)
    assert result.exit_code == 0 and result.stdout.splitlines()[-1].startswith("total,all,4,4,8,3,2,")
    result = CliRunner().invoke(app, ["report", "--source", f"{url}/views/nothing"], env=ENV)
    assert result.exit_code == 1 and "answered HTTP 404" in result.stderr
