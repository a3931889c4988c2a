"""Kafka over SASL_SSL with SCRAM-SHA-512 and ACLs, against a real broker (docs/security.md).

The broker is the configured one when it already serves the SASL_SSL listener
(``OUTGOING_KAFKA_SECURE=1 make test``); otherwise a secured broker of its own, started
through deploy/local/infra.py beside the plain one, in ``<run>/kafka-secure-tests``. Test
sessions running at once (pytest-xdist workers) share it under a file lock, and the last one
out stops it. One environment (topic prefix) per session, with its ACLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from pydantic import SecretStr

from deploy.local import infra, kafka_security
from outgoing_cli.kafka_read import read_topic
from outgoing_cli.publish import Outgoing, publish
from shared.contracts.topics import Topic, TopicNames
from shared.kafka import admin_client, delete_topics, ensure_topics
from shared.messaging import GROUP_TOPIC_SEPARATOR, create_broker, group_id
from shared.settings import Settings

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Secured:
    cfg: infra.Config
    prefix: str

    def settings(self, principal: str, **fields: Any) -> Settings:
        """A client of this session's environment, logging in as ``principal`` over SASL_SSL."""
        return kafka_security.client_settings(
            self.cfg, principal, topic_prefix=self.prefix, topic_partitions=1, graceful_timeout_s=5.0, instance_id=self.prefix, **fields
        )

    @property
    def plaintext(self) -> Settings:
        """The plaintext listener: ANONYMOUS, a super user (the local admin side)."""
        return _plaintext(f"{self.cfg.kafka_host}:{self.cfg.kafka_port}", self.prefix)

    def topic(self, topic: Topic) -> str:
        return TopicNames(self.prefix)(topic)


def _plaintext(bootstrap: str, prefix: str) -> Settings:
    """PLAINTEXT settings, whatever OUTGOING_KAFKA_* the shell exports (model_validate reads no environment)."""
    return Settings.model_validate({"kafka_bootstrap": bootstrap, "topic_prefix": prefix, "topic_partitions": 1})


@pytest.fixture(scope="session")
async def secured() -> AsyncIterator[Secured]:
    """This session's environment on the secured broker, its ACLs set and its topics made by the operator."""
    prefix = f"sec{uuid.uuid4().hex[:8]}"
    main = replace(infra.Config.from_env(), topic_prefix=prefix)
    configured = main.kafka_secure_port is not None and await asyncio.to_thread(kafka_security.listener_ready, main)
    with contextlib.ExitStack() as stack:
        cfg, started = (main, False) if configured else await asyncio.to_thread(stack.enter_context, _beside(main))
        env = Secured(cfg, prefix)
        if not started:  # a broker started now has this environment's ACLs already
            await asyncio.to_thread(kafka_security.apply, cfg, [prefix])
        await ensure_topics(env.settings("operator"))  # the operator may create the environment's topics
        yield env
        await delete_topics(env.plaintext, TopicNames(prefix).all())
        if configured:  # the configured broker keeps no ACLs of a finished test session
            await asyncio.to_thread(kafka_security.apply, cfg, [], [prefix])


async def test_a_service_round_trips_over_sasl_ssl_and_the_operator_reads_it(secured: Secured) -> None:
    settings = secured.settings("registration")
    topic = secured.topic(Topic.REGISTRATION_COMMANDS)
    broker = create_broker(settings, "registration")
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @broker.subscriber(topic, group_id=f"{group_id(settings, 'registration')}{GROUP_TOPIC_SEPARATOR}{topic}", auto_offset_reset="earliest")
    async def on_command(body: dict[str, Any]) -> None:
        await received.put(body)

    async with broker:
        await broker.start()
        await broker.publish({"n": 1}, topic, key=b"company-1")
        assert await asyncio.wait_for(received.get(), 30) == {"n": 1}
    records = await read_topic(secured.settings("operator"), topic)  # the CLI's reader, as the operator
    assert [json.loads(r.value or b"") for r in records] == [{"n": 1}]


