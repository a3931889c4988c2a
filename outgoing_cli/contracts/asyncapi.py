"""One AsyncAPI 3.0 document for the whole system, generated from the contracts and the services.

Channels, messages, keys, headers, compaction and tombstones come from
shared/contracts/channels.py and the pydantic models; who reads what comes from the
services' subscribers (readers.py). Each message's ``data`` refers to its JSON Schema in
docs/schemas/, the file its events' ``dataschema`` names.
"""

from __future__ import annotations

import itertools
from collections import Counter
from functools import cache
from importlib.metadata import version
from typing import Any

from outgoing_cli.contracts.readers import Reader, readers
from shared.contracts.catalog import declared_event_types
from shared.contracts.channels import CHANNELS, CRMS, Channel
from shared.contracts.envelope import CONTENT_TYPE, DATA_CONTENT_TYPE, EVENT_TYPE_PATTERN, SPEC_VERSION, schema_uri
from shared.contracts.schemas import OUTSIDE_WRITERS
from shared.contracts.topics import DEAD_LETTER_TOPICS, Topic
from shared.kafka import topic_config
from shared.messaging import (
    DLQ_ERRORS,
    DLQ_GROUP,
    DLQ_ORIGINAL_SIZE,
    DLQ_REASON,
    DLQ_SERVICE,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TOPIC,
    DLQ_TIME,
    DLQ_TRUNCATED,
    HEADER_CONTENT_TYPE,
    HEADER_CORRELATION_ID,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
)

KAFKA_BINDING = "0.5.0"
SCHEMAS_DIR = "./schemas"
DESCRIPTION = """\
The Kafka topics of Outgoing, the backend of virtual B2B trade missions: what each carries,
who writes it, who reads it, its key, and whether it is compacted.

Every record is a CloudEvents 1.0 event in structured JSON mode (Kafka header
`content-type: application/cloudevents+json; charset=UTF-8`), except tombstones (a null
value on a compacted topic, no headers) and dead letters (the original bytes). An event's
`data` follows the JSON Schema its `dataschema` names: the file of that name in
docs/schemas/. Topic names are `<prefix>.<name>`, the prefix being the environment's.
Channels tagged `public` are the CRM contract, versioned as docs/crm.md says; the others are
internal and change with any release."""


def asyncapi_document() -> dict[str, Any]:
    found = readers()
    _check_readers(found)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel in CHANNELS:
        name = channel.topic.value
        channels[name] = _channel(channel)
        for writer in channel.writers:
            operations[f"{writer}.sends.{name}"] = _operation("send", writer, channel, _written_by(channel, writer))
        subscribers: Counter[str] = Counter()
        for reader in (r for r in found if r.topic is channel.topic):
            messages = [t for t in channel.event_types if t in reader.event_types] + (["tombstone"] if reader.tombstones else [])
            subscribers[reader.service] += 1  # a service with two subscribers on one topic: .1, .2
            operation = _operation("receive", reader.service, channel, messages)
            operations[f"{reader.service}.receives.{name}.{subscribers[reader.service]}"] = operation
        if channel.read_by_crms:
            operations[f"{CRMS}.reads.{name}"] = _operation("receive", CRMS, channel, [*channel.crm_event_types, *_tombstone(channel)])
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Outgoing", "version": version("outgoing"), "description": DESCRIPTION},
        "servers": {
            "local": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The broker `make up` starts (deploy/local/infra.py); production runs its own cluster.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": _schemas()},
    }


def _check_readers(found: list[Reader]) -> None:
    """A service reading a type its topic is not declared to carry means channels.py is wrong."""
    declared = {c.topic: set(c.event_types) for c in CHANNELS}
    for reader in found:
        strays = reader.event_types - declared[reader.topic]
        if strays:
            raise ValueError(f"{reader.service} reads {sorted(strays)} on {reader.topic.value}, which channels.py does not declare")


def _written_by(channel: Channel, writer: str) -> list[str]:
    return [*channel.event_types, *_tombstone(channel)] + (["deadLetter"] if channel.topic in DEAD_LETTER_TOPICS else [])


def _tombstone(channel: Channel) -> list[str]:
    return ["tombstone"] if channel.tombstones else []


