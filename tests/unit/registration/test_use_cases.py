"""Every registration use case, against the store in memory: what it decides, records and publishes."""

from __future__ import annotations

import contextlib
import copy
from datetime import timedelta
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.registration.domain.companies import company_id_for, natural_key
from services.registration.store import COMPANIES, ENROLLMENTS, SIGNUPS
from services.registration.use_cases import Registration
from shared.contracts.envelope import Envelope
from shared.contracts.registration import (
    CompanyRef,
    ErasureRequested,
    OperatorApproval,
    OperatorRejection,
    SignupApprovedByOperator,
    SignupRejectedByOperator,
    SignupUpdated,
    SignupWithdrawn,
    Withdrawal,
)
from shared.contracts.registration import ErasureRequest as ErasureOrder
from shared.messaging import Contention, PermanentFailure
from tests.factories import SIGNUP_TIME, foreign, lombard, mission, mission_planned, signup
from tests.unit.registration.fakes import FakeRegistrationStore

OUTSIDE_LOMBARDY = {"street": "Via Appia 1", "city": "Roma", "province": "RM", "postal_code": "00100"}


async def fresh(*missions: str) -> tuple[Registration, FakeRegistrationStore]:
    store = FakeRegistrationStore()
    registration = Registration(store, instance="unit")
    for mission_id in missions or ("india-2020",):
        await registration.plan_mission(mission_planned(mission(mission_id)))
    return registration, store


def company_of(applicant: Any) -> str:
    return company_id_for(natural_key(applicant))


def operator(event_type: type[Envelope[Any]], payload: Any) -> Any:
    return event_type.new(source="operators", subject="op", data=payload, time=SIGNUP_TIME + timedelta(days=1))


# ---------------------------------------------------------------- signups


async def test_an_eligible_signup_registers_the_company_and_enrolls_it_once() -> None:
    registration, store = await fresh()
    event = signup(lombard())
    await registration.apply_signup(event)
    assert store.types() == ["contact.recorded.v1", "company.registered.v1", "enrollment.confirmed.v1"]
    company = await store.companies.get(company_of(event.data.applicant))
    assert company is not None and company.status == "active" and company.version == 1
    assert company.profile is not None and company.profile.province == "BG"
    decision = await store.decisions.get(str(event.id))
    assert decision is not None and decision.outcome == "accepted" and decision.eligible_missions == ["india-2020"]


async def test_replaying_a_signup_writes_and_publishes_nothing() -> None:
    registration, store = await fresh()
    event = signup(foreign())
    await registration.apply_signup(event)
    writes = {name: c.writes for name, c in _collections(store).items()}
    await registration.apply_signup(event)
    await registration.apply_signup(event)
    assert store.types() == ["contact.recorded.v1", "company.registered.v1", "enrollment.confirmed.v1"]
    assert {name: c.writes for name, c in _collections(store).items()} == writes
    store.drain_touched()
    await registration.apply_signup(event)
    touched = store.drain_touched()
    assert {ref.collection for ref in touched} == {SIGNUPS, COMPANIES, ENROLLMENTS}, "a replay still flushes what a crash may have left"
    assert all(ref.written is None for ref in touched), "by reading each document's outbox, not from what this call wrote"


async def test_a_company_outside_lombardy_is_rejected_with_its_reason_and_its_contact_kept_for_the_reply() -> None:
    registration, store = await fresh()
    event = signup(lombard(sede_legale=OUTSIDE_LOMBARDY))
    await registration.apply_signup(event)
    assert store.types() == ["contact.recorded.v1", "signup.rejected.v1"]
    rejected = store.published[-1].event
    assert rejected is not None and [v.code for v in rejected.data.violations] == ["site.not_in_lombardy"]
    assert await store.companies.get(company_of(event.data.applicant)) is None


