"""Registration tells the process's known names (shared/known_names.py) about each contact it
loads or stores, so that its log lines mask them; an erased company's names are forgotten."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from services.registration.domain.aggregates import Company, SignupDecision
from services.registration.store import RegistrationStore
from shared.aggregate import Aggregate
from shared.aggregate_store import AggregateCollection
from shared.known_names import KNOWN_NAMES, KnownNames

A = TypeVar("A", bound=Aggregate)


def feed_known_names(store: RegistrationStore, names: KnownNames = KNOWN_NAMES) -> None:
    """Every company and signup decision loaded or saved through ``store`` passes its contact's name to ``names``."""
    _observe(store.companies, lambda company: _company(company, names))
    _observe(store.decisions, lambda decision: _decision(decision, names))


def _company(company: Company, names: KnownNames) -> None:
    if company.status == "erased":
        names.forget(company.id)
    else:
        names.remember(company.id, company.contact.name if company.contact is not None else None)


def _decision(decision: SignupDecision, names: KnownNames) -> None:
    """A signup's applicant, kept with its decision until an erasure drops it."""
    contact = decision.applicant.contact if decision.applicant is not None else None
    names.remember(decision.company_id, contact.name if contact is not None else None, source=f"signup:{decision.id}")


def _observe(collection: AggregateCollection[A], learn: Callable[[A], None]) -> None:
    load, save = collection.from_document, collection.to_document

    def loaded(doc: dict[str, Any]) -> A:
        aggregate = load(doc)
        learn(aggregate)
        return aggregate

    def saved(aggregate: A) -> dict[str, Any]:
        learn(aggregate)
        return save(aggregate)

    collection.from_document, collection.to_document = loaded, saved
