"""Session fixtures: the real Kafka broker and MongoDB-wire server, shared by all tests.

They are started once per session (or reused when already running, e.g. after
`make up`), and stopped at the end only if this session started them. Under pytest-xdist
(`make test` runs `-n 4`) the controlling process starts them before the workers and
stops them after. Each test gets its own topic prefix and database, both removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr

from deploy.local import infra
from shared.kafka import delete_topics, ensure_topics
from shared.logging import configure_logging
from shared.mongo import create_client
from shared.settings import Settings

SERVICES = ("registration", "matching", "notifications")


@pytest.fixture(scope="session", autouse=True)
def structured_logs() -> None:
    """The services' own logging set-up (redaction, no traceback locals), console-rendered."""
    configure_logging("tests", "INFO", json_output=False)


def _controls_workers(config: pytest.Config) -> bool:
    """The controlling process of a pytest-xdist run (``-n N``), as opposed to its workers."""
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", None))


def pytest_configure(config: pytest.Config) -> None:
    """With ``-n N``, the servers start once here, before the workers, and stop at the end."""
    if not _controls_workers(config):
        return
    cfg = infra.Config.from_env()
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    before = {name: infra.running_pid(cfg, name) for name in ("kafka", "mongo")}
    infra.start_kafka(cfg)
    infra.start_mongo(cfg)
    config.stash[_STARTED] = [name for name, pid in before.items() if pid is None]


def pytest_unconfigure(config: pytest.Config) -> None:
    if _controls_workers(config):
        cfg = infra.Config.from_env()
        for name in config.stash.get(_STARTED, []):
            infra.stop(cfg, name)


_STARTED = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def real_servers() -> Iterator[infra.Config]:
    cfg = infra.Config.from_env()
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    before = {name: infra.running_pid(cfg, name) for name in ("kafka", "mongo")}
    infra.start_kafka(cfg)
    infra.start_mongo(cfg)
    yield cfg
    for name, pid in before.items():
        if pid is None:
            infra.stop(cfg, name)


@pytest.fixture
def unique_name() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def settings(real_servers: infra.Config, unique_name: str) -> AsyncIterator[Settings]:
    """Settings isolated to this test: its own topics and its own database."""
    cfg = real_servers
    test_settings = Settings(
        kafka_bootstrap=f"{cfg.kafka_host}:{cfg.kafka_port}",
        # The plaintext listener, whatever OUTGOING_KAFKA_* the shell exports: tests/integration/test_kafka_security.py covers SASL_SSL.
        kafka_security_protocol="PLAINTEXT",
        kafka_username=None,
        kafka_password=None,
        mongo_url=cfg.mongo_url,
        topic_prefix=unique_name,
        mongo_db=unique_name,
        topic_partitions=2,
        graceful_timeout_s=5.0,
        instance_id=unique_name,
        timer_max_idle_s=0.2,
        link_secret=SecretStr(f"link-secret-of-{unique_name}"),
    )
    created = await ensure_topics(test_settings)
    yield test_settings
    await delete_topics(test_settings, created)
    client = create_client(test_settings)
    for name in (unique_name, *(test_settings.database_for(service) for service in SERVICES)):
        await client.drop_database(name)
    await client.close()
