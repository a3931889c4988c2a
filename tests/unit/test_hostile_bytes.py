"""Arbitrary bytes and headers through the code that runs before and around every handler.

Whatever arrives, these may only fail in the ways the dead-letter middleware turns into a
dead letter (a validation error, unsafe input, or a type for another service), never with
an error that would make the record be redelivered forever.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.registration import RegistrationCommand, SignupFormEvent
from shared.messaging import NotForThisConsumer, UnsafeInput, _peek_ids, strict_json_decoder, tolerant_parser, upcast_legacy

DEAD_LETTERED = (ValidationError, UnsafeInput, NotForThisConsumer)

json_ish = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


def _nested(depth: int, opener: bytes, closer: bytes) -> bytes:
    return opener * depth + closer * depth


hostile_bytes = st.one_of(
    st.binary(max_size=2000),
    json_ish.map(lambda value: __import__("json").dumps(value).encode()),
    st.integers(100, 20_000).map(lambda depth: _nested(depth, b"[", b"]")),
    st.integers(100, 5_000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.sampled_from(
        [b"", b"null", b"\x00", b"\xff\xfe", b'{"id": 1e999999}', b'{"$where": "1"}', b'{"a.b": 1}', b'{"type": "signup.submitted.v1"}']
    ),
)


@dataclass
class FakeMessage:
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)


@pytest.mark.parametrize("event_type", [SignupFormEvent, RegistrationCommand], ids=["forms", "commands"])
@given(body=hostile_bytes)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
async def test_decoding_any_bytes_fails_only_into_a_dead_letter(event_type: Any, body: bytes) -> None:
    decode = strict_json_decoder(event_type)
    with contextlib.suppress(DEAD_LETTERED):
        await decode(FakeMessage(body))  # type: ignore[arg-type]


@given(body=hostile_bytes, headers=st.dictionaries(st.text(max_size=20), st.one_of(st.none(), st.text(max_size=50))))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_log_context_ids_never_raise(body: bytes, headers: dict[str, Any]) -> None:
    ids = _peek_ids(FakeMessage(body, headers))  # type: ignore[arg-type]
    assert all(isinstance(v, str) and len(v) <= 200 for v in ids.values())


@given(values=st.lists(st.one_of(st.none(), st.binary(max_size=40)), max_size=6))
@settings(max_examples=200, deadline=None)
async def test_any_header_values_parse(values: list[bytes | None]) -> None:
    record = ConsumerRecord("t", 0, 0, 0, 0, b"k", b"{}", None, 1, 2, [(f"h{i}", v) for i, v in enumerate(values)])

    async def faststream_default(r: Any) -> dict[str, str]:
        return {key: value.decode() for key, value in r.headers}  # what FastStream's own parser does

    parsed = await tolerant_parser(record, faststream_default)  # type: ignore[arg-type]
    assert set(parsed) == {f"h{i}" for i in range(len(values))}


def test_a_meeting_sequence_mongodb_cannot_store_is_refused_by_the_contract() -> None:
    """Found by bench/fuzz.py: a meeting's sequence of 30 digits passed the contract, then
    failed the database write three times before being dead-lettered as a handler error."""
    import json

    from shared.contracts.matching import MatchingEvent
    from tests.unit.cli.builders import meeting, scheduled, utc

    event = json.loads(scheduled(meeting("india-2020-m1", utc(2020, 10, 20, 9))).to_bytes())
    event["data"]["sequence"] = 123456789012345678901234567890
    with pytest.raises(ValidationError, match="sequence"):
        TypeAdapter(MatchingEvent).validate_json(json.dumps(event))


async def test_an_invalid_event_is_dead_lettered_once_by_the_service_that_reads_its_type_on_that_topic() -> None:
    """A bad company link on crm.links: registration's reason, not matching's 'expected a meeting link'."""
    from pydantic import ValidationError

    from shared.contracts.crm import CompanyLink, CompanyLinked, MeetingLinked, RegistrationLink

    link = CompanyLinked.new(
        source="/crm", subject="company-1", data=CompanyLink(company_id="company-0001", system="crm", external_id="A1")
    )
    bad = link.to_bytes().replace(b'"external_id":"A1"', b'"external_id":"has spaces"')
    with pytest.raises(NotForThisConsumer):
        await strict_json_decoder(MeetingLinked, "env.crm.links")(FakeMessage(bad))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="external_id"):
        await strict_json_decoder(RegistrationLink, "env.crm.links")(FakeMessage(bad))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await strict_json_decoder(MeetingLinked, "env.forms.meetings")(FakeMessage(bad))  # type: ignore[arg-type]


def _legacy_bytes(event: Any) -> bytes:
    """The event as it was written before events were CloudEvents."""
    new = json.loads(event.to_bytes())
    old = {k: new[k] for k in ("id", "type", "source", "time", "subject")}
    old |= {"correlation_id": new["correlationid"], "causation_id": new.get("causationid"), "payload": new["data"]}
    return json.dumps(old).encode()


async def test_a_record_written_before_events_were_cloudevents_is_read_as_one() -> None:
    """Compacted topics keep such records for good: a mission's definition must not be dead-lettered for its shape."""
    from shared.contracts.missions import MissionPlanned
    from tests.factories import mission_planned

    event = mission_planned(MISSIONS_2020[0])
    assert await strict_json_decoder(MissionPlanned)(FakeMessage(_legacy_bytes(event))) == event  # type: ignore[arg-type]

    value, headers = upcast_legacy(_legacy_bytes(event)) or (b"", {})
    assert MissionPlanned.model_validate_json(value) == event and headers["content-type"].startswith("application/cloudevents+json")
    assert upcast_legacy(event.to_bytes()) is None, "today's events are published as they are"

    broken = _legacy_bytes(event).replace(b'"meeting_minutes": 30', b'"meeting_minutes": "thirty"')
    assert broken != _legacy_bytes(event)
    with pytest.raises(ValidationError):
        await strict_json_decoder(MissionPlanned)(FakeMessage(broken))  # type: ignore[arg-type]


async def test_the_old_shape_is_refused_from_events_that_say_they_happened_after_the_upgrade() -> None:
    from shared.contracts.envelope import LEGACY_UNTIL
    from shared.contracts.missions import MissionPlanned
    from tests.factories import mission_planned

    late = mission_planned(MISSIONS_2020[0]).model_copy(update={"time": LEGACY_UNTIL})
    with pytest.raises(ValidationError, match="specversion"):
        await strict_json_decoder(MissionPlanned)(FakeMessage(_legacy_bytes(late)))  # type: ignore[arg-type]
    assert upcast_legacy(_legacy_bytes(late)) is None
