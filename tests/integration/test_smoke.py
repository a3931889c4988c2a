"""The foundation works against the real servers: broker round trip, unique index, service process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import pytest
import structlog
from pymongo.errors import DuplicateKeyError

from shared.contracts.envelope import Contract, Envelope
from shared.contracts.topics import Topic
from shared.messaging import DLQ_ERRORS, DLQ_REASON, DLQ_SOURCE_OFFSET, DLQ_SOURCE_TOPIC, consumer, publish_event
from shared.mongo import IndexSpec, open_database
from shared.service import Runtime, build_service
from shared.settings import Settings
from tests.support import read_topic, running

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


class Ping(Contract):
    text: str
    n: int


class PingSent(Envelope[Ping]):
    type: Literal["smoke.ping_sent.v1"] = "smoke.ping_sent.v1"


seen_log_context: list[dict[str, object]] = []


def ping_service(settings: Settings, received: asyncio.Queue[PingSent]):
    def register(runtime: Runtime) -> list:
        @consumer(runtime.broker, runtime.topics(Topic.SMOKE), runtime.group_id)
        async def on_ping(event: PingSent) -> None:
            seen_log_context.append(structlog.contextvars.get_contextvars())
            await received.put(event)

        return []

    return build_service("smoke", settings, Topic.REGISTRATION_DLQ, register=register, configure_logs=False)


async def test_envelope_round_trips_through_the_real_broker_intact(settings: Settings) -> None:
    received: asyncio.Queue[PingSent] = asyncio.Queue()
    app, runtime = ping_service(settings, received)
    sent = PingSent.new(source="tests", subject="ping-1", data=Ping(text="ciao, Milano – 東京", n=7))
    async with running(app):
        await publish_event(runtime.broker, runtime.topics(Topic.SMOKE), sent)
        got = await asyncio.wait_for(received.get(), 30)
    assert got == sent
    assert got.time.tzinfo is not None and got.time.utcoffset().total_seconds() == 0
    bound = seen_log_context[-1]
    assert bound["event_id"] == str(sent.id) and bound["correlation_id"] == str(sent.correlation_id)
    assert bound["topic"] == runtime.topics(Topic.SMOKE) and isinstance(bound["partition"], int) and bound["offset"] == 0


async def test_invalid_bytes_go_to_the_dead_letter_topic_and_the_consumer_survives(settings: Settings) -> None:
    received: asyncio.Queue[PingSent] = asyncio.Queue()
    app, runtime = ping_service(settings, received)
    topic = runtime.topics(Topic.SMOKE)
    good = PingSent.new(source="tests", subject="k", data=Ping(text="after", n=1))
    async with running(app):
        await runtime.broker.publish(b"{not json", topic, key=b"k")
        await runtime.broker.publish(b'{"id": "x"}', topic, key=b"k")
        await publish_event(runtime.broker, topic, good)
        assert await asyncio.wait_for(received.get(), 30) == good
    dead = await read_topic(settings, runtime.topics(Topic.REGISTRATION_DLQ), 2)
    assert [r.value for r in dead] == [b"{not json", b'{"id": "x"}']
    headers = [{k: v.decode() for k, v in r.headers} for r in dead]
    assert all(h[DLQ_REASON] == "invalid" and h[DLQ_SOURCE_TOPIC] == topic for h in headers)
    assert [int(h[DLQ_SOURCE_OFFSET]) for h in headers] == [0, 1]
    assert "json_invalid" in headers[0][DLQ_ERRORS]
    assert "missing" in headers[1][DLQ_ERRORS]


async def test_unique_index_violation_surfaces_as_duplicate_key_error(settings: Settings) -> None:
    client, db = await open_database(settings, [IndexSpec("things", [("vat", 1)], unique=True)])
    try:
        await db.things.insert_one({"vat": "12345678903"})
        with pytest.raises(DuplicateKeyError):
            await db.things.insert_one({"vat": "12345678903"})
        assert await db.things.count_documents({}) == 1
    finally:
        await client.close()


@pytest.mark.parametrize("service", ["registration", "matching", "notifications"])
def test_service_process_reports_ready_and_stops_on_sigterm(settings: Settings, service: str) -> None:
    env = {
        **os.environ,
        "OUTGOING_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "OUTGOING_MONGO_URL": settings.mongo_url,
        "OUTGOING_MONGO_DB": settings.mongo_db,
        "OUTGOING_TOPIC_PREFIX": settings.topic_prefix,
        "OUTGOING_INSTANCE_ID": f"{service}-smoke",
        "OUTGOING_LINK_SECRET": settings.link_secret.get_secret_value() if settings.link_secret else "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        ready = None
        while ready is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            entry = json.loads(line)
            if entry.get("event") == "ready":
                ready = entry
        assert ready is not None, "".join(lines)
        assert ready["service"] == service and ready["instance"] == f"{service}-smoke"
        proc.send_signal(signal.SIGTERM)
        try:
            # Consumers leaving their groups wait for any rebalance in flight; on a loaded
            # machine that has taken longer than the graceful timeout alone.
            rest, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
            raise AssertionError(f"{service} did not stop within 90 s of SIGTERM; its last output:\n{rest[-4000:]}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    events = [json.loads(line)["event"] for line in rest.splitlines() if line.startswith("{")]
    assert "stopped" in events