def _channel(channel: Channel) -> dict[str, Any]:
    name = channel.topic.value
    headers = "inboundHeaders" if OUTSIDE_WRITERS.intersection(channel.writers) else "eventHeaders"
    messages = {event_type: _event_message(event_type, channel, headers) for event_type in channel.event_types}
    if channel.tombstones:
        messages["tombstone"] = _tombstone_message(channel)
    if channel.topic in DEAD_LETTER_TOPICS:
        messages["deadLetter"] = _dead_letter_message(channel)
    policy = "compact" if channel.compacted else "delete"
    return {
        "address": "{prefix}." + name,
        "title": name,
        "description": f"{_topic_doc(channel.topic)}\n\nKey: {channel.key}. Cleanup policy: {policy}.",
        "parameters": {"prefix": {"description": "The environment's topic prefix (OUTGOING_TOPIC_PREFIX)."}},
        "messages": messages,
        "tags": [{"name": "public" if channel.public else "internal"}],
        "bindings": {"kafka": {"topicConfiguration": _topic_configuration(channel.topic, policy), "bindingVersion": KAFKA_BINDING}},
    }


def _topic_configuration(topic: Topic, policy: str) -> dict[str, Any]:
    """What the project creates the topic with, in the fields the Kafka binding knows (segment and lag settings it does not)."""
    created = topic_config(topic, replication=1)
    described: dict[str, Any] = {"cleanup.policy": [policy]}
    for key in ("retention.ms", "delete.retention.ms"):
        if key in created:
            described[key] = int(created[key])
    return described


def _topic_doc(topic: Topic) -> str:
    docs = {
        Topic.REGISTRATION_DLQ: "Registration's dead letters: what it could not or would not handle, with the reason.",
        Topic.MATCHING_DLQ: "Matching's dead letters: what it could not or would not handle, with the reason.",
        Topic.NOTIFICATIONS_DLQ: "Notifications' dead letters: what it could not or would not handle, with the reason.",
    }
    return docs.get(topic) or _attribute_docs().get(topic.name, topic.value)


@cache
def _attribute_docs() -> dict[str, str]:
    """The docstrings under each Topic member in topics.py, which the enum itself does not keep."""
    import ast
    import inspect

    from shared.contracts import topics

    found: dict[str, str] = {}
    body = next(n for n in ast.parse(inspect.getsource(topics)).body if isinstance(n, ast.ClassDef) and n.name == "Topic").body
    for assign, doc in itertools.pairwise(body):
        if isinstance(assign, ast.Assign) and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
            found[assign.targets[0].id] = str(doc.value.value)  # type: ignore[attr-defined]
    return found


def _key(channel: Channel) -> dict[str, Any]:
    return {"kafka": {"key": {"type": "string", "description": channel.key}, "bindingVersion": KAFKA_BINDING}}


def _event_message(event_type: str, channel: Channel, headers: str) -> dict[str, Any]:
    doc = (declared_event_types()[event_type].__doc__ or "").strip()
    message = {
        "name": event_type,
        "title": event_type,
        "contentType": CONTENT_TYPE,
        "headers": {"$ref": f"#/components/schemas/{headers}"},
        "payload": {"$ref": f"#/components/schemas/{event_type}"},
        "correlationId": {"location": f"$message.header#/{HEADER_CORRELATION_ID}"},
        "bindings": _key(channel),
    }
    return message | ({"summary": doc.splitlines()[0]} if doc else {})


def _tombstone_message(channel: Channel) -> dict[str, Any]:
    return {
        "name": "tombstone",
        "title": "tombstone",
        "summary": "A null value, no headers: the key's record is deleted at the next compaction, so forget it too.",
        "payload": {"type": "null"},
        "bindings": _key(channel),
    }


def _dead_letter_message(channel: Channel) -> dict[str, Any]:
    return {
        "name": "deadLetter",
        "title": "dead letter",
        "summary": "The original record's bytes, whole (or its first 64 KiB if it was larger), and why it was set aside.",
        "contentType": "application/octet-stream",
        "headers": {"$ref": "#/components/schemas/deadLetterHeaders"},
        "payload": {"type": "string", "description": "The original bytes, whatever they were."},
        "bindings": _key(channel),
    }


