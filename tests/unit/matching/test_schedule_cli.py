"""`outgoing schedule solve` on instance files: the answer's fields, and every kind of bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from outgoing_cli.main import app

VALID: dict[str, Any] = {
    "slots": [
        {"id": "s1", "start": "2020-10-19T07:00:00Z", "end": "2020-10-19T07:20:00Z"},
        {"id": "s2", "start": "2020-10-19T07:20:00Z", "end": "2020-10-19T07:40:00Z"},
        {"id": "s3", "start": "2020-10-19T07:40:00+00:00", "end": "2020-10-19T09:00:00+01:00"},
    ],
    "capacity": 14,
    "participants": [
        {"id": "p1", "timezone": "Europe/Rome", "forbidden_slots": [], "max_meetings": 12},
        {"id": "p2", "timezone": "Asia/Kolkata"},
        {"id": "p3", "timezone": "Asia/Kolkata", "forbidden_slots": ["s2"]},
    ],
    "meetings": [
        {"id": "m1", "participants": ["p1", "p2"], "allowed_slots": None, "fixed_slot": "s1", "weight": 1.0, "required": True},
        {"id": "m2", "participants": ["p1", "p3"]},
    ],
    "fairness": 2,
}


def run(tmp_path: Path, document: dict[str, Any] | str, *options: str):
    path = tmp_path / "instance.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return CliRunner().invoke(app, ["schedule", "solve", str(path), "--time-limit", "5", *options])


def test_solves_a_valid_instance(tmp_path: Path) -> None:
    result = run(tmp_path, VALID)
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == "optimal" and answer["solver"] in ("sat", "cp-sat")
    assert answer["assignments"] == [{"meeting": "m1", "slot": "s1"}, {"meeting": "m2", "slot": "s3"}]
    assert answer["unscheduled"] == [] and answer["breaks"] == {"p1": 1, "p2": 0, "p3": 0}
    assert answer["total_breaks"] == 1 and answer["bound"] == 1 and answer["gap"] == 0
    assert answer["moved"] == [] and isinstance(answer["seconds"], float)


def test_fairness_option_overrides_the_file(tmp_path: Path) -> None:
    document = copy.deepcopy(VALID)
    document["meetings"][0]["required"] = False
    assert json.loads(run(tmp_path, document).stdout)["unscheduled"] == []
    answer = json.loads(run(tmp_path, document, "--fairness", "0").stdout)
    assert len(answer["unscheduled"]) == 1 and answer["total_breaks"] == 0


def test_previous_agenda_in_the_file(tmp_path: Path) -> None:
    document = copy.deepcopy(VALID)
    document["previous"] = {"m2": "s2", "gone": "s1"}
    answer = json.loads(run(tmp_path, document).stdout)
    assert answer["moved"] == ["m2"]


def test_per_slot_capacity(tmp_path: Path) -> None:
    document = copy.deepcopy(VALID)
    document["capacity"] = {"s1": 1, "s2": 1, "s3": 0}
    answer = json.loads(run(tmp_path, document).stdout)
    assert answer["unscheduled"] == ["m2"]


def mutate(path: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target: Any = document
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return document


BAD_INPUTS = [
    (mutate("participants.0.forbidden_slots", ["s9"]), "participant 'p1': forbidden_slots refers to unknown slot 's9'"),
    (mutate("meetings.1.participants", ["p1", "p7"]), "meeting 'm2' refers to unknown participant 'p7'"),
    (mutate("meetings.1.fixed_slot", "s7"), "meeting 'm2': fixed_slot refers to unknown slot 's7'"),
    (mutate("meetings.1.allowed_slots", ["s1", "nope"]), "allowed_slots refers to unknown slot 'nope'"),
    (mutate("capacity", {"s1": 1, "s2": 1, "s3": 1, "s4": 1}), "capacity refers to unknown slot 's4'"),
    (mutate("meetings.1.participants", ["p1"]), "meetings.1.participants: List should have at least 2 items"),
    (mutate("meetings.1.participants", ["p3", "p3"]), "meeting 'm2' has participant 'p3' twice"),
    (mutate("slots.1.start", "2020-10-19T07:10:00Z"), "slots 's1' and 's2' overlap"),
    (mutate("slots.1.end", "2020-10-19T07:20:00Z"), "slot 's2' ends at or before its start"),
    (mutate("participants.1.timezone", "Asia/Calcuta"), "participants.1.timezone: Value error, unknown IANA time zone 'Asia/Calcuta'"),
    (mutate("participants.2.id", "p1"), "duplicate participant id 'p1'"),
    (mutate("meetings.1.id", "m1"), "duplicate meeting id 'm1'"),
    (mutate("slots.2.id", "s1"), "duplicate slot id 's1'"),
    (mutate("slots.0.start", "19/10/2020 07:00"), "slots.0.start: Input should be a valid datetime"),
    (mutate("slots.0.start", "2020-10-19T07:00:00"), "slots.0.start: Input should have timezone info"),
    (mutate("meetings.0.weight", -1), "meetings.0.weight: Input should be greater than or equal to 0"),
    (mutate("capacity", -3), "capacity"),
    (mutate("fairness", "2"), "fairness: Input should be a valid integer"),
    (mutate("meetings.0.colour", "red"), "meetings.0.colour: Extra inputs are not permitted"),
    ('{"slots": [', "Invalid JSON"),
    ("[]", "Input should be an object"),
]


@pytest.mark.parametrize(("document", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_is_named_on_stderr_with_a_failing_exit(tmp_path: Path, document, message: str) -> None:
    result = run(tmp_path, document)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert message in result.stderr


def test_a_missing_file_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["schedule", "solve", str(tmp_path / "nope.json")])
    assert result.exit_code == 1 and "cannot read" in result.stderr
