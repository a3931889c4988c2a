"""Turning the operator's options and files into missions, and reading the compacted catalogue."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import pytest

from outgoing_cli.console import CliError
from outgoing_cli.mission import latest_per_key
from outgoing_cli.mission_input import mission_from_options, missions_from_file, parse_deadline, parse_hours, parse_window
from tests.factories import mission, mission_planned
from tests.unit.cli.builders import record


def options(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "mission_id": "india-2021",
        "country": "IN",
        "market": "India",
        "market_tz": "Asia/Kolkata",
        "lombard_tz": "Europe/Rome",
        "window": "2021-10-18..2021-10-29",
        "lombard_hours": "9-15",
        "foreign_hours": "10:00-19:30",
        "meeting_minutes": 30,
        "capacity": 20,
        "max_meetings": 8,
        "sectors": ["chimica", "edilizia"],
        "deadline": "2021-10-04",
        "status": "planned",
    }
    return values | overrides


def test_options_make_a_mission() -> None:
    m = mission_from_options(**options())  # type: ignore[arg-type]
    assert (m.mission_id, m.country, m.market_timezone, m.window_start, m.window_end) == (
        "india-2021",
        "IN",
        "Asia/Kolkata",
        date(2021, 10, 18),
        date(2021, 10, 29),
    )
    assert (m.lombard_hours.start, m.lombard_hours.end, m.foreign_hours.end) == (time(9), time(15), time(19, 30))
    assert m.enrollment_deadline == datetime(2021, 10, 4, 21, 59, tzinfo=UTC)  # 23:59 CEST
    assert m.sectors == ["chimica", "edilizia"]


def test_a_date_deadline_closes_at_midnight_minus_one_in_the_lombard_zone_across_dst() -> None:
    assert parse_deadline("2020-10-05", "Europe/Rome") == "2020-10-05T23:59:00+02:00"
    assert parse_deadline("2020-11-16", "Europe/Rome") == "2020-11-16T23:59:00+01:00"
    assert parse_deadline("2020-11-16T18:00", "Europe/Rome") == "2020-11-16T18:00:00+01:00"
    assert parse_deadline("2020-11-16T18:00:00+00:00", "Europe/Rome") == "2020-11-16T18:00:00+00:00"


def test_missing_options_are_all_named_at_once() -> None:
    with pytest.raises(CliError) as raised:
        mission_from_options(**options(country=None, window=None, sectors=[]))  # type: ignore[arg-type]
    assert raised.value.problem == "mission india-2021 needs --country, --window, --sector"


def test_contract_violations_are_explained_field_by_field() -> None:
    with pytest.raises(CliError) as raised:
        mission_from_options(**options(country="in", market_tz="Asia/Kolkatta", window="2021-10-29..2021-10-18"))  # type: ignore[arg-type]
    problem = raised.value.problem
    assert "country: String should match pattern" in problem
    assert "unknown IANA time zone 'Asia/Kolkatta'" in problem


@pytest.mark.parametrize(("text", "parsed"), [("9-15", ("09:00:00", "15:00:00")), ("08:30 - 13:00", ("08:30:00", "13:00:00"))])
def test_hours(text: str, parsed: tuple[str, str]) -> None:
    assert parse_hours(text) == {"start": parsed[0], "end": parsed[1]}


@pytest.mark.parametrize("text", ["9", "9-", "25-26", "9:75-10", "nine-ten"])
def test_bad_hours_say_how_to_write_them(text: str) -> None:
    with pytest.raises(CliError):
        parse_hours(text)


def test_window_needs_two_dates() -> None:
    assert parse_window("2020-10-19..2020-10-30") == ("2020-10-19", "2020-10-30")
    with pytest.raises(CliError, match=r"START\.\.END"):
        parse_window("2020-10-19")


def test_a_file_may_hold_payloads_or_envelopes(tmp_path) -> None:
    path = tmp_path / "missions.json"
    path.write_text(
        json.dumps([json.loads(mission("uk-2020").model_dump_json()), json.loads(mission_planned(mission("china-2020")).model_dump_json())])
    )
    assert missions_from_file(path) == [mission("uk-2020"), mission("china-2020")]
    single = tmp_path / "one.json"
    single.write_text(mission("india-2020").model_dump_json())
    assert missions_from_file(single) == [mission("india-2020")]


def test_a_bad_file_names_the_item(tmp_path) -> None:
    path = tmp_path / "missions.json"
    broken = json.loads(mission("uk-2020").model_dump_json()) | {"meeting_minutes": 1}
    path.write_text(json.dumps([json.loads(mission("india-2020").model_dump_json()), broken]))
    with pytest.raises(CliError, match=r"item 2 is invalid: meeting_minutes"):
        missions_from_file(path)


def test_the_catalogue_keeps_the_last_record_per_key_and_honours_tombstones() -> None:
    records = [
        record(b"india-v1", key=b"india-2020", offset=0),
        record(b"uk-v1", key=b"uk-2020", offset=1),
        record(b"india-v2", key=b"india-2020", offset=2),
        record(None, key=b"uk-2020", offset=3),
    ]
    assert {k: r.value for k, r in latest_per_key(records).items()} == {b"india-2020": b"india-v2"}
