from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.contracts.envelope import Contract, Envelope, find_mongo_operator, schema_uri


class Sample(Contract):
    name: str
    tags: dict[str, str] = {}


class SampleHappened(Envelope[Sample]):
    type: Literal["sample.happened.v1"] = "sample.happened.v1"


def raw(**overrides: object) -> dict[str, object]:
    event_id = str(uuid4())
    body: dict[str, object] = {
        "specversion": "1.0",
        "id": event_id,
        "type": "sample.happened.v1",
        "source": "/tests",
        "time": "2020-10-19T09:00:00+02:00",
        "datacontenttype": "application/json",
        "dataschema": schema_uri("sample.happened.v1"),
        "correlationid": event_id,
        "subject": "company-1",
        "data": {"name": "Rossi S.p.A."},
    }
    body.update(overrides)
    return body


def from_json(body: dict[str, object]) -> SampleHappened:
    return SampleHappened.model_validate_json(json.dumps(body))


def test_time_is_normalised_to_utc() -> None:
    event = from_json(raw())
    assert event.time == datetime(2020, 10, 19, 7, 0, tzinfo=UTC)
    assert event.time.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("specversion", "0.3", "1.0"),
        ("datacontenttype", "text/plain", "application/json"),
        ("dataschema", schema_uri("sample.other.v1"), "dataschema must be"),
        ("source", "forms with spaces", "URI-reference"),
        ("source", "", "at least 1"),
    ],
)
def test_cloudevents_attributes_are_checked(field: str, value: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        from_json(raw(**{field: value}))


@pytest.mark.parametrize("missing", ["specversion", "id", "source", "datacontenttype", "dataschema", "correlationid", "data"])
def test_required_attributes_must_be_there(missing: str) -> None:
    body = raw()
    del body[missing]
    with pytest.raises(ValidationError, match=missing):
        from_json(body)


def test_extensions_use_the_names_cloudevents_allows_and_python_names_are_refused() -> None:
    event = SampleHappened.new(source="/tests", subject="company-1", data=Sample(name="Rossi"))
    dumped = json.loads(event.to_bytes())
    assert all(re.fullmatch(r"[a-z0-9]{1,20}", name) for name in dumped), sorted(dumped)
    assert "causationid" not in dumped, "an extension without a value is absent, not null"
    caused = SampleHappened.new(source="/tests", subject="company-1", data=Sample(name="Rossi"), caused_by=event)
    assert json.loads(caused.to_bytes())["causationid"] == str(event.id)
    with pytest.raises(ValidationError, match="correlation_id"):
        from_json(raw(correlation_id=str(uuid4())))


def test_naive_time_is_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        from_json(raw(time="2020-10-19T09:00:00"))


def test_unknown_extensions_are_kept_but_data_stays_closed() -> None:
    traced = from_json(raw(traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", partitionkey="company-1"))
    again = json.loads(traced.to_bytes())
    assert again["traceparent"].startswith("00-4bf9") and again["partitionkey"] == "company-1", "passed on when re-published"
    with pytest.raises(ValidationError, match="extra"):
        from_json(raw(data={"name": "x", "surprise": True}))


@pytest.mark.parametrize(
    "extension",
    [
        {"unexpected_field": 1},
        {"Traceparent": "x"},
        {"averyveryverylongextensionname": "x"},
        {"payload": {"name": "x"}},
        {"note": "x" * 2001},
        {"note": "line\nbreak"},
        {"count": 2**31},
        {f"ext{i}": i for i in range(11)},
    ],
)
def test_extensions_must_be_named_and_valued_as_cloudevents_allows(extension: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match=r"extension|attribute name"):
        from_json(raw(**extension))


def test_strict_mode_refuses_coercion() -> None:
    with pytest.raises(ValidationError):
        from_json(raw(data={"name": 42}))


@pytest.mark.parametrize("bad_type", ["company.registered", "Company.Registered.v1", "x.v1", "a.b.v0"])
def test_type_must_carry_a_version(bad_type: str) -> None:
    with pytest.raises(ValidationError):
        from_json(raw(type=bad_type))


def test_type_must_match_the_model() -> None:
    with pytest.raises(ValidationError, match=r"sample\.happened\.v1"):
        from_json(raw(type="sample.other.v1"))


def test_mongo_operators_in_free_form_mappings_are_rejected() -> None:
    with pytest.raises(ValidationError, match="MongoDB operator"):
        from_json(raw(data={"name": "x", "tags": {"$where": "1"}}))
    with pytest.raises(ValidationError, match="MongoDB operator"):
        from_json(raw(data={"name": "x", "tags": {"a.b": "1"}}))


def test_new_event_chains_correlation_and_causation() -> None:
    first = SampleHappened.new(source="a", subject="s", data=Sample(name="n"))
    second = SampleHappened.new(source="b", subject="s", data=Sample(name="m"), caused_by=first)
    assert first.correlation_id == first.id and first.causation_id is None
    assert second.correlation_id == first.id and second.causation_id == first.id


@given(st.datetimes(timezones=st.timezones()))
def test_round_trip_through_json_is_lossless(moment: datetime) -> None:
    event = SampleHappened.new(source="t", subject="s", data=Sample(name="n"), time=moment)
    again = SampleHappened.model_validate_json(event.to_bytes())
    assert again == event
    # Compare instants: PEP 495 makes an ambiguous wall time unequal to every other zone's.
    assert again.time == moment.astimezone(UTC)
    assert again.time.tzinfo is UTC


keys = st.text(min_size=1, max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=10,
)


@given(json_values)
def test_operator_finder_agrees_with_a_plain_recount(value: object) -> None:
    def has_bad_key(v: object) -> bool:
        if isinstance(v, dict):
            return any(k.startswith("$") or "." in k or has_bad_key(x) for k, x in v.items())
        if isinstance(v, list):
            return any(has_bad_key(x) for x in v)
        return False

    assert (find_mongo_operator(value) is not None) == has_bad_key(value)


def test_a_company_name_with_a_line_break_is_refused_at_the_door() -> None:
    import pytest
    from pydantic import ValidationError

    from tests.factories import lombard

    with pytest.raises(ValidationError, match="company_name"):
        lombard(company_name="Rossi\r\nBcc: everyone@example.com")


async def test_each_consumer_task_flushes_only_what_its_own_message_wrote() -> None:
    import asyncio

    from shared.outbox import DocumentRef, TouchedDocuments

    store = TouchedDocuments()
    both_touched = asyncio.Event()
    seen: dict[str, list[DocumentRef]] = {}

    async def consumer(name: str) -> None:
        store.touch("missions", name)
        if name == "b":
            both_touched.set()
        await both_touched.wait()
        seen[name] = store.drain_touched()

    await asyncio.gather(consumer("a"), consumer("b"))
    assert seen == {"a": [DocumentRef("missions", "a")], "b": [DocumentRef("missions", "b")]}
