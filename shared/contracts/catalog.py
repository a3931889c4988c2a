"""Imports every contract module so that EVENT_TYPES knows every declared event type."""

from shared.contracts import crm, internal, matching, missions, notifications, operations, registration  # noqa: F401
from shared.contracts.envelope import EVENT_TYPES

__all__ = ["EVENT_TYPES"]