async def test_without_consent_a_rejection_keeps_no_personal_data() -> None:
    registration, store = await fresh()
    event = signup(lombard(privacy_consent=False))
    await registration.apply_signup(event)
    assert store.types() == ["signup.rejected.v1"]
    decision = await store.decisions.get(str(event.id))
    assert decision is not None and decision.applicant is None
    assert _collections(store)[SIGNUPS].docs[str(event.id)]["applicant"] is None


async def test_a_mission_level_violation_bars_only_that_mission() -> None:
    registration, store = await fresh("india-2020", "russia-2020")
    event = signup(foreign(missions=["india-2020", "russia-2020"]))  # an Indian firm, not a Russian one
    await registration.apply_signup(event)
    assert store.types() == ["signup.rejected.v1", "contact.recorded.v1", "company.registered.v1", "enrollment.confirmed.v1"]
    decision = await store.decisions.get(str(event.id))
    assert decision is not None and decision.outcome == "partial" and decision.eligible_missions == ["india-2020"]


async def test_a_second_signup_publishes_only_what_changed() -> None:
    registration, store = await fresh()
    await registration.apply_signup(signup(lombard()))
    same_contact = signup(lombard(offer="Five-axis machining centres"), time=SIGNUP_TIME + timedelta(hours=1))
    await registration.apply_signup(same_contact)
    updated = store.published[-1].event
    assert store.types()[3:] == ["company.updated.v1"]
    assert updated is not None and updated.data.changed_fields == ["offer"]
    new_contact = {"name": "Anna Rossi", "email": "anna@rossi.example", "preferred_language": "it"}
    await registration.apply_signup(
        signup(lombard(offer="Five-axis machining centres", contact=new_contact), time=SIGNUP_TIME + timedelta(hours=2))
    )
    assert store.types()[4:] == ["contact.recorded.v1"]
    company = await store.companies.get(company_of(lombard()))
    assert company is not None and company.version == 3 and company.contact is not None and company.contact.name == "Anna Rossi"


async def test_an_update_event_is_applied_like_a_signup() -> None:
    registration, store = await fresh()
    await registration.apply_signup(signup(lombard()))
    first = signup(lombard(seeking="Agents in Gujarat"))
    update = SignupUpdated.new(source="forms", subject="x", data=first.data, time=SIGNUP_TIME + timedelta(hours=1))
    await registration.apply_signup(update)
    assert store.types()[-1] == "company.updated.v1"


async def test_a_replay_after_the_mission_was_planned_keeps_the_first_decision() -> None:
    registration, store = await fresh("russia-2020")
    event = signup(lombard())  # asks for india-2020, not yet in the catalogue
    await registration.apply_signup(event)
    decided = ["signup.rejected.v1", "contact.recorded.v1", "company.registered.v1"]  # mission.unknown bars only that mission
    assert store.types() == decided
    await registration.plan_mission(mission_planned(mission("india-2020")))
    await registration.apply_signup(event)
    assert store.types() == decided, "the replay must not enroll what the decision on record rejected"


# ---------------------------------------------------------------- withdrawals and operators


async def test_a_withdrawal_cancels_the_enrollment_once() -> None:
    registration, store = await fresh()
    applicant = lombard()
    await registration.apply_signup(signup(applicant))
    order = SignupWithdrawn.new(
        source="forms",
        subject="x",
        data=Withdrawal(company=CompanyRef(partita_iva=applicant.partita_iva), mission_id="india-2020", reason="budget"),
    )
    await registration.withdraw(order)
    await registration.withdraw(order)
    assert store.types()[3:] == ["enrollment.cancelled.v1"]
    cancelled = store.published[-1].event
    assert cancelled is not None and cancelled.data.reason == "withdrawn" and cancelled.data.note == "budget"


