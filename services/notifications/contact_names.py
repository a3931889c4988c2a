"""Notifications tells the process's known names (shared/known_names.py) about each contact it
loads or stores, so that its log lines mask them; a deleted or erased contact's are forgotten."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.notifications.store import NotificationStore
from shared.known_names import KNOWN_NAMES, KnownNames


class ContactNamesStore(NotificationStore):
    """The notifications store, telling ``names`` the contact names that pass through it."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], names: KnownNames = KNOWN_NAMES) -> None:
        super().__init__(db)
        self.names = names

    async def save_contact(self, company_id: str, contact: dict[str, Any], as_of: datetime) -> bool:
        saved = await super().save_contact(company_id, contact, as_of)
        if saved:
            self.names.remember(company_id, contact.get("name"))
        return saved

    async def contact(self, company_id: str) -> dict[str, Any] | None:
        found = await super().contact(company_id)
        if found is not None:
            self.names.remember(company_id, found.get("name"))
        return found

    async def delete_contact(self, company_id: str) -> None:
        await super().delete_contact(company_id)
        self.names.forget(company_id)

    async def erase(self, company_id: str, at: datetime) -> dict[str, int]:
        scrubbed = await super().erase(company_id, at)
        self.names.forget(company_id)
        return scrubbed
