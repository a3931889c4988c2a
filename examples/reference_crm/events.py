"""Reading Outgoing's records: CloudEvents 1.0 in structured JSON mode, through the official SDK.

Two rules make a consumer that survives what really arrives on a topic:

- check what you depend on (``specversion``, the ``.vN`` major version of ``type``, the
  fields you read) and ignore everything else, so new optional fields never break you;
- turn every way a record can be unreadable into one exception, ``Malformed``, so that the
  loop logs it, notes it and moves on instead of crashing or retrying it forever.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

SPEC_VERSION = "1.0"
MAJOR_VERSION = 1
"""The major version of the event types this consumer understands (``company.registered.v1``), unless ``VERSIONS`` says otherwise."""
VERSIONS = {"notification.sent": 2, "notification.failed": 2}
"""Types this consumer reads in a later version. While Outgoing moves a type to ``.vN+1`` it publishes
both (docs/crm.md), so the older one is passed over here: its fact arrives in the version read."""
_TYPE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)\.v(?P<major>[1-9][0-9]*)$")
_IDENTIFYING = ("specversion", "id", "source", "type")


class Malformed(ValueError):
    """A record this consumer cannot read; it is logged, noted in ``skipped`` and passed over."""


@dataclass(frozen=True)
class Record:
    """One Kafka record, independent of the client library (tests build these by hand)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def from_kafka(cls, record: Any) -> Record:
        """From an aiokafka ``ConsumerRecord``."""
        headers = tuple((str(name), bytes(value or b"")) for name, value in record.headers or ())
        return cls(record.topic, record.partition, record.offset, record.key, record.value, headers)

    @property
    def tombstone(self) -> bool:
        """A null value: on a compacted topic, "forget this key"."""
        return self.value is None

    def key_text(self) -> str:
        try:
            return (self.key or b"").decode()
        except UnicodeDecodeError:
            raise Malformed("the record key is not UTF-8") from None


@dataclass(frozen=True)
class Event:
    """What this consumer reads of a CloudEvent: its identity, its type, its data."""

    id: str
    source: str
    name: str
    """The type without its version: ``company.registered``."""
    major: int
    type: str
    time: datetime | None
    correlationid: str | None
    data: Mapping[str, Any]


def _strict_v1(attributes: dict[str, Any], data: Any) -> BaseCloudEvent:
    """The SDK's v1 CloudEvent, minus its defaults: it would invent an ``id`` and ``specversion``
    for a record that has none, and an invented id defeats de-duplication."""
    missing = [name for name in _IDENTIFYING if name not in attributes]
    if missing:
        raise Malformed(f"missing CloudEvents attribute(s): {', '.join(missing)}")
    if attributes["specversion"] != SPEC_VERSION:
        raise Malformed(f"specversion {attributes['specversion']!r} is not supported (only {SPEC_VERSION})")
    return CloudEvent(attributes, data)


def parse(record: Record) -> Event:
    """The CloudEvent in ``record`` (structured or binary mode), or ``Malformed``."""
    if record.value is None:
        raise Malformed("a tombstone carries no event")
    message = kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    try:
        cloud_event = kafka.from_kafka(message, JSONFormat(), _strict_v1)
    except Malformed:
        raise
    except Exception as error:  # noqa: BLE001 - any bytes can arrive; the SDK raises ValueError, TypeError, AttributeError, RecursionError or its own errors
        raise Malformed(f"not a CloudEvent: {type(error).__name__}: {str(error)[:200]}") from None
    matched = _TYPE.match(cloud_event.get_type())
    if matched is None:
        raise Malformed(f"type {cloud_event.get_type()[:100]!r} has no .vN version suffix")
    data = cloud_event.get_data()
    if not isinstance(data, Mapping):
        raise Malformed("data is not a JSON object")
    correlation = cloud_event.get_extension("correlationid")
    return Event(
        id=cloud_event.get_id(),
        source=cloud_event.get_source(),
        name=matched["name"],
        major=int(matched["major"]),
        type=cloud_event.get_type(),
        time=cloud_event.get_time(),
        correlationid=correlation if isinstance(correlation, str) else None,
        data=data,
    )


# ---------------------------------------------------------------- tolerant field readers


def text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise Malformed(f"data.{name} must be a non-empty string")
    return value


def optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


def texts(data: Mapping[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Malformed(f"data.{name} must be a list of strings")
    return value


def obj(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, Mapping):
        raise Malformed(f"data.{name} must be an object")
    return value


def integer(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Malformed(f"data.{name} must be an integer")
    return value


def optional_int(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def optional_bool(data: Mapping[str, Any], name: str) -> bool | None:
    value = data.get(name)
    return value if isinstance(value, bool) else None


def instant(data: Mapping[str, Any], name: str) -> str:
    """An ISO 8601 instant with an offset, as a UTC ISO string (sortable, comparable in SQL)."""
    value = text(data, name)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Malformed(f"data.{name} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise Malformed(f"data.{name} has no UTC offset")
    return parsed.astimezone(UTC).isoformat()


def when(event: Event) -> str:
    """The event's time as a UTC ISO string ('' when it has none: older than anything)."""
    return event.time.astimezone(UTC).isoformat() if event.time else ""
