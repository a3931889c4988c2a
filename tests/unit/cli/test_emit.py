"""Validating an emit file line by line, and routing each event type to its topic."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from outgoing_cli.emit import ValidLine, route, validate_lines
from outgoing_cli.main import app
from shared.contracts.catalog import EVENT_TYPES
from shared.contracts.matching import ScheduleRequest, ScheduleRequested
from shared.contracts.topics import Topic
from tests.factories import foreign, lombard, mission, mission_planned, signup
from tests.unit.cli.builders import LOMBARD, registered

GOOD_SIGNUP = signup(lombard()).model_dump_json()
GOOD_PARTNER = signup(foreign()).model_dump_json()
GOOD_COMMAND = ScheduleRequested.new(
    source="ops", subject="india-2020", data=ScheduleRequest(mission_id="india-2020", operator="Anna")
).model_dump_json()


def lines(*texts: str) -> list[bytes]:
    return [t.encode() for t in texts]


@pytest.mark.parametrize(
    ("event_type", "topic"),
    [
        ("signup.submitted.v1", Topic.SIGNUP_FORMS),
        ("signup.updated.v1", Topic.SIGNUP_FORMS),
        ("signup.withdrawn.v1", Topic.SIGNUP_FORMS),
        ("erasure.requested.v1", Topic.SIGNUP_FORMS),
        ("meeting.requested.v1", Topic.MEETING_FORMS),
        ("meeting.request_answered.v1", Topic.MEETING_FORMS),
        ("followup.answered.v1", Topic.MEETING_FORMS),
        ("signup.approved_by_operator.v1", Topic.OPERATOR_COMMANDS),
        ("signup.rejected_by_operator.v1", Topic.OPERATOR_COMMANDS),
        ("pair.forced_by_operator.v1", Topic.OPERATOR_COMMANDS),
        ("pair.forbidden_by_operator.v1", Topic.OPERATOR_COMMANDS),
        ("mission.schedule_requested.v1", Topic.OPERATOR_COMMANDS),
        ("availability.changed.v1", Topic.OPERATOR_COMMANDS),
        ("mission.planned.v1", Topic.MISSIONS),
    ],
)
def test_input_events_are_routed_to_the_topic_their_consumer_reads(event_type: str, topic: Topic) -> None:
    assert route(event_type) is topic


@pytest.mark.parametrize(
    "event_type",
    [
        "signup.rejected.v1",
        "company.registered.v1",
        "meeting.scheduled.v1",
        "meeting.cancelled.v1",
        "agenda.published.v1",
        "notification.sent.v1",
    ],
)
def test_events_the_services_publish_have_no_route(event_type: str) -> None:
    assert event_type in EVENT_TYPES
    assert route(event_type) is None


def test_the_routing_follows_the_naming_rules_for_every_input() -> None:
    """Operator overrides of signups are named signup.*_by_operator: the operator rule comes first."""

    def by_name(event_type: str) -> Topic:
        if "_by_operator." in event_type or event_type.startswith(("mission.schedule_requested", "availability.changed")):
            return Topic.OPERATOR_COMMANDS
        if ".external_id_set." in event_type:
            return Topic.CRM_LINKS
        if event_type.startswith(("signup.", "erasure.")):
            return Topic.SIGNUP_FORMS
        if event_type.startswith(("meeting.", "followup.answered")):
            return Topic.MEETING_FORMS
        assert event_type.startswith("mission.planned")
        return Topic.MISSIONS

    routed = {t: route(t) for t in EVENT_TYPES if route(t) is not None}
    assert len(routed) == 17
    assert routed == {t: by_name(t) for t in routed}


def test_good_lines_are_kept_with_their_exact_bytes_and_topic() -> None:
    valid, problems = validate_lines(lines(GOOD_SIGNUP, "", "   ", GOOD_COMMAND, mission_planned(mission("uk-2020")).model_dump_json()))
    assert problems == []
    assert [(v.number, v.topic, v.event.type) for v in valid] == [
        (1, Topic.SIGNUP_FORMS, "signup.submitted.v1"),
        (4, Topic.OPERATOR_COMMANDS, "mission.schedule_requested.v1"),
        (5, Topic.MISSIONS, "mission.planned.v1"),
    ]
    assert valid[0].raw == GOOD_SIGNUP.encode()
    assert valid[1].event.subject == "india-2020"


def test_each_bad_line_is_reported_by_its_number_and_reason() -> None:
    no_consent = json.loads(GOOD_SIGNUP)
    no_consent["data"]["applicant"]["privacy_consent"] = "yes"
    extra = json.loads(GOOD_COMMAND) | {"unexpected_field": 1}
    valid, problems = validate_lines(
        lines(
            GOOD_SIGNUP,
            json.dumps(no_consent),
            "{not json",
            "[1, 2]",
            '{"id": "x"}',
            '{"type": "signup.exploded.v1"}',
            json.dumps(extra),
            registered(LOMBARD, "Rossi").model_dump_json(),
            GOOD_PARTNER,
        )
    )
    assert [v.number for v in valid] == [1, 9]
    reasons = {p.number: p.reason for p in problems}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert "data.applicant.lombard.privacy_consent" in reasons[2] and "boolean" in reasons[2]
    assert reasons[3].startswith("not valid JSON")
    assert reasons[4] == "not a JSON object"
    assert reasons[5] == 'no "type" field naming the event type'
    assert reasons[6] == "unknown event type 'signup.exploded.v1'"
    assert "'unexpected_field' is not a CloudEvents attribute name" in reasons[7]
    assert "published by the services" in reasons[8]
    assert str(problems[0]).startswith("line 2: signup.submitted.v1 does not match its contract")


def test_strict_mode_rejects_what_lax_mode_would_coerce() -> None:
    """The consumers decode in strict JSON mode: a number given as a string is an error here too."""
    command = json.loads(GOOD_COMMAND)
    command["data"]["time_limit_s"] = "30"
    _, [problem] = validate_lines(lines(json.dumps(command)))
    assert problem.number == 1 and "data.time_limit_s" in problem.reason


def test_reasons_never_echo_the_offending_value() -> None:
    bad_email = json.loads(GOOD_SIGNUP)
    bad_email["data"]["applicant"]["contact"]["email"] = "mario.rossi-at-example"
    _, [problem] = validate_lines(lines(json.dumps(bad_email)))
    assert "contact.email" in problem.reason
    assert "mario.rossi-at-example" not in problem.reason


def test_an_explicit_topic_sends_any_valid_event_there() -> None:
    valid, problems = validate_lines(lines(registered(LOMBARD, "Rossi").model_dump_json(), GOOD_SIGNUP), Topic.OPERATOR_COMMANDS)
    assert problems == []
    assert all(isinstance(v, ValidLine) and v.topic is Topic.OPERATOR_COMMANDS for v in valid)


def test_a_file_with_a_bad_line_publishes_nothing_and_names_the_line(tmp_path) -> None:
    """Validation fails before any connection: the broker address below does not even exist."""
    path = tmp_path / "signups.jsonl"
    path.write_text("\n".join([GOOD_SIGNUP, GOOD_PARTNER, '{"type": "signup.submitted.v1"}']) + "\n")
    result = CliRunner().invoke(app, ["--kafka", "127.0.0.1:1", "emit", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "line 3: signup.submitted.v1 does not match its contract" in result.stderr
    assert "1 of 3 events" in result.stderr and "nothing was published" in result.stderr
    assert "Traceback" not in result.output


def test_an_unreachable_broker_is_one_readable_line(tmp_path) -> None:
    path = tmp_path / "signups.jsonl"
    path.write_text(GOOD_SIGNUP + "\n")
    result = CliRunner().invoke(app, ["--kafka", "127.0.0.1:1", "emit", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "error: Kafka is not reachable at 127.0.0.1:1" in result.stderr
    assert "fix:" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
