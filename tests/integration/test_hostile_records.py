"""Records no upstream form should send, produced as an outside client (kcat) would.

Whatever the bytes, size, nesting or headers, the consumer dead-letters the record with a
reason and moves on: a valid signup sent after them, with the same key and so on the same
partition, is still registered.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts.topics import Topic
from shared.kafka import admin_client
from shared.messaging import (
    DLQ_ORIGINAL_SIZE,
    DLQ_REASON,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_TOPIC,
    DLQ_TRUNCATED,
    DLQ_TRUNCATED_BODY,
    GROUP_TOPIC_SEPARATOR,
)
from shared.settings import Settings
from tests.factories import lombard, signup, valid_partita_iva
from tests.integration.test_registration import Harness, service  # noqa: F401  (the running service fixture)
from tests.support import eventually, topic_records

pytestmark = pytest.mark.integration

KEY = b"one-form-session"
NEAR_LIMIT = 1_040_000
"""Under the broker's 1 MiB record limit, but too large to dead-letter with the DLQ headers on top."""

HOSTILE: list[tuple[str, bytes, list[tuple[str, bytes | None]]]] = [
    ("array nested 5,000 deep, no headers", b"[" * 5000 + b"]" * 5000, []),
    ("object nested 3,000 deep", b'{"a":' * 3000 + b"1" + b"}" * 3000, []),
    ("invalid UTF-8 with NUL", b"\xff\xfe\x00{\x00garbage\r\n", []),
    ("empty value", b"", []),
    ("a JSON scalar", b"42", []),
    ("duplicated keys", b'{"type":"signup.submitted.v1","type":"x","id":"1","id":2}', []),
    ("CR/LF and control characters in strings", json.dumps({"id": "a\r\nb\x07", "type": "signup.submitted.v1\r\n"}).encode(), []),
    ("numbers out of range", b'{"id": 1e999999, "time": -99999999999999999999999999999, "data": {"x": 1e-99999}}', []),
    (
        "garbage header values",
        b'{"not": "an event"}',
        [("x-event-id", b"\xff\xfe\xfd"), ("x-event-type", None), ("correlation_id", b"c" * 10_000)],
    ),
    ("a 100 KB type tag, quoted back by the validation error", b'{"type":"' + b"x" * 100_000 + b'","id":"1"}', []),
    ("a huge string near the size limit", b'{"id":"' + b"a" * (NEAR_LIMIT - 10) + b'"}', []),
]


async def produce(settings: Settings, topic: str, records: list[tuple[bytes, list[tuple[str, bytes | None]]]]) -> list[int]:
    """A plain producer, like kcat: no idempotence, no project code; returns the offsets."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, max_request_size=2 * 1024 * 1024, acks="all")
    await producer.start()
    try:
        offsets = []
        for value, headers in records:
            sent = await producer.send_and_wait(topic, value, key=KEY, headers=headers)
            offsets.append(sent.offset)
        return offsets
    finally:
        await producer.stop()


async def test_no_record_stalls_the_signup_consumer(service: Harness) -> None:  # noqa: F811
    valid = signup(lombard(company_name="Dopo Tutto S.r.l.", partita_iva=valid_partita_iva("0555555555")))
    topic = service.topics(Topic.SIGNUP_FORMS)
    offsets = await produce(service.settings, topic, [(value, headers) for _, value, headers in HOSTILE] + [(valid.to_bytes(), [])])

    async def registered() -> bool:
        events = await service.events()
        return any(e["type"] == "enrollment.confirmed.v1" and e.get("causationid") == str(valid.id) for e in events)

    await eventually(registered, 90)

    async def all_dead_lettered() -> list[Any] | None:
        dead = [
            r
            for r in await topic_records(service.settings, service.topics(Topic.REGISTRATION_DLQ))
            if _headers(r).get(DLQ_SOURCE_TOPIC) == topic
        ]
        return dead if len(dead) >= len(HOSTILE) else None

    dead = await eventually(all_dead_lettered, 30)
    by_offset = {int(_headers(r)[DLQ_SOURCE_OFFSET]): r for r in dead}
    assert sorted(by_offset) == offsets[: len(HOSTILE)], "each hostile record dead-lettered once, the valid one not at all"
    for (name, value, _), offset in zip(HOSTILE, offsets, strict=False):
        record, headers = by_offset[offset], _headers(by_offset[offset])
        assert headers[DLQ_REASON], name
        if len(value) > DLQ_TRUNCATED_BODY * 4:
            assert headers[DLQ_TRUNCATED] == "true" and int(headers[DLQ_ORIGINAL_SIZE]) == len(value), name
            assert record.value == value[:DLQ_TRUNCATED_BODY], f"{name}: the reference keeps the beginning of the body"
        else:
            assert (record.value or b"") == value, f"{name}: the original bytes, unchanged"
            assert DLQ_TRUNCATED not in headers


def _headers(record: Any) -> dict[str, str]:
    return {k: (v or b"").decode(errors="replace") for k, v in record.headers or ()}


async def test_a_valid_signup_with_garbage_header_values_is_registered_and_committed(service: Harness) -> None:  # noqa: F811
    """Header values that are not UTF-8 make the parser copy the record; the copy must still
    commit through the consumer that fetched it (a fuzzer find: the offset stayed behind)."""
    valid = signup(lombard(company_name="Intestazioni Strane S.r.l.", partita_iva=valid_partita_iva("0666666666")))
    topic = service.topics(Topic.SIGNUP_FORMS)
    garbage = [("x-event-id", b"\xff\xfe\xfd"), ("x-event-type", None), ("correlation_id", b"c" * 10_000)]
    [offset] = await produce(service.settings, topic, [(valid.to_bytes(), garbage)])

    async def registered() -> bool:
        return any(e["type"] == "enrollment.confirmed.v1" and e.get("causationid") == str(valid.id) for e in await service.events())

    await eventually(registered, 60)
    group = f"{service.settings.topic_prefix}.registration{GROUP_TOPIC_SEPARATOR}{topic}"

    async def committed_past_it() -> bool:
        async with admin_client(service.settings) as admin:
            offsets = await admin.list_consumer_group_offsets(group)
        return any(tp.topic == topic and meta.offset > offset for tp, meta in offsets.items())

    await eventually(committed_past_it, 30)
