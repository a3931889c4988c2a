"""The local-infrastructure script names the problem and the fix for a bad setup."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from deploy.local import infra


@pytest.fixture
def cfg(tmp_path: Path) -> infra.Config:
    return replace(infra.Config.from_env(), cache_dir=tmp_path / "cache", run_dir=tmp_path / "run", ready_timeout=1.0)


def test_missing_java_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infra.shutil, "which", lambda name: None)
    with pytest.raises(infra.InfraError) as error:
        infra._java()
    assert "Java is missing" in error.value.problem and "apt-get install -y openjdk-17-jre-headless" in error.value.fix


def test_a_taken_port_names_the_port_and_the_variable() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(infra.InfraError) as error:
            infra._require_free("127.0.0.1", port, "Kafka", "OUTGOING_KAFKA_BOOTSTRAP")
    assert f"port {port}" in error.value.problem and "already taken" in error.value.problem
    assert "OUTGOING_KAFKA_BOOTSTRAP" in error.value.fix


def test_an_unreachable_registry_is_called_that(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(infra.InfraError) as error:
        infra._run(
            ["sh", "-c", "echo 'Could not transfer artifact: connection refused' >&2; exit 1"], "resolving the Kafka jars", "make install"
        )
    assert "registry could not be reached" in error.value.problem and error.value.fix == "make install"


def test_a_server_that_never_becomes_ready_times_out_with_its_log(cfg: infra.Config, tmp_path: Path) -> None:
    cfg.run_dir.mkdir(parents=True)
    infra._spawn(cfg, "sleeper", ["sleep", "30"], marker="sleep 30")
    try:
        with pytest.raises(infra.InfraError) as error:
            infra._wait(lambda: False, "the sleeper", cfg, tmp_path / "sleeper.log", "sleeper")
        assert "did not become ready within 1 seconds" in error.value.problem and "OUTGOING_READY_TIMEOUT" in error.value.fix
    finally:
        assert infra.stop(cfg, "sleeper", grace=5)


def test_stop_leaves_alone_a_process_whose_pid_was_reused(cfg: infra.Config) -> None:
    cfg.run_dir.mkdir(parents=True)
    infra._spawn(cfg, "sleeper", ["sleep", "30"], marker="sleep 30")
    record = infra._pid_file(cfg, "sleeper").read_text().replace("sleep 30", "something-else")
    infra._pid_file(cfg, "sleeper").write_text(record)
    assert infra.running_pid(cfg, "sleeper") is None and not infra.stop(cfg, "sleeper")
