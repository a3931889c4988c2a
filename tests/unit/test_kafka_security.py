"""Kafka security without a broker: who may do what, how clients connect, the secured listener's configuration."""

from __future__ import annotations

import ssl
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import trustme
from faststream.security import SASLScram512
from pydantic import ValidationError

from deploy.local import infra, kafka_security
from deploy.local.kafka_acls import OPERATOR, SERVICES, Acl, acls, scope, service_reads
from shared.contracts.channels import CHANNELS
from shared.contracts.topics import Topic, TopicNames
from shared.kafka import broker_security, client_security
from shared.messaging import GROUP_TOPIC_SEPARATOR, group_id
from shared.settings import Settings

PREFIX = "env"
PASSWORD = "s3cret-Kafka-passw0rd"
names = TopicNames(PREFIX)


@pytest.fixture(scope="module")
def entries() -> list[Acl]:
    return acls(PREFIX)


def allowed(entries: list[Acl], principal: str, operation: str, topic: Topic) -> bool:
    name = names(topic)
    return any(
        a.principal == f"User:{principal}"
        and a.operation == operation
        and a.resource == "TOPIC"
        and (a.name == name if a.pattern == "LITERAL" else name.startswith(a.name))
        for a in entries
    )


def test_each_topic_is_written_only_by_the_services_the_contracts_name(entries: list[Acl]) -> None:
    for channel in CHANNELS:
        for service in SERVICES:
            assert allowed(entries, service, "WRITE", channel.topic) == (service in channel.writers), (service, channel.topic)


def test_registration_may_not_write_matching_events_nor_read_matching_commands(entries: list[Acl]) -> None:
    assert not allowed(entries, "registration", "WRITE", Topic.MATCHING_EVENTS)
    assert not allowed(entries, "registration", "READ", Topic.MATCHING_COMMANDS)
    assert allowed(entries, "registration", "WRITE", Topic.REGISTRATION_EVENTS)


def test_each_service_reads_exactly_what_its_subscribers_consume(entries: list[Acl]) -> None:
    reads = service_reads()
    assert Topic.CONTACTS in reads["notifications"] and Topic.CONTACTS not in reads["matching"]
    for service in SERVICES:
        for topic in Topic:
            assert allowed(entries, service, "READ", topic) == (topic in reads[service]), (service, topic)


def test_each_service_joins_its_own_groups_only(entries: list[Acl]) -> None:
    groups = [a for a in entries if a.resource == "GROUP" and a.principal != f"User:{OPERATOR}"]
    settings = Settings.model_construct(topic_prefix=PREFIX)
    for service in SERVICES:
        mine = [a.name for a in groups if a.principal == f"User:{service}"]
        own = group_id(settings, service)
        # the groups shared.messaging.consumer and shared.parking name
        for group in (f"{own}{GROUP_TOPIC_SEPARATOR}{names(Topic.OPERATOR_COMMANDS)}", f"{own}.parking{GROUP_TOPIC_SEPARATOR}x"):
            assert [p for p in mine if group.startswith(p)], group
        others = [a.name for a in groups if a.principal != f"User:{service}"]
        assert not [p for p in others if own.startswith(p)], service


def test_the_operator_reads_everything_and_writes_what_operators_and_forms_write(entries: list[Acl]) -> None:
    for topic in Topic:
        assert allowed(entries, OPERATOR, "READ", topic)
    writable = {t for t in Topic if allowed(entries, OPERATOR, "WRITE", t)}
    assert writable == {Topic.OPERATOR_COMMANDS, Topic.MISSIONS, Topic.SIGNUP_FORMS, Topic.MEETING_FORMS}


def test_every_acl_sits_in_its_environments_scope(entries: list[Acl]) -> None:
    assert {a.name for a in entries} <= scope(PREFIX)
    assert not {a.name for a in acls("other")} & scope(PREFIX)


def test_plaintext_clients_get_no_security_arguments() -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:9092")
    assert client_security(settings) == {} and broker_security(settings) is None