async def test_an_operator_approves_a_rejected_signup_and_the_enrollment_says_who_and_why() -> None:
    registration, store = await fresh()
    event = signup(lombard(sede_legale=OUTSIDE_LOMBARDY))
    await registration.apply_signup(event)
    approval = operator(
        SignupApprovedByOperator, OperatorApproval(signup_id=event.id, operator="Giulia Bianchi", reason="moved to Bergamo")
    )
    assert await registration.owner_of(approval) == company_of(event.data.applicant)
    await registration.approve_by_operator(approval)
    await registration.approve_by_operator(approval)
    assert store.types()[2:] == ["contact.recorded.v1", "company.registered.v1", "enrollment.confirmed.v1"]
    confirmed = store.published[-1].event
    assert confirmed is not None and confirmed.data.override is True
    enrollment = (await store.enrollments_of(company_of(event.data.applicant)))[0]
    assert enrollment.override is not None and enrollment.override.operator == "Giulia Bianchi"
    decision = await store.decisions.get(str(event.id))
    assert decision is not None and [o.reason for o in decision.overrides] == ["moved to Bergamo"]


async def test_an_approval_needs_a_known_signup_whose_data_was_kept() -> None:
    registration, _ = await fresh()
    no_consent = signup(lombard(privacy_consent=False))
    await registration.apply_signup(no_consent)
    for signup_id, message in ((no_consent.id, "can no longer be approved"), (signup(lombard()).id, "is unknown")):
        approval = operator(SignupApprovedByOperator, OperatorApproval(signup_id=signup_id, operator="G", reason="r"))
        with pytest.raises(PermanentFailure, match=message):
            await registration.approve_by_operator(approval)


async def test_an_operator_rejection_cancels_and_records_who_and_why() -> None:
    registration, store = await fresh()
    applicant = foreign()
    await registration.apply_signup(signup(applicant))
    order = operator(
        SignupRejectedByOperator,
        OperatorRejection(company_id=company_of(applicant), mission_id="india-2020", operator="Luca Verdi", reason="duplicate firm"),
    )
    await registration.reject_by_operator(order)
    assert store.types()[-1] == "enrollment.cancelled.v1"
    enrollment = (await store.enrollments_of(company_of(applicant)))[0]
    assert enrollment.status == "cancelled" and enrollment.override is not None and enrollment.override.action == "rejected"


# ---------------------------------------------------------------- erasure


async def test_erasure_keeps_statistics_tombstones_the_contact_and_cancels_everything() -> None:
    registration, store = await fresh()
    applicant = lombard()
    first = signup(applicant)
    await registration.apply_signup(first)
    company_id = company_of(applicant)
    order = ErasureRequested.new(
        source="forms",
        subject="x",
        data=ErasureOrder(company=CompanyRef(company_id=company_id), requested_by="dpo"),
        time=SIGNUP_TIME + timedelta(days=3),
    )
    await registration.erase(order)
    await registration.erase(order)
    assert store.types()[3:] == ["tombstone:registration.contacts", "company.erased.v1", "enrollment.cancelled.v1"]
    stored = _collections(store)[COMPANIES].docs[company_id]
    assert "contact" not in stored and set(stored["profile"]) <= {
        "company_id",
        "role",
        "country",
        "province",
        "sectors",
        "size",
        "ateco_code",
        "timezone",
    }
    assert stored["profile"]["province"] == "BG" and stored["natural_key"] == f"erased:{company_id}"
    assert _collections(store)[SIGNUPS].docs[str(first.id)]["applicant"] is None

    again = signup(applicant, time=SIGNUP_TIME + timedelta(days=4))
    await registration.apply_signup(again)
    assert store.types()[6:] == ["contact.recorded.v1", "company.registered.v1", "enrollment.confirmed.v1"]


async def test_erasing_an_unknown_company_still_tells_everyone() -> None:
    registration, store = await fresh()
    order = ErasureRequested.new(
        source="forms", subject="x", data=ErasureOrder(company=CompanyRef(company_id="0000-unknown-company"), requested_by="dpo")
    )
    await registration.erase(order)
    assert store.types() == ["tombstone:registration.contacts", "company.erased.v1"]


# ---------------------------------------------------------------- concurrency


