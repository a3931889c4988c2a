"""Which language a recipient reads."""

from __future__ import annotations

from typing import Literal

Language = Literal["it", "en"]


def default_language(role: str | None) -> Language:
    """Italian for Lombard companies, English for foreign partners."""
    return "it" if role == "lombard" else "en"


def choose_language(
    contact_choice: str | None = None,
    recorded_choice: str | None = None,
    company_choice: str | None = None,
    role: str | None = None,
) -> Language:
    """The contact's own choice first, then what registration recorded, then the company's, then the role's default."""
    for choice in (contact_choice, recorded_choice, company_choice):
        if choice in ("it", "en"):
            return choice  # type: ignore[return-value]
    return default_language(role)