def _ca(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def _sasl_settings(ca_file: Path, **fields: object) -> Settings:
    return Settings.model_validate(
        {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_username": "registration",
            "kafka_password": PASSWORD,
            "kafka_ca_file": str(ca_file),
            **fields,
        }
    )


def test_sasl_ssl_clients_log_in_with_scram_and_check_the_certificate(tmp_path: Path) -> None:
    settings = _sasl_settings(_ca(tmp_path))
    arguments = client_security(settings)
    assert arguments["security_protocol"] == "SASL_SSL" and arguments["sasl_mechanism"] == "SCRAM-SHA-512"
    assert arguments["sasl_plain_username"] == "registration" and arguments["sasl_plain_password"] == PASSWORD
    context: ssl.SSLContext = arguments["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    security = broker_security(settings)
    assert isinstance(security, SASLScram512) and security.use_ssl and security.ssl_context is not None


def test_the_password_shows_in_no_repr_and_no_error(tmp_path: Path) -> None:
    settings = _sasl_settings(_ca(tmp_path))
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings) and PASSWORD not in str(settings.model_dump())
    assert PASSWORD not in repr(broker_security(settings))


def test_a_settings_error_never_quotes_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTGOING_KAFKA_USERNAME", "registration")
    monkeypatch.setenv("OUTGOING_KAFKA_PASSWORD", PASSWORD)  # as a service reads it, a plain string
    with pytest.raises(ValidationError) as error:
        Settings()  # PLAINTEXT with credentials
    assert "only over TLS" in str(error.value) and PASSWORD not in str(error.value)
    with pytest.raises(ValidationError) as error:
        Settings(kafka_security_protocol="SASL_SSL", topic_partitions=0)
    assert PASSWORD not in str(error.value) and PASSWORD not in repr(error.value.errors())


def test_sasl_ssl_needs_a_username_and_a_password() -> None:
    with pytest.raises(ValidationError, match="needs OUTGOING_KAFKA_USERNAME"):
        Settings(kafka_security_protocol="SASL_SSL", kafka_username="registration")


def test_the_secure_listener_is_asked_for_and_sits_beside_the_plaintext_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTGOING_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    monkeypatch.delenv("OUTGOING_KAFKA_SECURE", raising=False)
    assert infra.Config.from_env().kafka_secure_port is None
    monkeypatch.setenv("OUTGOING_KAFKA_SECURE", "1")
    assert infra.Config.from_env().kafka_secure_port == 19094


def test_the_plain_broker_configuration_has_no_security(tmp_path: Path) -> None:
    props = infra._kafka_properties(replace(infra.Config.from_env(), kafka_secure_port=None), tmp_path)
    assert "SASL" not in props and "authorizer" not in props and "listeners=PLAINTEXT://" in props


def test_the_secured_broker_gets_a_ca_signed_keystore_and_the_standard_authorizer(tmp_path: Path) -> None:
    cfg = replace(infra.Config.from_env(), run_dir=tmp_path, kafka_host="127.0.0.1", kafka_port=19092, kafka_secure_port=19094)
    home = kafka_security.ensure_material(cfg)
    props = infra._kafka_properties(cfg, tmp_path / "data", kafka_security.broker_properties(cfg))
    assert "SASL_SSL://127.0.0.1:19094" in props and "SASL_SSL:SASL_SSL" in props
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in props
    assert "super.users=User:admin;User:ANONYMOUS" in props
    verified = subprocess.run(["openssl", "verify", "-CAfile", home / "ca.pem", home / "broker.pem"], capture_output=True, check=False)
    assert verified.returncode == 0, verified.stderr
    assert stat.S_IMODE((home / "secrets.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "registration.env").stat().st_mode) == 0o600
    env = (home / "registration.env").read_text()
    assert "OUTGOING_KAFKA_USERNAME=registration" in env and "OUTGOING_KAFKA_BOOTSTRAP=127.0.0.1:19094" in env
    again = kafka_security.ensure_material(cfg)  # made once: the same CA on a second start
    assert (again / "ca.pem").read_bytes() == (home / "ca.pem").read_bytes()
