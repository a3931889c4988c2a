"""A notification as a MIME message: plain text and HTML alternatives, plus the calendar part.

Headers are set only from checked values (see safety.py); the Message-ID derives from the
notification id, so an operator can match a message in the mail server's log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from services.notifications.domain.ics import Method
from services.notifications.domain.safety import header_text

MESSAGE_ID_DOMAIN = "notifications.outgoing"

BUILD_POLICY = policy.SMTP.clone(cte_type="7bit")
"""Bodies are encoded for any server (quoted-printable or base64, lines within limits)."""
WIRE_POLICY = BUILD_POLICY.clone(max_line_length=998)
"""Headers unfolded up to RFC 5322's hard limit: CPython's folding of encoded words doubles
the space at a fold, which recipients would see in the subject."""


def wire_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=WIRE_POLICY)


def message_id(notification_id: str) -> str:
    return f"<{hashlib.sha256(notification_id.encode()).hexdigest()[:32]}@{MESSAGE_ID_DOMAIN}>"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Attachment:
    ics: bytes
    method: Method


def build_message(
    notification_id: str,
    sender: Address,
    to: Address,
    rendered: Rendered,
    language: str,
    date: datetime,
    calendar: Attachment | None = None,
) -> EmailMessage:
    message = EmailMessage(policy=BUILD_POLICY)
    message["Subject"] = header_text(rendered.subject, "subject")
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id(notification_id)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Outgoing-Notification"] = notification_id
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    if calendar is not None:
        message.add_alternative(calendar.ics.decode(), subtype="calendar", charset="utf-8", params={"method": calendar.method})
        message.add_attachment(
            calendar.ics,
            maintype="application",
            subtype="ics",
            filename="cancel.ics" if calendar.method == "CANCEL" else "invite.ics",
        )
    message["Content-Language"] = language  # after the body: setting content clears Content-* headers
    return message
