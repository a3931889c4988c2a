"""The CRM contract: every event type is a CloudEvent the official SDK reads, its data fits its
committed JSON Schema, the committed files are what the code generates, and no change breaks
a published schema without a new version."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings import kafka
from jsonschema import Draft202012Validator, FormatChecker

from outgoing_cli.contracts.files import SCHEMAS, compare, write
from shared.contracts.catalog import declared_event_types
from shared.contracts.envelope import CONTENT_TYPE, schema_uri
from shared.contracts.schemas import all_data_schemas, breaking_changes
from shared.contracts.topics import Topic
from shared.messaging import event_headers
from tests.contract_audit import Audit, _record_problems
from tests.contract_factories import sample_event

ALL_TYPES = list(declared_event_types())


def committed_schema(event_type: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{event_type}.json").read_text())


def test_the_committed_schemas_and_asyncapi_document_are_what_the_code_generates() -> None:
    result = compare()
    assert result.ok, f"breaking: {result.breaking}; retired: {result.retired}; stale: {result.stale} (run `outgoing contracts write`)"


@pytest.mark.parametrize("event_type", ALL_TYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_event_type_is_a_cloudevent_the_sdk_reads_and_its_data_fits_its_schema(event_type: str, seed: int) -> None:
    event = sample_event(event_type, seed)
    headers = event_headers(event)
    record = kafka.KafkaMessage(headers={k: v.encode() for k, v in headers.items()}, key=event.key, value=event.to_bytes())
    parsed = kafka.from_kafka_event(record)
    attributes = parsed.get_attributes()
    assert attributes["specversion"] == "1.0" and attributes["id"] == str(event.id) and attributes["type"] == event_type
    assert attributes["dataschema"] == schema_uri(event_type) == committed_schema(event_type)["$id"]
    assert attributes["correlationid"] == headers["correlation_id"] == str(event.correlation_id)
    assert headers["content-type"] == CONTENT_TYPE and all(headers.values()), "no empty header"
    Draft202012Validator(committed_schema(event_type), format_checker=FormatChecker()).validate(parsed.get_data())
    assert type(event).model_validate_json(event.to_bytes()) == event, "our decoders read what we write"


def test_the_sdk_refuses_what_our_envelope_used_to_be() -> None:
    """The old shape (payload, correlation_id) is not a CloudEvent: the test above would catch a regression."""
    old = {"id": "1", "source": "registration", "type": "company.erased.v1", "specversion": "1.0", "correlation_id": "x", "payload": {}}
    with pytest.raises(Exception, match="correlation_id"):
        kafka.from_kafka_event(kafka.KafkaMessage(headers={}, key=None, value=json.dumps(old).encode()))


# ---------------------------------------------------------------- the compatibility rule

MEETING = "meeting.scheduled.v1"


def changed(event_type: str, change: Any) -> list[str]:
    old = committed_schema(event_type)
    new = copy.deepcopy(old)
    change(new)
    return breaking_changes(old, new)


def _set(path: list[str], value: Any) -> Any:
    def apply(schema: dict[str, Any]) -> None:
        node = schema
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return apply


def _rename(schema: dict[str, Any]) -> None:
    schema["properties"]["video_link"] = schema["properties"].pop("video_url")
    schema["required"] = ["video_link" if r == "video_url" else r for r in schema["required"]]


def _map_value(schema: dict[str, Any]) -> dict[str, Any]:
    [value] = schema["properties"]["external_ids"]["patternProperties"].values()
    return value  # type: ignore[no-any-return]


def _pattern_key(schema: dict[str, Any], pattern: str) -> None:
    [value] = schema["properties"]["external_ids"]["patternProperties"].values()
    schema["properties"]["external_ids"]["patternProperties"] = {pattern: value}


def _reorder_nullable(schema: dict[str, Any]) -> None:
    schema["properties"]["province"]["anyOf"].reverse()


@pytest.mark.parametrize(
    ("why", "change", "expected"),
    [
        ("a field removed", lambda s: s["properties"].pop("slot_id"), "slot_id: removed"),
        ("a field renamed", _rename, "video_url: removed or renamed"),
        ("a type changed", _set(["properties", "sequence", "type"], "string"), "sequence: type changed"),
        ("a field made nullable", _set(["properties", "slot_id"], {"anyOf": [{"type": "string"}, {"type": "null"}]}), "slot_id"),
        ("a field no longer required", lambda s: s["required"].remove("video_url"), "video_url: no longer required"),
        ("a required field added", lambda s: (s["properties"].update(room={"type": "string"}), s["required"].append("room")), "room"),
        ("an enum widened, deep in $defs", lambda s: s["$defs"]["LocalTime"]["properties"]["role"]["enum"].append("agent"), "role"),
        ("a pattern tightened", _set(["properties", "meeting_id", "pattern"], "^[a-z]+$"), "meeting_id: pattern"),
        ("an item type changed", _set(["properties", "participants", "items", "type"], "integer"), "participants[]"),
        ("a format changed", _set(["properties", "start", "format"], "date"), "start: format"),
        ("an optional field made required", lambda s: s["required"].append("external_ids"), "external_ids: newly required"),
        ("a map's key pattern changed", lambda s: _pattern_key(s, "^[a-z]+$"), "patternProperties"),
    ],
)
def test_breaking_changes_are_caught(why: str, change: Any, expected: str) -> None:
    problems = changed(MEETING, change)
    assert any(expected in p for p in problems), f"{why} went unnoticed: {problems}"


def _rename_def(schema: dict[str, Any]) -> None:
    schema["$defs"]["ParticipantTime"] = schema["$defs"].pop("LocalTime")
    schema["properties"]["local_times"]["items"]["$ref"] = "#/$defs/ParticipantTime"


@pytest.mark.parametrize(
    ("why", "change"),
    [
        ("an optional field added", lambda s: s["properties"].update(agenda_note={"type": "string", "default": ""})),
        ("a description changed", _set(["properties", "slot_id", "description"], "The grid slot.")),
        ("a $defs entry renamed", _rename_def),
        ("a default changed", _set(["properties", "slot_id", "default"], "grid-0")),
        ("a map value's description changed", lambda s: _map_value(s).update(description="The CRM's very own id")),
    ],
)
def test_compatible_changes_pass(why: str, change: Any) -> None:
    assert changed(MEETING, change) == [], why


def test_reordering_alternatives_is_compatible_but_changing_one_is_not() -> None:
    old = {"properties": {"note": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
    assert breaking_changes(old, {"properties": {"note": {"anyOf": [{"type": "null"}, {"type": "string"}]}}}) == []
    assert breaking_changes(old, {"properties": {"note": {"anyOf": [{"type": "null"}, {"type": "integer"}]}}})
    assert changed("company.registered.v1", _reorder_nullable) == []


def test_a_map_value_type_change_is_caught_in_external_ids() -> None:
    def to_integers(schema: dict[str, Any]) -> None:
        _map_value(schema)["type"] = "integer"

    problems = changed("company.registered.v1", to_integers)
    assert any("external_ids{^[a-z]" in p and "type" in p for p in problems), problems


def test_closing_is_breaking_and_opening_is_not_for_a_schema_we_accept_from_outside() -> None:
    link = committed_schema("company.external_id_set.v1")
    assert link["additionalProperties"] is False, "what we accept is published closed"
    opened = {k: v for k, v in link.items() if k != "additionalProperties"}
    assert breaking_changes(link, opened) == []


def test_a_recursive_schema_is_compared_without_end() -> None:
    tree = {"$defs": {"Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}}}
    tree |= {"$ref": "#/$defs/Node"}
    assert breaking_changes(tree, copy.deepcopy(tree)) == []
    changed_tree = copy.deepcopy(tree)
    changed_tree["$defs"]["Node"]["properties"]["children"]["type"] = "object"
    assert breaking_changes(tree, changed_tree)


def test_write_refuses_to_overwrite_a_published_schema_with_a_breaking_change(tmp_path: Path) -> None:
    schemas, asyncapi = tmp_path / "schemas", tmp_path / "asyncapi.yaml"
    assert write(schemas, asyncapi).ok
    published = json.loads((schemas / f"{MEETING}.json").read_text())
    published["properties"]["room"] = {"type": "string"}  # as if the code had since dropped a published field
    published["required"].append("room")
    (schemas / f"{MEETING}.json").write_text(json.dumps(published))
    (schemas / "meeting.teleported.v1.json").write_text(json.dumps(all_data_schemas()[MEETING]))

    result = write(schemas, asyncapi)
    assert list(result.breaking) == [MEETING] and "data.room: removed or renamed" in result.breaking[MEETING]
    assert result.retired == ["meeting.teleported.v1"]
    assert json.loads((schemas / f"{MEETING}.json").read_text()) == published, "the published schema is left as it was"
    (schemas / "meeting.teleported.v1.json").write_text(json.dumps(all_data_schemas()[MEETING] | {"deprecated": True}))
    assert write(schemas, asyncapi).retired == ["meeting.teleported.v1"], "deprecated, but nothing replaces it"


def test_a_version_retires_only_marked_deprecated_and_replaced_by_a_newer_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from outgoing_cli.contracts import files

    schemas, asyncapi = tmp_path / "schemas", tmp_path / "asyncapi.yaml"
    write(schemas, asyncapi)
    retired = all_data_schemas()[MEETING] | {"deprecated": True}
    (schemas / "meeting.teleported.v1.json").write_text(json.dumps(retired))
    with_successor = all_data_schemas() | {"meeting.teleported.v2": all_data_schemas()[MEETING]}
    monkeypatch.setattr(files, "all_data_schemas", lambda: with_successor)
    assert files.compare(schemas, asyncapi).retired == []
    (schemas / "meeting.teleported.v1.json").write_text(json.dumps(all_data_schemas()[MEETING]))
    assert files.compare(schemas, asyncapi).retired == ["meeting.teleported.v1"], "replaced, but not marked deprecated"


# ---------------------------------------------------------------- the audit the end-to-end test runs on real topics


@dataclass
class _Record:
    value: bytes | None
    headers: list[tuple[str, bytes]]
    key: bytes = b"k"


def _audited(topic: Topic, record: _Record) -> list[str]:
    return _record_problems(topic, record, Audit())


def test_the_audit_passes_an_event_as_the_services_publish_it() -> None:
    event = sample_event("company.registered.v1")
    headers = [(k, v.encode()) for k, v in event_headers(event).items()]
    assert _audited(Topic.REGISTRATION_EVENTS, _Record(event.to_bytes(), headers)) == []


@pytest.mark.parametrize(
    ("why", "topic", "mangle", "expected"),
    [
        ("twice a header", Topic.REGISTRATION_EVENTS, lambda v, h: (v, [*h, ("content-type", b"")]), "appears 2 times"),
        ("empty header", Topic.REGISTRATION_EVENTS, lambda v, h: (v, [*h, ("x-trace", b"")]), "empty header 'x-trace'"),
        ("conflicting correlation", Topic.REGISTRATION_EVENTS, lambda v, h: (v, _replace(h, "correlation_id", b"other")), "correlation_id"),
        ("the wrong topic", Topic.MATCHING_EVENTS, lambda v, h: (v, h), "not declared for matching.events"),
        ("old envelope", Topic.REGISTRATION_EVENTS, lambda v, h: (v.replace(b'"data"', b'"payload"'), h), "decoder refuses"),
        ("data off its schema", Topic.REGISTRATION_EVENTS, lambda v, h: (v.replace(b'"role":"', b'"role":"x'), h), "data:"),
        ("a tombstone with headers", Topic.CONTACTS, lambda v, h: (None, h), "tombstone"),
        ("a tombstone where none belongs", Topic.REGISTRATION_EVENTS, lambda v, h: (None, []), "tombstone"),
    ],
)
def test_the_audit_finds_what_breaks_the_contract(why: str, topic: Topic, mangle: Any, expected: str) -> None:
    event = sample_event("company.registered.v1")
    value, headers = mangle(event.to_bytes(), [(k, v.encode()) for k, v in event_headers(event).items()])
    problems = _audited(topic, _Record(value, headers))
    assert any(expected in p for p in problems), f"{why}: {problems}"


def _replace(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(n, value if n == name else v) for n, v in headers]
