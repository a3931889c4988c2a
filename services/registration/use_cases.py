"""What registration does with each incoming event: load the aggregates, let them decide, save.

A use case may touch several aggregates (decision, company, enrollments). Each save is
idempotent on its own, so a redelivered event re-runs the whole use case safely and
completes whatever a crash interrupted, without emitting anything twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.registration.domain import partita_iva
from services.registration.domain.aggregates import Applicant, Company, Enrollment, Override, Reason, Role, SignupDecision
from services.registration.domain.companies import company_id_for, enrollment_id_for, natural_key, normalise_name
from services.registration.domain.eligibility import assess
from services.registration.store import RegistrationStore
from shared.contracts.crm import CompanyLinked, EnrollmentLinked, RegistrationLink
from shared.contracts.envelope import Envelope
from shared.contracts.missions import MissionPlanned
from shared.contracts.registration import (
    CompanyRef,
    CompanySignupSubmitted,
    ErasureRequested,
    OperatorOverride,
    SignupApprovedByOperator,
    SignupFormEvent,
    SignupRejectedByOperator,
    SignupUpdated,
    SignupWithdrawn,
)
from shared.logging import get_logger
from shared.messaging import PermanentFailure

log = get_logger("outgoing.registration")


@dataclass
class Registration:
    store: RegistrationStore
    instance: str = "local"

    async def plan_mission(self, event: MissionPlanned) -> None:
        await self.store.save_mission(event.data)
        log.info("mission planned", mission_id=event.data.mission_id, status=event.data.status)

    async def owner_of(self, event: SignupFormEvent | OperatorOverride | RegistrationLink) -> str:
        """The company an input is about: the key of its partition on the command topic."""
        match event:
            case CompanyLinked() | EnrollmentLinked():
                return event.data.company_id
            case CompanySignupSubmitted() | SignupUpdated():
                return company_id_for(natural_key(event.data.applicant))
            case SignupWithdrawn() | ErasureRequested():
                return resolve(event.data.company)
            case SignupRejectedByOperator():
                return event.data.company_id
            case SignupApprovedByOperator():
                return (await self._decision(event)).company_id
        raise PermanentFailure(f"no owner for {event.type}")

    async def apply_signup(self, event: CompanySignupSubmitted | SignupUpdated) -> None:
        applicant = event.data.applicant
        verdict = assess(applicant, await self.store.missions(applicant.missions), event.time)
        known = await self.store.companies.get(company_id_for(natural_key(applicant))) if verdict.violations else None
        external_ids = known.external_ids if known is not None else {}
        saved = await self.store.decisions.change(
            str(event.id), lambda d: d or SignupDecision.decide(event, verdict, self.instance, external_ids), insert_first=True
        )
        assert saved is not None
        decision = saved.aggregate
        if saved.written:
            reasons = [v.code for v in decision.violations]
            log.info(
                "signup decided",
                signup_id=decision.id,
                company_id=decision.company_id,
                outcome=decision.outcome,
                reasons=reasons,
                missions=decision.eligible_missions,
            )
        if decision.outcome == "rejected":
            company = await self.store.companies.get(decision.company_id) if decision.applicant is not None else None
        else:
            company = await self._register(event, applicant)
        if company is not None and company.status == "erased" and company.erased_at is not None and event.time < company.erased_at:
            log.warning(
                "signup made before its company's erasure, handled after it: forgotten", signup_id=decision.id, company_id=company.id
            )
            await self.store.decisions.change(decision.id, _forgotten)
            return
        if decision.outcome == "rejected":
            return
        for mission_id in decision.eligible_missions:
            await self._enroll(event, decision.company_id, mission_id, applicant.role, override=None)

    async def withdraw(self, event: SignupWithdrawn) -> None:
        company_id = resolve(event.data.company)
        cancelled = await self._cancel_enrollments(event, company_id, event.data.mission_id, "withdrawn", event.data.reason)
        log.info("signup withdrawn", company_id=company_id, mission_id=event.data.mission_id, cancelled=cancelled)

    async def reject_by_operator(self, event: SignupRejectedByOperator) -> None:
        order = event.data
        cancelled = await self._cancel_enrollments(event, order.company_id, order.mission_id, "operator", order.reason, Override.of(event))
        log.info(
            "operator rejected enrollment",
            company_id=order.company_id,
            mission_id=order.mission_id,
            operator=order.operator,
            reason=order.reason,
            cancelled=cancelled,
        )

    async def approve_by_operator(self, event: SignupApprovedByOperator) -> None:
        """Enrolls a signup the rules turned down, in every mission of the catalogue it asked for."""
        order = event.data
        decision = await self._decision(event)
        applicant = decision.applicant
        if applicant is None:
            raise PermanentFailure(f"signup {order.signup_id} can no longer be approved: its data was erased or never kept")
        await self.store.decisions.change(decision.id, lambda d: _overridden(d, event))
        if (await self._register(event, applicant)).status == "erased":
            return  # the company was erased after this approval was made (by the approval's time)
        override = Override.of(event)
        known = await self.store.missions(applicant.missions)
        for mission_id in (m for m in applicant.missions if m in known):
            against_the_rules = decision.outcome == "rejected" or mission_id not in decision.eligible_missions
            flagged = override if against_the_rules else None
            await self._enroll(event, decision.company_id, mission_id, applicant.role, override=flagged)
        log.info(
            "operator approved signup",
            signup_id=str(order.signup_id),
            company_id=decision.company_id,
            operator=order.operator,
            reason=order.reason,
        )

    async def erase(self, event: ErasureRequested) -> None:
        """GDPR art. 17: keep only statistics, tell everyone else to forget the company too."""
        company_id = resolve(event.data.company)
        saved = await self.store.companies.change(company_id, lambda c: Company.erase(c, event, company_id))
        if saved is None or saved.aggregate.pending_erasure != str(event.id):
            return  # done before: this is a replay, and what came after it stays
        cancelled = await self._cancel_enrollments(event, company_id, None, "erased", "")
        scrubbed = 0
        for decision in await self.store.decisions_of(company_id):
            done = await self.store.decisions.change(decision.id, lambda d: _erased(d, event))
            scrubbed += bool(done and done.written)
        await self.store.companies.change(company_id, lambda c: _erasure_done(c, event))
        log.info("company erased", company_id=company_id, enrollments_cancelled=cancelled, decisions_scrubbed=scrubbed)

    async def link_company(self, event: CompanyLinked) -> None:
        link = event.data
        saved = await self.store.companies.change(link.company_id, lambda c: _linked(c, event))
        if saved is None:
            raise PermanentFailure(f"company {link.company_id} is unknown: a CRM can link only a company it learnt of from our events")
        log.info("company linked", company_id=link.company_id, system=link.system, removed=link.external_id is None)

    async def link_enrollment(self, event: EnrollmentLinked) -> None:
        link = event.data
        enrollment_id = enrollment_id_for(link.company_id, link.mission_id)
        saved = await self.store.enrollments.change(enrollment_id, lambda e: _linked(e, event))
        if saved is None:
            raise PermanentFailure(f"company {link.company_id} has no enrollment in mission {link.mission_id}")
        log.info("enrollment linked", company_id=link.company_id, mission_id=link.mission_id, system=link.system)

    async def _decision(self, event: SignupApprovedByOperator) -> SignupDecision:
        decision = await self.store.decisions.get(str(event.data.signup_id))
        if decision is None:
            raise PermanentFailure(f"signup {event.data.signup_id} is unknown")
        return decision

    async def _register(self, event: Envelope[object], applicant: Applicant) -> Company:
        company_id = company_id_for(natural_key(applicant))
        # Most signups are of new companies: try the insert before any read.
        saved = await self.store.companies.change(company_id, lambda c: Company.register(c, event, applicant), insert_first=True)
        assert saved is not None
        if saved.events:
            what = "company registered" if saved.aggregate.version == 1 else "company updated"
            log.info(what, company_id=company_id, role=applicant.role, events=len(saved.events))
        return saved.aggregate

    async def _enroll(self, event: Envelope[object], company_id: str, mission_id: str, role: Role, override: Override | None) -> None:
        enrollment_id = enrollment_id_for(company_id, mission_id)
        mission = (await self.store.missions([mission_id])).get(mission_id)
        sessions = tuple(await self.store.coming_sessions(mission, after=event.time)) if mission is not None else ()
        saved = await self.store.enrollments.change(
            enrollment_id, lambda e: Enrollment.confirm(e, event, company_id, mission_id, role, override, sessions), insert_first=True
        )
        if saved is not None and saved.events:
            log.info("enrollment confirmed", company_id=company_id, mission_id=mission_id, override=override is not None)

    async def _cancel_enrollments(
        self, event: Envelope[object], company_id: str, mission_id: str | None, reason: Reason, note: str, override: Override | None = None
    ) -> int:
        cancelled = 0
        for enrollment in await self.store.enrollments_of(company_id, mission_id):
            saved = await self.store.enrollments.change(enrollment.id, lambda e: _cancelled(e, event, reason, note, override))
            cancelled += bool(saved and saved.events)
        return cancelled


def _linked(aggregate: Any, event: Any) -> Any:
    if aggregate is not None:
        aggregate.link(event)
    return aggregate


def _overridden(decision: SignupDecision | None, order: SignupApprovedByOperator) -> SignupDecision | None:
    if decision is not None:
        decision.override(order)
    return decision


def _erasure_done(company: Company | None, erasure: ErasureRequested) -> Company | None:
    if company is not None:
        company.erasure_done(erasure)
    return company


def _forgotten(decision: SignupDecision | None) -> SignupDecision | None:
    if decision is not None:
        decision.forget()
    return decision


def _erased(decision: SignupDecision | None, erasure: ErasureRequested) -> SignupDecision | None:
    if decision is not None:
        decision.erase(erasure)
    return decision


def _cancelled(
    enrollment: Enrollment | None, cause: Envelope[object], reason: Reason, note: str, override: Override | None
) -> Enrollment | None:
    if enrollment is not None:
        enrollment.cancel(cause, reason, note, override)
    return enrollment


def resolve(ref: CompanyRef) -> str:
    """The company id a reference names; ids are derived from identity, so no lookup is needed."""
    if ref.company_id is not None:
        return ref.company_id
    if ref.partita_iva is not None:
        return company_id_for(f"it:{partita_iva.normalise(ref.partita_iva)}")
    assert ref.company_name is not None and ref.country is not None
    return company_id_for(f"{ref.country.lower()}:{normalise_name(ref.company_name)}")
