"""SMTP over TLS against a real aiosmtpd server with a certificate from a test CA (trustme).

STARTTLS is used whenever the server offers it; with credentials it is required, so a
password never crosses the wire in clear; the password never shows in a repr.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr, ValidationError

from outgoing_cli.demo.mail_sink import free_port
from services.notifications.smtp import SmtpMailer, TemporarySmtpError
from shared.settings import Settings

pytestmark = pytest.mark.integration

USER, PASSWORD = "outgoing", "s3cret-Passw0rd"


@dataclass
class Recorder:
    received: list[tuple[bool, str]] = field(default_factory=list)
    """(over TLS, sender) of each message the server took."""
    logins: list[bool] = field(default_factory=list)
    """Whether each AUTH attempt came over TLS."""

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.received.append((session.ssl is not None, str(envelope.mail_from)))
        return "250 OK"

    def authenticate(self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
        self.logins.append(session.ssl is not None)
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode())
        return AuthResult(success=ok)


@dataclass
class Server:
    port: int
    recorder: Recorder
    ca_file: str


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


def _server(ca: tuple[trustme.CA, Path], *, starttls: bool) -> Iterator[Server]:
    authority, ca_file = ca
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    recorder = Recorder()
    options: dict[str, Any] = {"tls_context": context, "require_starttls": True} if starttls else {}
    port = free_port("127.0.0.1")
    controller = Controller(
        recorder, hostname="127.0.0.1", port=port, authenticator=recorder.authenticate, auth_require_tls=starttls, **options
    )
    controller.start()
    try:
        yield Server(port, recorder, str(ca_file))
    finally:
        controller.stop()


@pytest.fixture
def tls_server(ca: tuple[trustme.CA, Path]) -> Iterator[Server]:
    yield from _server(ca, starttls=True)


@pytest.fixture
def plain_server(ca: tuple[trustme.CA, Path]) -> Iterator[Server]:
    yield from _server(ca, starttls=False)


def message() -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "Outgoing <missions@outgoing.example>", "Mario Rossi <mario@rossi.example>", "Test"
    m.set_content("Buongiorno")
    return m


def mailer(server: Server, **overrides: Any) -> SmtpMailer:
    settings = Settings(smtp_host="127.0.0.1", smtp_port=server.port, smtp_ca_file=server.ca_file, **overrides)
    return SmtpMailer.from_settings(settings)


async def test_with_credentials_the_login_and_the_message_go_over_starttls(tls_server: Server) -> None:
    await mailer(tls_server, smtp_username=USER, smtp_password=PASSWORD).send(message())
    assert tls_server.recorder.logins == [True] and tls_server.recorder.received == [(True, "missions@outgoing.example")]


async def test_without_credentials_starttls_is_used_when_the_server_offers_it(tls_server: Server) -> None:
    await mailer(tls_server).send(message())
    assert tls_server.recorder.received == [(True, "missions@outgoing.example")]


async def test_credentials_are_never_sent_to_a_server_without_tls(plain_server: Server) -> None:
    with pytest.raises(TemporarySmtpError, match="STARTTLS"):
        await mailer(plain_server, smtp_username=USER, smtp_password=PASSWORD).send(message())
    assert plain_server.recorder.logins == [] and plain_server.recorder.received == []


async def test_a_server_whose_certificate_is_not_trusted_gets_nothing(tls_server: Server) -> None:
    untrusted = SmtpMailer("127.0.0.1", tls_server.port, USER, SecretStr(PASSWORD), None, False, 5.0, None)
    with pytest.raises(TemporarySmtpError):
        await untrusted.send(message())
    assert tls_server.recorder.logins == [] and tls_server.recorder.received == []


def test_the_password_shows_in_no_repr_and_credentials_without_tls_are_refused() -> None:
    settings = Settings(smtp_username=USER, smtp_password=PASSWORD)
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
    assert PASSWORD not in repr(SmtpMailer.from_settings(settings))
    with pytest.raises(ValidationError, match="only over TLS"):
        Settings(smtp_username=USER, smtp_password=PASSWORD, smtp_starttls=False)