async def test_the_operator_publishes_its_commands_over_sasl_ssl(secured: Secured) -> None:
    topic = secured.topic(Topic.OPERATOR_COMMANDS)
    sent = await publish(secured.settings("operator"), [Outgoing(topic, b'{"op": 1}', b"mission-1")])
    assert sent == 1
    assert [r.value for r in await read_topic(secured.settings("notifications"), topic)] == [b'{"op": 1}']


async def test_a_service_may_not_write_another_services_topic(secured: Secured) -> None:
    broker = create_broker(secured.settings("registration"), "registration")
    async with broker:
        await broker.start()
        with pytest.raises(TopicAuthorizationFailedError):
            await broker.publish(b"forged", secured.topic(Topic.MATCHING_EVENTS), key=b"mission-1")
        await broker.publish(b"{}", secured.topic(Topic.REGISTRATION_EVENTS), key=b"company-1")  # its own: fine


async def test_a_wrong_password_is_refused(secured: Secured, caplog: pytest.LogCaptureFixture) -> None:
    wrong = secured.settings("registration", kafka_password=SecretStr("not-the-password"))
    with pytest.raises(KafkaConnectionError):
        async with admin_client(wrong, request_timeout_ms=5000) as admin:
            await admin.list_topics()
    assert "SaslAuthenticationFailed" in caplog.text or "invalid credentials" in caplog.text
    assert "not-the-password" not in caplog.text


async def test_plaintext_to_the_tls_port_fails(secured: Secured, caplog: pytest.LogCaptureFixture) -> None:
    plain = _plaintext(kafka_security.secure_address(secured.cfg), secured.prefix)
    with pytest.raises(KafkaConnectionError):
        async with admin_client(plain, request_timeout_ms=5000) as admin:
            await admin.list_topics()
    assert "closed" in caplog.text  # the listener is there (not refused): it drops what is not TLS


async def test_a_client_trusting_another_ca_is_refused(secured: Secured, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(KafkaConnectionError):
        async with admin_client(secured.settings("operator", kafka_ca_file=str(other)), request_timeout_ms=5000) as admin:
            await admin.list_topics()
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


# ---------------------------------------------------------------- a secured broker beside the plain one


@contextlib.contextmanager
def _beside(main: infra.Config) -> Iterator[tuple[infra.Config, bool]]:
    """The secured broker and whether this call started it (with ``main.topic_prefix``'s ACLs)."""
    home = main.run_dir / infra.SECURED_TEST_BROKER
    me = home / "users" / str(os.getpid())
    with _locked(home):
        cfg = _config(main, home)
        started = infra.start_kafka(cfg) == "started"
        me.touch()
    try:
        yield cfg, started
    finally:
        with _locked(home):
            me.unlink(missing_ok=True)
            if not any(_alive(int(user.name)) for user in (home / "users").iterdir()):
                infra.stop(cfg, "kafka")
                shutil.rmtree(home / "kafka" / "data", ignore_errors=True)  # topics and ACLs of finished sessions


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    (home / "users").mkdir(parents=True, exist_ok=True)
    with (home / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _config(main: infra.Config, home: Path) -> infra.Config:
    """The running broker's ports, or free ones for a new start."""
    ports_file = home / "ports.json"
    if infra.running_pid(replace(main, run_dir=home), "kafka") and ports_file.exists():
        ports = json.loads(ports_file.read_text())
    else:
        picked: set[int] = set()
        while len(picked) < 3:
            picked.add(infra.free_port())
        ports = dict(zip(("kafka", "controller", "secure"), sorted(picked), strict=True))
        ports_file.write_text(json.dumps(ports))
    return replace(
        main,
        run_dir=home,
        kafka_host="127.0.0.1",
        kafka_port=ports["kafka"],
        kafka_controller_port=ports["controller"],
        kafka_secure_port=ports["secure"],
        kafka_heap="384m",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
