"""Reading dead-lettered records for operators, and preparing their replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from outgoing_cli.dlq import REPLAYED_AT, REPLAYED_FROM, dead_letter, declared_type, redacted_preview, replay_record
from shared.messaging import (
    DLQ_ORIGINAL_SIZE,
    DLQ_REASON,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TOPIC,
    DLQ_TIME,
    DLQ_TRUNCATED,
)
from tests.factories import lombard, signup
from tests.unit.cli.builders import record

SIGNUP = signup(lombard()).to_bytes()
HEADERS = [
    (DLQ_REASON, b"invalid"),
    (DLQ_SOURCE_TOPIC, b"t1.forms.signups"),
    (DLQ_SOURCE_PARTITION, b"1"),
    (DLQ_SOURCE_OFFSET, b"42"),
    (DLQ_TIME, b"2020-10-20T08:00:00+00:00"),
]


def test_a_dead_letter_is_summarised_from_its_headers() -> None:
    summary = dead_letter("registration", record(SIGNUP, headers=HEADERS, partition=2, offset=7))
    assert (summary.partition, summary.offset, summary.reason) == (2, 7, "invalid")
    assert summary.source == "t1.forms.signups[1]@42"
    assert (summary.event_type, summary.time, summary.size) == ("signup.submitted.v1", "2020-10-20T08:00:00+00:00", len(SIGNUP))


def test_missing_headers_and_odd_values_are_shown_as_such() -> None:
    summary = dead_letter("matching", record(b"\xff\xfe", headers=[], timestamp=0))
    assert (summary.reason, summary.source, summary.event_type) == ("?", "?[?]@?", "(not JSON)")
    assert summary.time == "1970-01-01T00:00:00+00:00"
    assert declared_type(b'{"id": 1}') == "(no type)"
    assert declared_type(b"[1]") == "(not JSON)"


def test_the_preview_hides_contacts_e_mail_addresses_and_phone_numbers() -> None:
    preview = redacted_preview(SIGNUP, limit=10_000)
    assert "Mario Rossi" not in preview and "mario.rossi@rossi.example" not in preview and "035 123456" not in preview
    assert '"contact": "[redacted]"' in preview
    assert "Rossi Meccanica S.r.l." in preview  # a company name is business data
    assert redacted_preview(b"call +39 02 1234 5678 or write to a@b.it") == "call [phone] or write to [email]"


def test_the_preview_is_cut_short() -> None:
    assert redacted_preview(b"x" * 1000, limit=20) == "x" * 20 + "…"
    assert redacted_preview(None) == ""


def test_a_replay_sends_the_original_bytes_and_key_back_to_the_source_topic() -> None:
    now = datetime(2020, 10, 21, 9, 0, tzinfo=UTC)
    outgoing = replay_record("t1.registration.dlq", record(SIGNUP, key=b"Rossi", headers=HEADERS, partition=1, offset=5), now)
    assert outgoing is not None
    assert (outgoing.topic, outgoing.key, outgoing.value) == ("t1.forms.signups", b"Rossi", SIGNUP)
    event = json.loads(SIGNUP)
    assert outgoing.headers == {
        "content-type": "application/cloudevents+json; charset=UTF-8",
        "x-event-id": event["id"],
        "x-event-type": "signup.submitted.v1",
        "correlation_id": event["correlationid"],
        REPLAYED_FROM: "t1.registration.dlq:1:5",
        REPLAYED_AT: "2020-10-21T09:00:00+00:00",
    }, "a replayed event carries the headers of every event"
    assert json.loads(outgoing.value)["id"] == event["id"]  # same event id: consumers deduplicate
    garbage = replay_record("t1.registration.dlq", record(b"\xff{not json", headers=HEADERS), now)
    assert garbage is not None and set(garbage.headers) == {REPLAYED_FROM, REPLAYED_AT}, "no event: no event headers made up"


def test_a_record_without_a_source_or_value_cannot_be_replayed() -> None:
    now = datetime.now(UTC)
    assert replay_record("t1.registration.dlq", record(SIGNUP, headers=[]), now) is None
    assert replay_record("t1.registration.dlq", record(None, headers=HEADERS), now) is None


def test_a_truncated_dead_letter_is_never_replayed_as_if_whole() -> None:
    truncated = [*HEADERS, (DLQ_TRUNCATED, b"true"), (DLQ_ORIGINAL_SIZE, b"1040000")]
    assert replay_record("t1.registration.dlq", record(SIGNUP[:100], headers=truncated), datetime.now(UTC)) is None


def test_null_and_binary_header_values_are_read_without_failing() -> None:
    odd = [*HEADERS, ("x-event-id", None), ("x-event-type", b"\xff\xfe")]
    summary = dead_letter("registration", record(SIGNUP, headers=odd))
    assert summary.reason == "invalid"


def test_a_dead_letter_nested_past_the_parsers_limit_is_shown_and_replayed_without_a_crash() -> None:
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    assert declared_type(deep) == "(not JSON)"
    replayed = replay_record("t1.registration.dlq", record(deep, headers=HEADERS), datetime.now(UTC))
    assert replayed is not None and set(replayed.headers) == {REPLAYED_FROM, REPLAYED_AT}
