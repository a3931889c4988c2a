"""A CRM's ids for companies and enrollments: kept, carried by every later event, never a reason to lose one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.aggregate import Refused
from shared.contracts.crm import CompanyLink, CompanyLinked, EnrollmentLink, EnrollmentLinked
from shared.contracts.registration import CompanyRef, ErasureRequest, ErasureRequested, SignupWithdrawn, Withdrawal
from shared.messaging import PermanentFailure
from tests.factories import SIGNUP_TIME, lombard, signup
from tests.unit.registration.test_use_cases import company_of, fresh

CRM = "reference-crm"


def company_link(company_id: str, external_id: str | None, system: str = CRM) -> CompanyLinked:
    data = CompanyLink(company_id=company_id, system=system, external_id=external_id)
    return CompanyLinked.new(source="/crm/reference", subject=company_id, data=data, time=SIGNUP_TIME + timedelta(minutes=5))


def enrollment_link(company_id: str, external_id: str) -> EnrollmentLinked:
    data = EnrollmentLink(company_id=company_id, mission_id="india-2020", system=CRM, external_id=external_id)
    return EnrollmentLinked.new(source="/crm/reference", subject=company_id, data=data)


async def test_a_linked_company_carries_the_crm_id_on_its_update_and_its_erasure() -> None:
    registration, store = await fresh()
    await registration.apply_signup(signup(lombard()))
    company_id = company_of(lombard())
    await registration.link_company(company_link(company_id, "ACC-00042"))
    linked = store.published[-1].event
    assert linked is not None and linked.type == "company.updated.v1", "the other services and the CRM are told"
    assert linked.data.changed_fields == ["external_ids"] and linked.data.profile.external_ids == {CRM: "ACC-00042"}
    published = len(store.published)
    await registration.link_company(company_link(company_id, "ACC-00042"))
    assert len(store.published) == published, "the same id again changes nothing"

    await registration.apply_signup(signup(lombard(offer="Five-axis machining centres"), time=SIGNUP_TIME + timedelta(hours=1)))
    updated = store.published[-1].event
    assert updated is not None and updated.type == "company.updated.v1"
    assert updated.data.changed_fields == ["offer"], "the link is not a change of the company's profile"
    assert updated.data.profile.external_ids == {CRM: "ACC-00042"}

    erasure = ErasureRequested.new(
        source="/forms", subject="x", data=ErasureRequest(company=CompanyRef(company_id=company_id), requested_by="dpo")
    )
    await registration.erase(erasure)
    [erased] = [r.event for r in store.published if r.event is not None and r.event.type == "company.erased.v1"]
    assert erased.data.external_ids == {CRM: "ACC-00042"}, "how the CRM finds the record it must erase"


async def test_a_linked_company_carries_the_crm_id_on_its_contact_and_its_rejections() -> None:
    registration, store = await fresh()
    await registration.apply_signup(signup(lombard()))
    company_id = company_of(lombard())
    await registration.link_company(company_link(company_id, "ACC-7"))
    new_contact = {"name": "Anna Rossi", "email": "anna@rossi.example", "preferred_language": "it"}
    await registration.apply_signup(signup(lombard(contact=new_contact), time=SIGNUP_TIME + timedelta(hours=1)))
    [contact] = [r.event for r in store.published[-1:] if r.event is not None]
    assert contact.type == "contact.recorded.v1" and contact.data.external_ids == {CRM: "ACC-7"}
    await registration.apply_signup(signup(lombard(missions=["no-such-mission"]), time=SIGNUP_TIME + timedelta(hours=2)))
    [rejected] = [r.event for r in store.published if r.event is not None and r.event.type == "signup.rejected.v1"]
    assert rejected.data.external_ids == {CRM: "ACC-7"}


async def test_a_linked_enrollment_carries_the_crm_id_on_its_cancellation() -> None:
    registration, store = await fresh()
    applicant = lombard()
    await registration.apply_signup(signup(applicant))
    company_id = company_of(applicant)
    await registration.link_enrollment(enrollment_link(company_id, "OPP-7"))
    order = SignupWithdrawn.new(
        source="/forms", subject="x", data=Withdrawal(company=CompanyRef(company_id=company_id), mission_id="india-2020")
    )
    await registration.withdraw(order)
    cancelled = store.published[-1].event
    assert cancelled is not None and cancelled.type == "enrollment.cancelled.v1" and cancelled.data.external_ids == {CRM: "OPP-7"}


async def test_a_replayed_link_writes_nothing_and_null_removes_the_id() -> None:
    registration, store = await fresh()
    await registration.apply_signup(signup(lombard()))
    company_id = company_of(lombard())
    link = company_link(company_id, "ACC-1")
    await registration.link_company(link)
    version = (await store.companies.get(company_id)).version  # type: ignore[union-attr]
    await registration.link_company(link)
    company = await store.companies.get(company_id)
    assert company is not None and company.version == version and company.external_ids == {CRM: "ACC-1"}
    await registration.link_company(company_link(company_id, None))
    company = await store.companies.get(company_id)
    assert company is not None and company.external_ids == {} and company.profile is not None and company.profile.external_ids == {}


async def test_links_to_what_does_not_exist_are_refused_with_a_reason() -> None:
    registration, store = await fresh()
    with pytest.raises(PermanentFailure, match="unknown"):
        await registration.link_company(company_link("no-such-company", "ACC-1"))
    await registration.apply_signup(signup(lombard()))
    with pytest.raises(PermanentFailure, match="no enrollment"):
        await registration.link_enrollment(
            EnrollmentLinked.new(
                source="/crm/reference",
                subject="x",
                data=EnrollmentLink(company_id=company_of(lombard()), mission_id="china-2020", system=CRM, external_id="OPP-1"),
            )
        )
    assert store.types() == ["contact.recorded.v1", "company.registered.v1", "enrollment.confirmed.v1"]


async def test_no_more_than_eight_crms_may_name_one_company() -> None:
    registration, _ = await fresh()
    await registration.apply_signup(signup(lombard()))
    company_id = company_of(lombard())
    for n in range(8):
        await registration.link_company(company_link(company_id, f"id-{n}", system=f"crm-{n}"))
    with pytest.raises(Refused, match="at most 8"):
        await registration.link_company(company_link(company_id, "id-9", system="crm-9"))
