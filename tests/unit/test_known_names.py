"""The registry of contact names the services feed, and its use by log redaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest.mock import MagicMock

import pytest

from services.notifications.contact_names import ContactNamesStore
from services.notifications.store import NotificationStore
from services.registration.contact_names import feed_known_names
from services.registration.domain.aggregates import SignupDecision
from services.registration.store import RegistrationStore
from shared.known_names import KNOWN_NAMES, KnownNames
from shared.redaction import redact_text
from tests.factories import lombard


@pytest.fixture(autouse=True)
def _no_names_left() -> Iterator[None]:
    KNOWN_NAMES.clear()
    yield
    KNOWN_NAMES.clear()


def test_names_are_masked_as_whole_words_in_any_case_and_with_or_without_accents() -> None:
    KNOWN_NAMES.remember("c1", "José Müller-Lüdenscheidt")
    assert redact_text("call JOSÉ MÜLLER-LÜDENSCHEIDT today") == "call [name] today"
    assert redact_text("for jose muller-ludenscheidt.") == "for [name]."
    assert redact_text("Müller-Lüdenscheidt José signed") == "[name] signed", "surname first too"
    assert redact_text("josémüller-lüdenscheidt") == "josémüller-lüdenscheidt", "not inside another word"
    assert redact_text("José alone") == "José alone", "a first name alone is not the name"


def test_names_in_other_scripts() -> None:
    KNOWN_NAMES.remember("c1", "अमित शर्मा")
    KNOWN_NAMES.remember("c2", "Дмитрий Иванов")
    KNOWN_NAMES.remember("c3", "王小明")
    assert redact_text("contact अमित शर्मा, ДМИТРИЙ ИВАНОВ and 联系人王小明已确认") == "contact [name], [name] and 联系人[name]已确认"


def test_forget_removes_every_name_of_the_owner_and_only_those() -> None:
    KNOWN_NAMES.remember("c1", "Maria Rossi")
    KNOWN_NAMES.remember("c1", "Mario Rossi", source="signup:1")
    KNOWN_NAMES.remember("c2", "Maria Rossi")
    KNOWN_NAMES.forget("c1")
    assert redact_text("Maria Rossi and Mario Rossi") == "[name] and Mario Rossi", "c2 still has Maria Rossi"
    KNOWN_NAMES.forget("c2")
    assert redact_text("Maria Rossi") == "Maria Rossi" and not KNOWN_NAMES


def test_a_new_name_from_the_same_source_replaces_the_old_one() -> None:
    names = KnownNames()
    names.remember("c1", "Maria Rossi")
    names.remember("c1", "Maria Bianchi")
    assert names.spans("Maria Rossi") == [] and names.spans("Maria Bianchi") == [(0, 13)]
    names.remember("c1", None)
    assert not names


def test_ids_keep_a_name_that_is_part_of_them() -> None:
    KNOWN_NAMES.remember("c1", "India")
    assert (
        redact_text("meeting india-2020:3f2a9c01b2c3d4e5f6a7 booked, India said")
        == "meeting india-2020:3f2a9c01b2c3d4e5f6a7 booked, [name] said"
    )


def test_too_short_names_are_not_kept() -> None:
    KNOWN_NAMES.remember("c1", "A")
    KNOWN_NAMES.remember("c2", "Li")
    assert redact_text("a Li at A") == "a Li at A"


def test_registration_feeds_the_names_of_the_companies_and_signups_it_loads_and_saves() -> None:
    store = RegistrationStore(MagicMock())
    feed_known_names(store)
    store.companies.from_document(
        {"_id": "c1", "natural_key": "k", "status": "active", "contact": {"name": "Maria Rossi", "email": "maria@rossi.example"}}
    )
    assert redact_text("Maria Rossi") == "[name]"
    applicant = lombard(contact={"name": "Giulia Verdi", "email": "giulia@verdi.example"})
    decision = SignupDecision(
        id="s1", kind="signup", company_id="c1", role="lombard", outcome="accepted", violations=[], eligible_missions=[],
        decided_by="t", applicant=applicant,
    )  # fmt: skip
    store.decisions.to_document(decision)
    assert redact_text("Giulia Verdi") == "[name]"
    store.companies.from_document({"_id": "c1", "natural_key": "k", "status": "erased"})
    assert redact_text("Maria Rossi, Giulia Verdi") == "Maria Rossi, Giulia Verdi", "erased: every name of the company forgotten"


async def test_notifications_feeds_the_names_of_the_contacts_it_loads_and_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    stored: dict[str, dict[str, Any]] = {}

    async def save_contact(_self: Any, company_id: str, contact: dict[str, Any], _as_of: datetime) -> bool:
        stored[company_id] = contact
        return True

    async def contact(_self: Any, company_id: str) -> dict[str, Any] | None:
        return stored.get(company_id)

    async def delete_contact(_self: Any, company_id: str) -> None:
        stored.pop(company_id, None)

    async def erase(_self: Any, company_id: str, _at: datetime) -> dict[str, int]:
        stored.pop(company_id, None)
        return {}

    for name, method in {"save_contact": save_contact, "contact": contact, "delete_contact": delete_contact, "erase": erase}.items():
        monkeypatch.setattr(NotificationStore, name, method)
    store = ContactNamesStore(MagicMock())
    now = datetime(2020, 10, 1, tzinfo=UTC)
    await store.save_contact("c1", {"name": "Maria Rossi", "email": "maria@rossi.example"}, now)
    await store.save_contact("c2", {"name": "Priya Shah", "email": "priya@mmt.example"}, now)
    assert redact_text("Maria Rossi, Priya Shah") == "[name], [name]"
    await store.delete_contact("c1")
    await store.erase("c2", now)
    assert redact_text("Maria Rossi, Priya Shah") == "Maria Rossi, Priya Shah"
    stored["c3"] = {"name": "Chen Wei", "email": "chen@wei.example"}
    assert await store.contact("c3") is not None
    assert redact_text("chen wei") == "[name]"