def _operation(action: str, party: str, channel: Channel, messages: list[str]) -> dict[str, Any]:
    name = channel.topic.value
    verb = "writes" if action == "send" else "reads"
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{name}"},
        "title": f"{party} {verb} {name}",
        "messages": [{"$ref": f"#/channels/{name}/messages/{m}"} for m in messages],
        "tags": [{"name": party}],
    }


UUID = {"type": "string", "format": "uuid"}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {"cloudEvent": _cloud_event(), **_headers()}
    for event_type in declared_event_types():
        schemas[event_type] = {
            "allOf": [
                {"$ref": "#/components/schemas/cloudEvent"},
                {
                    "properties": {
                        "type": {"const": event_type},
                        "dataschema": {"const": schema_uri(event_type)},
                        "data": {"$ref": f"{SCHEMAS_DIR}/{event_type}.json"},
                    }
                },
            ]
        }
    return schemas


def _cloud_event() -> dict[str, Any]:
    uuid = UUID
    return {
        "type": "object",
        "description": "A CloudEvents 1.0 event in structured JSON mode; correlationid and causationid are extensions.",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "dataschema",
            "correlationid",
            "data",
        ],
        "properties": {
            "specversion": {"const": SPEC_VERSION},
            "id": uuid | {"description": "Unique per event; replays carry the same id, so consumers deduplicate on it."},
            "source": {"type": "string", "format": "uri-reference", "examples": ["/outgoing/registration"]},
            "type": {"type": "string", "pattern": EVENT_TYPE_PATTERN, "description": "Versioned: the .vN suffix is the major version."},
            "subject": {"type": "string", "description": "What the event is about: a company id or a mission id."},
            "time": {"type": "string", "format": "date-time", "description": "UTC."},
            "datacontenttype": {"const": DATA_CONTENT_TYPE},
            "dataschema": {"type": "string", "format": "uri"},
            "correlationid": uuid | {"description": "The id of the first event of the chain this one belongs to."},
            "causationid": uuid | {"description": "The id of the event that caused this one; absent for a first event."},
            "data": {"type": "object"},
        },
    }


def _headers() -> dict[str, Any]:
    uuid = UUID
    return {
        "inboundHeaders": {
            "type": "object",
            "description": "What forms, operators and CRMs send: the CloudEvents content type; the other headers are optional.",
            "required": [HEADER_CONTENT_TYPE],
            "properties": {
                HEADER_CONTENT_TYPE: {"type": "string", "pattern": "^application/cloudevents\\+json"},
                HEADER_CORRELATION_ID: {"type": "string"},
            },
        },
        "eventHeaders": {
            "type": "object",
            "required": [HEADER_CONTENT_TYPE, HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_CORRELATION_ID],
            "properties": {
                HEADER_CONTENT_TYPE: {"const": CONTENT_TYPE},
                HEADER_EVENT_ID: uuid | {"description": "The event's id, for tools that read headers only."},
                HEADER_EVENT_TYPE: {"type": "string", "description": "The event's type."},
                HEADER_CORRELATION_ID: uuid | {"description": "The event's correlationid."},
            },
        },
        "deadLetterHeaders": {
            "type": "object",
            "required": [
                DLQ_REASON,
                DLQ_ERRORS,
                DLQ_SOURCE_TOPIC,
                DLQ_SOURCE_PARTITION,
                DLQ_SOURCE_OFFSET,
                DLQ_SERVICE,
                DLQ_GROUP,
                DLQ_TIME,
            ],
            "properties": {
                DLQ_REASON: {"type": "string", "description": "Why: undecodable, invalid, unsafe, refused, failing, parked..."},
                DLQ_ERRORS: {"type": "string", "description": "JSON list of the errors, without the offending values."},
                DLQ_SOURCE_TOPIC: {"type": "string"},
                DLQ_SOURCE_PARTITION: {"type": "string"},
                DLQ_SOURCE_OFFSET: {"type": "string"},
                DLQ_SERVICE: {"type": "string"},
                DLQ_GROUP: {"type": "string"},
                DLQ_TIME: {"type": "string", "format": "date-time"},
                DLQ_TRUNCATED: {"const": "true"},
                DLQ_ORIGINAL_SIZE: {"type": "string"},
                HEADER_CONTENT_TYPE: {"const": "application/octet-stream"},
                HEADER_CORRELATION_ID: {"type": "string", "description": "The original record's, when it had one."},
            },
        },
    }
