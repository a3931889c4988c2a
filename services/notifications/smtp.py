"""Sending through SMTP with aiosmtplib, and what each failure means.

4xx replies and connection problems are temporary (try again later); 5xx replies are
permanent (the server will never take this message). A refused recipient is permanent
or temporary by its own code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib
from pydantic import SecretStr

from services.notifications.domain.message import wire_bytes
from shared.settings import Settings


class SmtpFailure(Exception):
    def __init__(self, code: int | None, detail: str) -> None:
        super().__init__(f"{code or 'no reply'}: {detail}")
        self.code = code
        self.detail = detail[:500]


class TemporarySmtpError(SmtpFailure):
    """Worth retrying: 4xx, timeouts, connection refused or dropped."""


class PermanentSmtpError(SmtpFailure):
    """Never retried: 5xx."""


class UnconfirmedSmtpSend(SmtpFailure):
    """The connection broke or timed out after the message was handed over (DATA) and
    before the server answered: it may or may not have been queued. Its policy decides."""


class _PhaseTrackingSMTP(aiosmtplib.SMTP):
    """Knows whether the message was handed over, and whether the server accepted it."""

    handed_over = False
    accepted = False

    async def data(self, message: str | bytes, /, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        self.handed_over = True
        response = await super().data(message, **kwargs)
        self.accepted = True
        return response


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def classify(code: int | None, detail: str) -> SmtpFailure:
    if code is not None and 500 <= code < 600:
        return PermanentSmtpError(code, detail)
    return TemporarySmtpError(code, detail)


@dataclass
class SmtpMailer:
    host: str
    port: int
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    starttls: bool | None = None
    """None: whenever the server offers it. With credentials it is required, whatever this says."""
    implicit_tls: bool = False
    timeout_s: float = 30.0
    ca_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
            settings.smtp_implicit_tls,
            settings.smtp_timeout_s,
            settings.smtp_ca_file,
        )

    @property
    def start_tls(self) -> bool | None:
        """aiosmtplib's meaning: True required, None if offered, False never. Credentials never go in clear."""
        if self.implicit_tls:
            return False
        return True if self.username is not None else self.starttls

    async def send(self, message: EmailMessage) -> None:
        client = _PhaseTrackingSMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password.get_secret_value() if self.password is not None else None,
            use_tls=self.implicit_tls,
            start_tls=self.start_tls,
            cert_bundle=self.ca_file,
            timeout=self.timeout_s,
        )
        try:
            async with client:
                refused, _ = await client.sendmail(
                    message["From"].addresses[0].addr_spec,
                    [address.addr_spec for address in message["To"].addresses],
                    wire_bytes(message),
                )
        except aiosmtplib.SMTPRecipientsRefused as error:
            first = error.recipients[0] if error.recipients else None
            raise classify(first.code if first else None, first.message if first else str(error)) from None
        except aiosmtplib.SMTPResponseException as error:
            if client.accepted:
                return  # a failure of QUIT, after the server took the message
            raise classify(error.code, error.message) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            if client.accepted:
                return
            if client.handed_over:
                raise UnconfirmedSmtpSend(None, f"{type(error).__name__} after the message was handed over: {error}") from None
            raise TemporarySmtpError(None, f"{type(error).__name__}: {error}") from None
        if refused:
            response = next(iter(refused.values()))
            raise classify(response.code, response.message)
