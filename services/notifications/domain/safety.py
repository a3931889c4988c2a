"""Checks that keep raw input away from mail headers and recipients.

Nothing is silently rewritten: a value that would inject a header or address someone
else is an error with a reason, recorded as a failed notification.
"""

from __future__ import annotations

import re
import unicodedata
from email.headerregistry import Address
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email


class InvalidContent(ValueError):
    """A text that cannot go into a message safely (header injection, unknown zone...)."""


class InvalidRecipient(ValueError):
    """An address no message may be sent to."""


_LINE_BREAKS = re.compile(r"[\r\n\u0085\u2028\u2029]")


def header_text(value: str, field: str) -> str:
    """``value`` for a header (subject, display name): no line breaks, no control characters."""
    if _LINE_BREAKS.search(value):
        raise InvalidContent(f"{field} contains a line break (header injection attempt)")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidContent(f"{field} contains control characters")
    return value


def recipient(email: str, display_name: str) -> Address:
    """A checked address: one mailbox, valid syntax, and a display name without line breaks."""
    header_text(display_name, "recipient name")
    if _LINE_BREAKS.search(email) or any(ch in email for ch in ',;<>"') or any(ch.isspace() for ch in email):
        raise InvalidRecipient("the address is not a single mailbox")
    try:
        checked = validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidRecipient(f"invalid address: {error}") from None
    local, _, domain = checked.normalized.rpartition("@")
    return Address(display_name=display_name, username=local, domain=domain)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidContent(f"unknown time zone {name!r}") from None
