"""Imports every contract module so that EVENT_TYPES knows every declared event type."""

from typing import Any

from shared.contracts import crm, internal, matching, missions, notifications, operations, registration, reporting, sessions  # noqa: F401
from shared.contracts.envelope import EVENT_TYPES, Envelope

__all__ = ["EVENT_TYPES", "declared_event_types"]


def declared_event_types() -> dict[str, type[Envelope[Any]]]:
    """The event types of the contracts only, sorted: not those a test declares for itself."""
    return {t: c for t, c in sorted(EVENT_TYPES.items()) if c.__module__.startswith("shared.contracts.")}
