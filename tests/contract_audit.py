"""Reads every record on every topic of an environment, as an outside consumer would, and lists
what breaks the CRM contract: the CloudEvents SDK must read it, its headers must agree with
it, its type must be one its topic is declared to carry, and its data must fit the committed
JSON Schema. Tombstones must be null with no headers; dead letters are left alone."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from cloudevents.core.bindings import kafka
from jsonschema import Draft202012Validator, FormatChecker

from outgoing_cli.contracts.files import SCHEMAS
from shared.contracts.catalog import declared_event_types
from shared.contracts.channels import BY_TOPIC
from shared.contracts.envelope import CONTENT_TYPE
from shared.contracts.topics import DEAD_LETTER_TOPICS, Topic, TopicNames
from shared.messaging import HEADER_CORRELATION_ID, HEADER_EVENT_ID, HEADER_EVENT_TYPE
from shared.settings import Settings
from tests.support import topic_records


@dataclass
class Audit:
    problems: list[str] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    """Event types (and ``tombstone:<topic>``) read, with how many of each."""
    records: int = 0


@cache
def _validator(event_type: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS / f"{event_type}.json").read_text()), format_checker=FormatChecker())


async def audit_topics(settings: Settings) -> Audit:
    audit, names = Audit(), TopicNames(settings.topic_prefix)
    for topic in Topic:
        if topic in DEAD_LETTER_TOPICS or topic is Topic.SMOKE:
            continue
        for record in await topic_records(settings, names(topic)):
            audit.records += 1
            where = f"{topic.value}@{record.partition}:{record.offset}"
            audit.problems += [f"{where}: {p}" for p in _record_problems(topic, record, audit)]
    return audit


def _record_problems(topic: Topic, record: Any, audit: Audit) -> list[str]:
    channel, headers = BY_TOPIC[topic], [(name, value) for name, value in record.headers]
    if record.value is None:
        audit.seen[f"tombstone:{topic.value}"] += 1
        return [] if channel.tombstones and not headers else [f"a tombstone where none belongs, or with headers {headers}"]
    names = [name for name, _ in headers]
    problems = [f"header {n!r} appears {names.count(n)} times" for n in sorted(set(names)) if names.count(n) > 1]
    problems += [f"empty header {name!r}" for name, value in headers if not value]
    values = {name: (value or b"").decode(errors="replace") for name, value in headers}
    try:
        event = kafka.from_kafka_event(kafka.KafkaMessage(headers=dict(headers), key=record.key, value=record.value))
    except Exception as error:  # noqa: BLE001 - whatever the SDK refuses is the finding
        return [*problems, f"the CloudEvents SDK refuses it: {error}"]
    attributes, event_type = event.get_attributes(), str(event.get_attributes()["type"])
    audit.seen[event_type] += 1
    outside = bool({"upstream-forms", "operators", "crms"} & set(channel.writers))
    content_type = values.get("content-type", "")
    if content_type != CONTENT_TYPE and not (outside and content_type.startswith("application/cloudevents+json")):
        problems.append(f"content-type {content_type!r}")
    if not outside:
        expected = {HEADER_EVENT_ID: attributes["id"], HEADER_EVENT_TYPE: event_type, HEADER_CORRELATION_ID: attributes["correlationid"]}
        problems += [f"header {k}={values.get(k)!r}, the event says {v!r}" for k, v in expected.items() if values.get(k) != v]
    if event_type not in channel.event_types:
        problems.append(f"{event_type} is not declared for {topic.value} (shared/contracts/channels.py)")
    if event_type in declared_event_types():
        problems += [f"data: {e.message}" for e in _validator(event_type).iter_errors(event.get_data())]
        try:
            declared_event_types()[event_type].model_validate_json(record.value)
        except ValueError as error:
            problems.append(f"our own decoder refuses it: {str(error)[:300]}")
    return problems