async def test_a_concurrent_write_makes_the_store_load_and_decide_again_without_duplicates() -> None:
    registration, store = await fresh()
    await registration.apply_signup(signup(lombard()))
    company_id = company_of(lombard())
    store.companies.interfere(company_id, times=2)  # type: ignore[attr-defined]
    await registration.apply_signup(signup(lombard(offer="New offer"), time=SIGNUP_TIME + timedelta(hours=1)))
    assert store.types().count("company.updated.v1") == 1
    company = await store.companies.get(company_id)
    assert company is not None and company.profile is not None and company.profile.offer == "New offer"


async def test_a_document_that_never_stops_changing_is_a_contention_to_retry_later() -> None:
    registration, store = await fresh()
    store.companies.interfere(company_of(lombard()), times=100)  # type: ignore[attr-defined]
    with pytest.raises(Contention):
        await registration.apply_signup(signup(lombard()))


async def test_a_new_company_created_meanwhile_by_another_instance_is_updated_not_duplicated() -> None:
    registration, store = await fresh()
    store.companies.interfere(company_of(lombard()), times=1)  # another instance inserts first
    await registration.apply_signup(signup(lombard()))
    company = await store.companies.get(company_of(lombard()))
    assert company is not None and company.version == 2
    assert store.types() == ["enrollment.confirmed.v1"], "the other instance announced the company; this one adds nothing to it"


# ---------------------------------------------------------------- replays of whole histories


def _events(draw: Any) -> list[Envelope[Any]]:
    applicants = [
        lombard(),
        lombard(partita_iva="01234567897"),
        foreign(),
        lombard(sede_legale=OUTSIDE_LOMBARDY),
        lombard(privacy_consent=False),
    ]
    picked = draw(
        st.lists(
            st.tuples(st.integers(0, len(applicants) - 1), st.sampled_from(["signup", "withdraw", "erase", "approve", "offer"])),
            min_size=1,
            max_size=12,
        )
    )
    history: list[Envelope[Any]] = []
    time = SIGNUP_TIME
    for index, action in picked:
        applicant = applicants[index]
        time += timedelta(minutes=5)
        ref = CompanyRef(company_id=company_of(applicant))
        if action == "signup":
            history.append(signup(applicant, time=time))
        elif action == "offer":
            history.append(signup(applicant.model_copy(update={"offer": f"offer at {time:%H%M}"}), time=time))
        elif action == "withdraw":
            history.append(
                SignupWithdrawn.new(source="forms", subject="x", data=Withdrawal(company=ref, mission_id=None, reason=""), time=time)
            )
        elif action == "erase":
            history.append(ErasureRequested.new(source="forms", subject="x", data=ErasureOrder(company=ref, requested_by="dpo"), time=time))
        else:
            earlier = [e for e in history if e.type == "signup.submitted.v1"]
            if earlier:
                approval = OperatorApproval(signup_id=earlier[-1].id, operator="Op", reason="checked")
                history.append(SignupApprovedByOperator.new(source="operators", subject="x", data=approval, time=time))
    return history


async def _apply(registration: Registration, event: Envelope[Any]) -> None:
    match event:
        case SignupWithdrawn():
            await registration.withdraw(event)
        case ErasureRequested():
            await registration.erase(event)
        case SignupApprovedByOperator():
            with contextlib.suppress(PermanentFailure):  # its signup kept no data: dead-lettered in the service
                await registration.approve_by_operator(event)
        case _:
            await registration.apply_signup(event)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
async def test_replaying_any_history_or_any_event_in_it_changes_nothing(data: st.DataObject) -> None:
    history = _events(data.draw)
    hypothesis.assume(history)
    registration, store = await fresh()
    for event in history:
        await _apply(registration, event)
    published = list(store.published)
    state = copy.deepcopy({name: c.docs for name, c in _collections(store).items()})
    replayed = data.draw(st.lists(st.sampled_from(history), max_size=len(history)) | st.just(history))
    for event in replayed:
        await _apply(registration, event)
    assert store.published == published
    assert {name: dict(c.docs) for name, c in _collections(store).items()} == state


