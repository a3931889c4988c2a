"""Kafka plumbing shared by the services: topic creation, the admin client, and how every client connects.

Kafka's and FastStream's defaults lose messages (the consumer acks before processing,
the producer is not idempotent), so every broker and subscriber here sets delivery
semantics on purpose.

Every Kafka client the project builds (the services' brokers, the admin client, the CLI's
readers and producers, the benchmarks, the tests' own clients) takes its connection
security from ``client_security`` or ``broker_security``: PLAINTEXT by default, or SCRAM
over TLS (docs/security.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from ssl import SSLContext
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLScram256, SASLScram512

from shared.contracts.topics import COMPACTED_TOPICS, DEAD_LETTER_TOPICS, Topic, TopicNames
from shared.settings import Settings

PERSONAL_DATA_RETENTION_MS = 7 * 24 * 3_600_000
"""How long topics whose records hold contact details keep them: signup forms, registration's
commands and the dead letters. An erasure cannot reach into them; this bounds it."""
CONTACTS_COMPACTION = {
    "segment.ms": str(3_600_000),
    "max.compaction.lag.ms": str(24 * 3_600_000),
    "delete.retention.ms": str(24 * 3_600_000),
    "min.cleanable.dirty.ratio": "0.01",
}
"""A tombstoned contact is compacted away within a day, and the tombstone itself a day later:
without these, the active segment (7 days by default) keeps the contact readable."""


def ssl_context(settings: Settings) -> SSLContext:
    """Verifies the broker's certificate and host name against ``kafka_ca_file``, or the system's CAs."""
    context: SSLContext = create_ssl_context(cafile=settings.kafka_ca_file)
    return context


def client_security(settings: Settings) -> dict[str, Any]:
    """aiokafka's connection arguments for the configured protocol; none for PLAINTEXT, so its defaults stay."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return {}
    username, password = _credentials(settings)
    return {
        "security_protocol": "SASL_SSL",
        "ssl_context": ssl_context(settings),
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


def broker_security(settings: Settings) -> BaseSecurity | None:
    """The same, as FastStream's ``KafkaBroker(security=...)`` takes it (it derives SASL_SSL from the SSL context)."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    scram = SASLScram512 if settings.kafka_sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
    return scram(*_credentials(settings), ssl_context=ssl_context(settings))


def _credentials(settings: Settings) -> tuple[str, str]:
    if not settings.kafka_username or settings.kafka_password is None:  # the settings' validator already refuses this
        raise ValueError("SASL_SSL needs OUTGOING_KAFKA_USERNAME and OUTGOING_KAFKA_PASSWORD")
    return settings.kafka_username, settings.kafka_password.get_secret_value()


def topic_config(topic: Topic, replication: int) -> dict[str, str]:
    """What each topic is created with. ``min.insync.replicas`` makes ``acks=all`` mean two copies wherever there are two."""
    config = {"min.insync.replicas": str(min(2, replication))}
    if topic in COMPACTED_TOPICS:
        config["cleanup.policy"] = "compact"
    if topic is Topic.CONTACTS:
        config |= CONTACTS_COMPACTION
    if topic in (Topic.SIGNUP_FORMS, Topic.REGISTRATION_COMMANDS, *DEAD_LETTER_TOPICS):
        config["retention.ms"] = str(PERSONAL_DATA_RETENTION_MS)
    return config


async def ensure_topics(settings: Settings, topics: Iterable[Topic] | None = None, partitions: int | None = None) -> list[str]:
    """Create the missing topics and return their names; existing topics are left alone."""
    names = TopicNames(settings.topic_prefix)
    wanted = {names(t): t for t in (topics if topics is not None else Topic)}
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            new = [
                NewTopic(
                    name,
                    partitions or settings.topic_partitions,
                    settings.topic_replication,
                    topic_configs=topic_config(wanted[name], settings.topic_replication),
                )
                for name in missing
            ]
            response = await admin.create_topics(new, timeout_ms=30_000)
            for name, code, *_ in getattr(response, "topic_errors", []):
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"could not create topic {name}: error code {code}")
        await _wait_for_leaders(admin, list(wanted))
        return missing


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float = 30.0) -> None:
    """A created topic is usable only once every partition has a leader; until then
    producers and consumers get NotLeaderForPartition and a fresh consumer can miss data."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        waiting = [
            t["topic"]
            for t in described
            if t["error_code"] != 0 or not t["partitions"] or any(p["error_code"] != 0 or p["leader"] < 0 for p in t["partitions"])
        ]
        if not waiting:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"topics without partition leaders after {timeout_s:.0f}s: {', '.join(waiting)}")
        await asyncio.sleep(0.2)


async def delete_topics(settings: Settings, names: list[str]) -> None:
    async with admin_client(settings) as admin:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed, timeout_ms=30_000)


@contextlib.asynccontextmanager
async def admin_client(settings: Settings, role: str = "admin", request_timeout_ms: int = 40_000) -> AsyncIterator[AIOKafkaAdminClient]:
    """Started inside the ``try``: a broker that cannot be reached still gets its client closed."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.kafka_client_id}-{role}",
        request_timeout_ms=request_timeout_ms,
        **client_security(settings),
    )
    try:
        await admin.start()
        yield admin
    finally:
        await admin.close()
