"""Credentials are never printed: settings' repr, str and dumps, the local infrastructure's
messages and the CLI's errors show a database URL with its password masked."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
from pydantic import SecretStr

from deploy.local import infra
from outgoing_cli.console import CliError, fail
from shared.settings import Settings
from shared.urls import redact_url

PASSWORD = "s3cr3t-P4ss"
URLS = [
    (
        f"mongodb://app:{PASSWORD}@db.example:27017/outgoing?authSource=admin",
        "mongodb://app:****@db.example:27017/outgoing?authSource=admin",
    ),
    (f"mongodb+srv://app:{PASSWORD}@cluster0.example.net/?tls=true", "mongodb+srv://app:****@cluster0.example.net/?tls=true"),
    (f"mongodb://app:{PASSWORD}@h1:27017,h2:27017/?replicaSet=rs0", "mongodb://app:****@h1:27017,h2:27017/?replicaSet=rs0"),
    ("mongodb://app:p%40ss%2Fw0rd@db.example/", "mongodb://app:****@db.example/"),
    ("mongodb://app:p@ss/w0rd@db.example/", "mongodb://app:****@db.example/"),
    ("mongodb://mario%40rossi.example:pw@db.example/", "mongodb://****:****@db.example/"),
    ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017"),
    (
        "mongodb://CN%3Dclient@db.example/?authMechanism=MONGODB-X509&tls=true",
        "mongodb://CN%3Dclient@db.example/?authMechanism=MONGODB-X509&tls=true",
    ),
    ("https://forms.example/followup?to=a@b.example", "https://forms.example/followup?to=a@b.example"),
]


@pytest.mark.parametrize(("url", "shown"), URLS)
def test_redact_url_masks_the_password_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(f"the server at {url} does not answer") == f"the server at {shown} does not answer"


def _secret_settings() -> Settings:
    return Settings(
        mongo_url=f"mongodb://app:{PASSWORD}@db.example:27017/?authSource=admin&tls=true",
        smtp_username="mailer",
        smtp_password=SecretStr(PASSWORD + "-smtp"),
        smtp_starttls=True,
    )


def test_settings_never_show_a_secret() -> None:
    settings = _secret_settings()
    for shown in (
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        str(settings.model_dump()),
        str(settings.model_dump(mode="json")),
    ):
        assert PASSWORD not in shown
    assert "mongodb://app:****@db.example:27017/?authSource=admin&tls=true" in repr(settings)
    assert settings.mongo_url.startswith(f"mongodb://app:{PASSWORD}@"), "the services still connect with the real URL"
    assert settings.model_copy(update={"mongo_db": "x"}).mongo_url == settings.mongo_url


def test_every_secret_field_is_a_secret_str() -> None:
    """A password, secret or token added later (Kafka's, say) must be SecretStr too."""
    hints = typing.get_type_hints(Settings)
    secrets = [name for name in Settings.model_fields if any(word in name for word in ("password", "secret", "token", "api_key"))]
    assert "smtp_password" in secrets
    for name in secrets:
        assert SecretStr in typing.get_args(hints[name]) or hints[name] is SecretStr, f"{name} must be SecretStr"


def _config(url: str, run_dir: Path) -> infra.Config:
    return dataclasses.replace(infra.Config.from_env(), mongo_url=url, mongo_url_explicit=True, run_dir=run_dir)


def test_infra_messages_never_show_the_database_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg = _config(f"mongodb://app:{PASSWORD}@db.example:27017/", tmp_path)
    monkeypatch.setattr(infra, "running_pid", lambda *_: None)
    monkeypatch.setattr(infra, "mongo_ready", lambda _cfg: True)
    reused = infra.start_mongo(cfg)
    assert PASSWORD not in reused and "app:****@db.example" in reused

    monkeypatch.setattr(infra, "mongo_ready", lambda _cfg: False)
    with pytest.raises(infra.InfraError) as refused:
        infra.start_mongo(cfg)
    assert PASSWORD not in str(refused.value) and "app:****@db.example" in refused.value.problem

    monkeypatch.setattr(infra, "start_kafka", lambda _cfg: "already running")
    monkeypatch.setattr(infra, "start_mongo", lambda _cfg: "already running")
    infra.up(cfg, services=False)
    printed = capsys.readouterr().out
    assert "mongo: already running (mongodb://app:****@db.example:27017/" in printed and PASSWORD not in printed


def test_infra_waits_for_the_database_under_a_masked_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = _config(f"mongodb://app:{PASSWORD}@127.0.0.1:27999/", tmp_path)
    waited: list[str] = []
    monkeypatch.setattr(infra, "running_pid", lambda *_: None)
    monkeypatch.setattr(infra, "mongo_ready", lambda _cfg: False)
    monkeypatch.setattr(infra, "_require_free", lambda *_: None)
    monkeypatch.setattr(infra, "_spawn", lambda *_args, **_kwargs: None)
    monkeypatch.setattr(infra, "install_mongo_java_server", lambda _cfg: tmp_path)
    monkeypatch.setattr(infra, "_java", lambda: "java")
    monkeypatch.setattr(infra.shutil, "which", lambda _name: None)
    monkeypatch.setattr(infra, "_wait", lambda _check, what, *_: waited.append(what))
    assert infra.start_mongo(cfg) == "started"
    assert waited == ["the MongoDB-wire server at mongodb://app:****@127.0.0.1:27999/"]


def test_cli_errors_never_show_the_database_password(capsys: pytest.CaptureFixture[str]) -> None:
    fail(
        CliError(
            f"the MongoDB server at mongodb://app:{PASSWORD}@db.example/ does not answer", f"check mongodb://app:{PASSWORD}@db.example/"
        )
    )
    printed = capsys.readouterr().err
    assert PASSWORD not in printed and "mongodb://app:****@db.example/" in printed