def _collections(store: FakeRegistrationStore) -> dict[str, Any]:
    return {SIGNUPS: store.decisions, COMPANIES: store.companies, ENROLLMENTS: store.enrollments}


# ---------------------------------------------------------------- out of order: the latest by event time wins


def _erasure(applicant: Any, at: Any) -> ErasureRequested:
    ref = CompanyRef(company_id=company_of(applicant))
    return ErasureRequested.new(source="forms", subject="x", data=ErasureOrder(company=ref, requested_by="dpo"), time=at)


async def test_an_erasure_wins_over_what_was_handled_before_it_even_with_a_clock_behind() -> None:
    registration, store = await fresh()
    later = signup(lombard(), time=SIGNUP_TIME + timedelta(hours=2))
    await registration.apply_signup(later)
    await registration.erase(_erasure(lombard(), SIGNUP_TIME + timedelta(hours=1)))
    company = await store.companies.get(company_of(lombard()))
    assert company is not None and company.status == "erased" and company.contact is None and company.pending_erasure is None
    assert store.types()[3:] == ["tombstone:registration.contacts", "company.erased.v1", "enrollment.cancelled.v1"]
    decision = await store.decisions.get(str(later.id))
    assert decision is not None and decision.applicant is None


async def test_an_erasure_interrupted_by_a_crash_is_finished_by_its_redelivery() -> None:
    registration, store = await fresh()
    await registration.apply_signup(signup(lombard()))
    erasure = _erasure(lombard(), SIGNUP_TIME + timedelta(days=1))
    enrollments: Any = store.enrollments
    enrollments.interfere(f"{company_of(lombard())}:india-2020", times=100)
    with pytest.raises(Contention):
        await registration.erase(erasure)
    company = await store.companies.get(company_of(lombard()))
    assert company is not None and company.status == "erased" and company.pending_erasure == str(erasure.id)
    enrollments.interfere(f"{company_of(lombard())}:india-2020", times=0)
    await registration.erase(erasure)
    [enrollment] = await store.enrollments_of(company_of(lombard()))
    assert enrollment.status == "cancelled"
    company = await store.companies.get(company_of(lombard()))
    assert company is not None and company.pending_erasure is None


async def test_a_signup_older_than_an_erasure_already_handled_brings_nothing_back() -> None:
    registration, store = await fresh()
    await registration.apply_signup(signup(lombard(), time=SIGNUP_TIME))
    await registration.erase(_erasure(lombard(), SIGNUP_TIME + timedelta(hours=2)))
    late = signup(lombard(offer="sent before the erasure"), time=SIGNUP_TIME + timedelta(hours=1))
    await registration.apply_signup(late)
    company = await store.companies.get(company_of(lombard()))
    assert company is not None and company.status == "erased" and company.contact is None
    assert store.types()[-1] == "enrollment.cancelled.v1", "nothing published after the erasure's own events"
    decision = await store.decisions.get(str(late.id))
    assert decision is not None and decision.applicant is None and decision.erased
    [enrollment] = await store.enrollments_of(company_of(lombard()))
    assert enrollment.status == "cancelled"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
async def test_in_any_delivery_order_an_erased_company_keeps_no_enrollment_and_no_older_personal_data(data: st.DataObject) -> None:
    history = _events(data.draw)
    hypothesis.assume(history)
    delivered = data.draw(st.permutations(history))
    registration, store = await fresh()
    for event in delivered:
        await _apply(registration, event)
    for company in [await store.companies.get(cid) for cid in list(_collections(store)[COMPANIES].docs)]:
        assert company is not None
        if company.status != "erased":
            continue
        assert company.contact is None and company.profile is None
        assert all(e.status == "cancelled" for e in await store.enrollments_of(company.id))
        for decision in await store.decisions_of(company.id):
            assert decision.applicant is None or (decision.signed_at and company.erased_at and decision.signed_at >= company.erased_at)
