"""Registration's aggregate store on the real database: conditional saves, outbox, legacy documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.registration.domain.aggregates import Company, Enrollment
from services.registration.domain.companies import company_id_for, natural_key
from services.registration.store import COMPANIES, ENROLLMENTS, INDEXES, RegistrationStore
from shared.aggregate_store import Conflict
from shared.contracts.registration import CompanyRef, ErasureRequest, ErasureRequested, SignupWithdrawn, Withdrawal
from shared.mongo import create_client, ensure_indexes
from shared.settings import Settings
from tests.factories import SIGNUP_TIME, lombard, signup

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[RegistrationStore]:
    client = create_client(settings)
    db = client[settings.mongo_db]
    await ensure_indexes(db, INDEXES)
    yield RegistrationStore(db)
    await client.close()


async def test_a_save_applies_only_to_the_version_it_loaded(store: RegistrationStore) -> None:
    event = signup(lombard())
    await store.companies.save(Company.register(None, event, event.data.applicant))
    company_id = company_id_for(natural_key(event.data.applicant))
    first, second = await store.companies.get(company_id), await store.companies.get(company_id)
    assert first is not None and second is not None and first.version == second.version == 1

    Company.register(first, signup(lombard(offer="A"), time=SIGNUP_TIME + timedelta(hours=1)), lombard(offer="A"))
    await store.companies.save(first)
    Company.register(second, signup(lombard(offer="B"), time=SIGNUP_TIME + timedelta(hours=2)), lombard(offer="B"))
    with pytest.raises(Conflict):
        await store.companies.save(second)

    stored = await store.db[COMPANIES].find_one({"_id": company_id})
    assert stored is not None and stored["version"] == 2 and stored["profile"]["offer"] == "A"
    assert [o["value"] is not None for o in stored["outbox"]] == [True, True, True], "contact, registered, then the update"
    with pytest.raises(Conflict):
        await store.companies.save(Company.register(None, event, event.data.applicant))


async def test_erasure_removes_the_contact_field_and_the_outbox_carries_the_tombstone(store: RegistrationStore) -> None:
    event = signup(lombard())
    await store.companies.change(
        company_id_for(natural_key(event.data.applicant)), lambda c: Company.register(c, event, event.data.applicant)
    )
    company_id = company_id_for(natural_key(event.data.applicant))
    order = ErasureRequested.new(
        source="forms", subject="x", data=ErasureRequest(company=CompanyRef(company_id=company_id), requested_by="dpo")
    )
    saved = await store.companies.change(company_id, lambda c: Company.erase(c, order, company_id))
    assert saved is not None and saved.written
    stored = await store.db[COMPANIES].find_one({"_id": company_id})
    assert stored is not None and "contact" not in stored and stored["status"] == "erased"
    assert [(o["topic"], o["value"] is None) for o in stored["outbox"][-2:]] == [
        ("registration.contacts", True),
        ("registration.events", False),
    ]
    assert str(order.id) in stored["applied_events"]


async def test_a_document_written_before_documents_had_versions_is_loaded_and_saved(store: RegistrationStore) -> None:
    event = signup(lombard())
    company_id = company_id_for(natural_key(event.data.applicant))
    enrollment_id = f"{company_id}:india-2020"
    await store.db[ENROLLMENTS].insert_one(
        {
            "_id": enrollment_id,
            "company_id": company_id,
            "mission_id": "india-2020",
            "role": "lombard",
            "override": None,
            "status": "confirmed",
        }
        | {"applied_events": [str(event.id)], "outbox": []}
    )
    [legacy] = await store.enrollments_of(company_id)
    assert legacy.version == 0 and legacy.has_applied(event)
    withdrawal = SignupWithdrawn.new(source="forms", subject="x", data=Withdrawal(company=CompanyRef(company_id=company_id)))

    def withdrawn(enrollment: Enrollment | None) -> Enrollment | None:
        assert enrollment is not None and enrollment.cancel(withdrawal, "withdrawn")
        return enrollment

    saved = await store.enrollments.change(enrollment_id, withdrawn)
    assert saved is not None and saved.written
    stored = await store.db[ENROLLMENTS].find_one({"_id": enrollment_id})
    assert stored is not None and stored["version"] == 1 and stored["status"] == "cancelled" and len(stored["outbox"]) == 1


async def test_a_replay_writes_nothing_but_still_flushes(store: RegistrationStore) -> None:
    event = signup(lombard())
    company_id = company_id_for(natural_key(event.data.applicant))
    await store.enrollments.change(
        f"{company_id}:india-2020", lambda e: Enrollment.confirm(e, event, company_id, "india-2020", "lombard", None), insert_first=True
    )
    store.drain_touched()
    again = await store.enrollments.change(
        f"{company_id}:india-2020", lambda e: Enrollment.confirm(e, event, company_id, "india-2020", "lombard", None), insert_first=True
    )
    assert again is not None and not again.written and again.aggregate.version == 1
    assert [(ref.collection, ref.written) for ref in store.drain_touched()] == [(ENROLLMENTS, None)]
