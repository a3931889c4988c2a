"""Failures reach the operator as one readable line and a fix, with a non-zero exit."""

from __future__ import annotations

from typer.testing import CliRunner

from deploy.local import infra
from outgoing_cli import dev
from outgoing_cli.main import app
from shared.settings import Settings

ENV = {"COLUMNS": "200"}


def test_invalid_settings_are_named() -> None:
    result = CliRunner().invoke(app, ["mission", "list"], env=ENV | {"OUTGOING_TOPIC_PARTITIONS": "many"})
    assert result.exit_code == 1
    assert "error: invalid settings: topic_partitions" in result.stderr


def test_an_unreachable_broker_is_reported_for_reads_too() -> None:
    result = CliRunner().invoke(app, ["--kafka", "127.0.0.1:1", "dlq", "list"], env=ENV)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "error: Kafka is not reachable at 127.0.0.1:1"


def test_replay_needs_offsets_or_all() -> None:
    result = CliRunner().invoke(app, ["--kafka", "127.0.0.1:1", "dlq", "replay", "registration"], env=ENV)
    assert result.exit_code == 1
    assert "--offset N" in result.stderr and "--all" in result.stderr


def test_plan_needs_exactly_one_source_of_missions() -> None:
    result = CliRunner().invoke(app, ["mission", "plan", "--edition-2020", "--id", "x-2021"], env=ENV)
    assert result.exit_code == 1
    assert "--edition-2020, --file PATH, or --id" in result.stderr


def test_an_unknown_zone_for_the_agenda_is_named() -> None:
    result = CliRunner().invoke(app, ["mission", "agenda", "india-2020", "--tz", "Europe/Milano"], env=ENV)
    assert result.exit_code == 1
    assert "unknown time zone 'Europe/Milano'" in result.stderr


def test_dev_up_reports_an_infra_problem_with_its_fix(monkeypatch) -> None:
    def broken(cfg: infra.Config) -> None:
        raise infra.InfraError("Java is missing: Kafka needs a Java 17 runtime", "apt-get install -y openjdk-17-jre-headless")

    monkeypatch.setattr(infra, "install", broken)
    monkeypatch.setattr(dev, "_exported", lambda env: None)
    result = CliRunner().invoke(app, ["dev", "up"], env=ENV)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: Java is missing: Kafka needs a Java 17 runtime",
        "  fix: apt-get install -y openjdk-17-jre-headless",
    ]


def test_dev_commands_point_infra_at_the_chosen_environment(monkeypatch) -> None:
    calls: list[tuple[str, infra.Config, bool]] = []
    monkeypatch.setattr(infra, "install", lambda cfg: calls.append(("install", cfg, False)))
    monkeypatch.setattr(infra, "up", lambda cfg, services=False: calls.append(("up", cfg, services)))
    monkeypatch.setattr(infra, "down", lambda cfg: calls.append(("down", cfg, False)))
    monkeypatch.setattr(dev, "_exported", lambda env: None)
    runner = CliRunner()
    assert (
        runner.invoke(app, ["--kafka", "127.0.0.1:19092", "--mongo-url", "mongodb://127.0.0.1:27999", "dev", "up"], env=ENV).exit_code == 0
    )
    assert runner.invoke(app, ["dev", "up", "--no-services"], env=ENV | {"OUTGOING_KAFKA_BOOTSTRAP": "127.0.0.1:9092"}).exit_code == 0
    assert runner.invoke(app, ["dev", "down"], env=ENV).exit_code == 0
    assert [(name, services) for name, _, services in calls] == [
        ("install", False),
        ("up", True),
        ("install", False),
        ("up", False),
        ("down", False),
    ]
    chosen, default = calls[1][1], calls[3][1]
    assert (chosen.kafka_port, chosen.kafka_controller_port, chosen.mongo_url) == (19092, 19093, "mongodb://127.0.0.1:27999")
    assert default.kafka_port == 9092


def test_status_without_a_broker_shows_the_processes_then_the_fix() -> None:
    result = CliRunner().invoke(app, ["--kafka", "127.0.0.1:1", "dev", "status"], env=ENV)
    assert result.exit_code == 1
    assert "not answering" in result.stdout and "registration" in result.stdout
    assert "error: Kafka is not reachable at 127.0.0.1:1" in result.stderr


def test_infra_config_follows_settings() -> None:
    cfg = dev.infra_config(Settings(kafka_bootstrap="10.0.0.5:29092", mongo_url="mongodb://db:27017"))
    assert (cfg.kafka_host, cfg.kafka_port, cfg.kafka_controller_port, cfg.mongo_url, cfg.mongo_url_explicit) == (
        "10.0.0.5",
        29092,
        29093,
        "mongodb://db:27017",
        True,
    )


def test_a_server_counts_as_healthy_when_it_answers() -> None:
    assert dev.healthy("running (pid 12), answering")
    assert dev.healthy("stopped, answering")
    assert dev.healthy("running (pid 7)")
    assert not dev.healthy("running (pid 12), not answering")
    assert not dev.healthy("stopped")
