"""Links nobody can compute without the agency's key: video rooms and survey tokens.

A meeting id derives from public facts (the mission and two company ids, themselves from
VAT numbers), so a room named after it could be found by anyone. Rooms and tokens are
HMAC-SHA256 of what they name, keyed with ``OUTGOING_LINK_SECRET``: stable across replays
and instances (the same event yields the same link), unguessable without the key.
Matching names the rooms and checks the tokens; notifications puts both in the e-mails,
so the two share the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from shared.settings import Settings

MIN_SECRET_BYTES = 16


class MissingLinkSecret(RuntimeError):
    """The service cannot name a room or check a survey answer without the key."""


@dataclass(frozen=True)
class LinkKeys:
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise MissingLinkSecret(f"OUTGOING_LINK_SECRET must be at least {MIN_SECRET_BYTES} bytes long")

    def _mac(self, *parts: str) -> bytes:
        return hmac.new(self.secret, "\x1f".join(parts).encode(), hashlib.sha256).digest()

    def room_id(self, meeting_id: str) -> str:
        """128 bits, as hex: a path segment any video platform accepts."""
        return self._mac("room", meeting_id)[:16].hex()

    def survey_token(self, meeting_id: str, company_id: str, kind: str) -> str:
        """128 bits, URL-safe: the one company's answer to the one survey."""
        return base64.urlsafe_b64encode(self._mac("survey", meeting_id, company_id, kind)[:16]).decode().rstrip("=")

    def valid_survey_token(self, token: str | None, meeting_id: str, company_id: str, kind: str) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.survey_token(meeting_id, company_id, kind).encode())


def link_keys(settings: Settings) -> LinkKeys:
    if settings.link_secret is None:
        raise MissingLinkSecret(
            "OUTGOING_LINK_SECRET is not set: matching and notifications need the same secret (e.g. `openssl rand -hex 32`) "
            "to name video rooms and check survey answers; `outgoing dev up`, the demo and the tests set one themselves"
        )
    return LinkKeys(settings.link_secret.get_secret_value().encode())
