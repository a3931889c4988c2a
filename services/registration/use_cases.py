"""What registration does with each incoming event: domain decisions, then guarded writes.

Each use case may touch several documents (decision, company, enrollments); each write is
idempotent on its own, so a redelivered event re-runs the whole use case safely and
completes whatever a crash interrupted, without emitting anything twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from services.registration.domain import partita_iva
from services.registration.domain.companies import (
    changed_fields,
    company_id_for,
    enrollment_id_for,
    natural_key,
    normalise_name,
    preferred_language,
    profile_of,
    statistical_remainder,
)
from services.registration.domain.eligibility import assess
from services.registration.store import APPLIED, COMPANIES, RegistrationStore
from shared.contracts.envelope import Envelope
from shared.contracts.missions import MissionPlanned
from shared.contracts.registration import (
    Applicant,
    CompanyChange,
    CompanyErased,
    CompanyRef,
    CompanyRegistered,
    CompanySignupSubmitted,
    CompanyUpdated,
    ContactDetails,
    ContactDetailsRecorded,
    Enrollment,
    EnrollmentCancellation,
    EnrollmentCancelled,
    EnrollmentConfirmed,
    Erasure,
    ErasureRequested,
    ForeignApplicant,
    LombardApplicant,
    OperatorOverride,
    Rejection,
    SignupApprovedByOperator,
    SignupFormEvent,
    SignupRejected,
    SignupRejectedByOperator,
    SignupUpdated,
    SignupWithdrawn,
)
from shared.contracts.topics import Topic
from shared.logging import get_logger
from shared.messaging import Contention, PermanentFailure
from shared.outbox import pending, tombstone

log = get_logger("outgoing.registration")
SOURCE = "registration"
APPLICANT = TypeAdapter(Applicant)
MAX_ATTEMPTS = 8


@dataclass
class Registration:
    store: RegistrationStore
    instance: str = "local"

    # ------------------------------------------------------------ catalogue

    async def plan_mission(self, event: MissionPlanned) -> None:
        await self.store.save_mission(event.payload)
        log.info("mission planned", mission_id=event.payload.mission_id, status=event.payload.status)

    # ------------------------------------------------------------ routing

    async def owner_of(self, event: SignupFormEvent | OperatorOverride) -> str:
        """The company an input is about: the key of its partition on the command topic."""
        match event:
            case CompanySignupSubmitted() | SignupUpdated():
                return company_id_for(natural_key(event.payload.applicant))
            case SignupWithdrawn() | ErasureRequested():
                return resolve(event.payload.company)
            case SignupRejectedByOperator():
                return event.payload.company_id
            case SignupApprovedByOperator():
                decision = await self.store.decision(str(event.payload.signup_id))
                if decision is None:
                    raise PermanentFailure(f"signup {event.payload.signup_id} is unknown")
                return str(decision["company_id"])
        raise PermanentFailure(f"no owner for {event.type}")

    # ------------------------------------------------------------ signups

    async def apply_signup(self, event: CompanySignupSubmitted | SignupUpdated) -> None:
        applicant = event.payload.applicant
        key = natural_key(applicant)
        company_id = company_id_for(key)
        verdict = assess(applicant, await self.store.missions(applicant.missions), event.time)
        language = preferred_language(applicant)

        outbox: list[dict[str, Any]] = []
        if verdict.violations:
            if not verdict.company_accepted and applicant.privacy_consent:
                outbox.append(self._contact_event(event, company_id, applicant))
            rejection = Rejection(
                signup_id=event.id, company_id=company_id, role=applicant.role, violations=verdict.violations, preferred_language=language
            )
            outbox.append(pending(Topic.REGISTRATION_EVENTS, SignupRejected.caused_by(event, source=SOURCE, subject=company_id, payload=rejection)))
        decision = {
            "kind": event.type,
            "company_id": company_id,
            "role": applicant.role,
            "outcome": "accepted" if not verdict.violations else ("partial" if verdict.company_accepted else "rejected"),
            "violations": [v.model_dump(mode="json") for v in verdict.violations],
            "eligible_missions": verdict.eligible_missions,
            "decided_by": self.instance,
            # Kept for operator overrides; without consent, nothing personal is kept.
            "applicant": _storable(applicant),
        }
        first_time = await self.store.record_decision(str(event.id), decision, outbox)
        if first_time:
            log.info(
                "signup decided",
                signup_id=str(event.id),
                company_id=company_id,
                outcome=decision["outcome"],
                reasons=[v.code for v in verdict.violations],
                missions=verdict.eligible_missions,
            )
        else:
            # A replay finishes what the first handling decided; the catalogue may have
            # changed since, and re-assessing would act against the decision on record.
            stored = await self.store.decision(str(event.id)) or decision
            decision = {**decision, "outcome": stored.get("outcome"), "eligible_missions": stored.get("eligible_missions", [])}
        if decision["outcome"] != "rejected":
            await self._register_company(event, company_id, key, applicant)
            for mission_id in decision["eligible_missions"]:
                await self._enroll(event, company_id, mission_id, applicant.role, override=None)

    async def _register_company(self, event: Envelope[Any], company_id: str, key: str, applicant: LombardApplicant | ForeignApplicant) -> None:
        profile = profile_of(company_id, applicant)
        profile_doc = profile.model_dump(mode="json")
        contact_doc = applicant.contact.model_dump(mode="json")
        registered = pending(
            Topic.REGISTRATION_EVENTS, CompanyRegistered.caused_by(event, source=SOURCE, subject=company_id, payload=profile)
        )
        existing: dict[str, Any] | None = None
        for attempt in range(MAX_ATTEMPTS):
            if attempt > 0:  # most signups are of new companies: try the insert before any read
                existing = await self.store.company(company_id)
            if existing is None:
                doc = {"_id": company_id, "natural_key": key, "status": "active", "profile": profile_doc, "contact": contact_doc}
                if await self.store.create_company(doc, str(event.id), [self._contact_event(event, company_id, applicant), registered]):
                    log.info("company registered", company_id=company_id, role=applicant.role)
                    return
                continue
            if str(event.id) in existing.get(APPLIED, []):
                self.store.touch(COMPANIES, company_id)
                return
            changes = {"natural_key": key, "status": "active", "profile": profile_doc, "contact": contact_doc}
            if existing.get("status") == "erased":
                outbox = [self._contact_event(event, company_id, applicant), registered]
            else:
                changed = changed_fields(existing.get("profile", {}), profile_doc)
                outbox = []
                if existing.get("contact") != contact_doc:
                    outbox.append(self._contact_event(event, company_id, applicant))
                if changed:
                    change = CompanyChange(profile=profile, changed_fields=changed)
                    outbox.append(pending(Topic.REGISTRATION_EVENTS, CompanyUpdated.caused_by(event, source=SOURCE, subject=company_id, payload=change)))
            if await self.store.update_company(company_id, existing["version"], str(event.id), changes, outbox):
                log.info("company updated", company_id=company_id, events=len(outbox))
                return
        raise Contention(f"company {company_id} kept changing under this update")

    def _contact_event(self, event: Envelope[Any], company_id: str, applicant: LombardApplicant | ForeignApplicant) -> dict[str, Any]:
        language = preferred_language(applicant)
        details = ContactDetails(company_id=company_id, contact=applicant.contact, preferred_language=language)
        return pending(Topic.CONTACTS, ContactDetailsRecorded.caused_by(event, source=SOURCE, subject=company_id, payload=details))

    async def _enroll(self, event: Envelope[Any], company_id: str, mission_id: str, role: str, override: dict[str, Any] | None) -> None:
        enrollment_id = enrollment_id_for(company_id, mission_id)
        enrollment = Enrollment(enrollment_id=enrollment_id, company_id=company_id, mission_id=mission_id, role=role, override=override is not None)
        confirmed = EnrollmentConfirmed.caused_by(event, source=SOURCE, subject=mission_id, payload=enrollment, discriminator=company_id)
        doc = {"_id": enrollment_id, "company_id": company_id, "mission_id": mission_id, "role": role, "override": override}
        if await self.store.confirm_enrollment(doc, str(event.id), [pending(Topic.REGISTRATION_EVENTS, confirmed)]):
            log.info("enrollment confirmed", company_id=company_id, mission_id=mission_id, override=override is not None)

    # ------------------------------------------------------------ withdrawals and overrides

    async def withdraw(self, event: SignupWithdrawn) -> None:
        company_id = resolve(event.payload.company)
        cancelled = await self._cancel_enrollments(event, company_id, event.payload.mission_id, "withdrawn", event.payload.reason, {})
        log.info("signup withdrawn", company_id=company_id, mission_id=event.payload.mission_id, cancelled=cancelled)

    async def reject_by_operator(self, event: SignupRejectedByOperator) -> None:
        order = event.payload
        record = {"override": {"action": "rejected", "operator": order.operator, "reason": order.reason, "at": event.time, "event_id": str(event.id)}}
        cancelled = await self._cancel_enrollments(event, order.company_id, order.mission_id, "operator", order.reason, record)
        log.info("operator rejected enrollment", company_id=order.company_id, mission_id=order.mission_id, operator=order.operator, reason=order.reason, cancelled=cancelled)

    async def approve_by_operator(self, event: SignupApprovedByOperator) -> None:
        order = event.payload
        decision = await self.store.decision(str(order.signup_id))
        if decision is None:
            raise PermanentFailure(f"signup {order.signup_id} is unknown")
        if not decision.get("applicant"):
            raise PermanentFailure(f"signup {order.signup_id} can no longer be approved: its data was erased or never kept")
        applicant = APPLICANT.validate_json(_dumps(decision["applicant"]))
        key = natural_key(applicant)
        company_id = company_id_for(key)
        missions = await self.store.missions(applicant.missions)
        override = {"action": "approved", "operator": order.operator, "reason": order.reason, "at": event.time, "event_id": str(event.id), "signup_id": str(order.signup_id)}
        await self.store.record_override(str(order.signup_id), override)
        await self._register_company(event, company_id, key, applicant)
        for mission_id in applicant.missions:
            if mission_id in missions:
                flagged = override if mission_id not in decision.get("eligible_missions", []) else None
                await self._enroll(event, company_id, mission_id, applicant.role, override=flagged)
        log.info("operator approved signup", signup_id=str(order.signup_id), company_id=company_id, operator=order.operator, reason=order.reason)

    async def _cancel_enrollments(
        self, event: Envelope[Any], company_id: str, mission_id: str | None, reason: str, note: str, changes: dict[str, Any]
    ) -> int:
        cancelled = 0
        for enrollment in await self.store.enrollments_of(company_id, mission_id):
            payload = EnrollmentCancellation(
                enrollment_id=enrollment["_id"], company_id=company_id, mission_id=enrollment["mission_id"], reason=reason, note=note
            )
            message = EnrollmentCancelled.caused_by(event, source=SOURCE, subject=enrollment["mission_id"], payload=payload, discriminator=company_id)
            if await self.store.cancel_enrollment(enrollment["_id"], str(event.id), changes, [pending(Topic.REGISTRATION_EVENTS, message)]):
                cancelled += 1
        return cancelled

    # ------------------------------------------------------------ erasure

    async def erase(self, event: ErasureRequested) -> None:
        """GDPR art. 17: keep only statistics, tell everyone else to forget the company too."""
        company_id = resolve(event.payload.company)
        erased = CompanyErased.caused_by(event, source=SOURCE, subject=company_id, payload=Erasure(company_id=company_id))
        outbox = [tombstone(Topic.CONTACTS, company_id), pending(Topic.REGISTRATION_EVENTS, erased)]
        for _ in range(MAX_ATTEMPTS):
            existing = await self.store.company(company_id)
            if existing is None:
                doc = {"_id": company_id, "natural_key": f"erased:{company_id}", "status": "erased", "profile": {"company_id": company_id}}
                if await self.store.create_company(doc, str(event.id), outbox):
                    break
                continue
            if existing.get("status") == "erased" or str(event.id) in existing.get(APPLIED, []):
                break
            changes = {"status": "erased", "natural_key": f"erased:{company_id}", "profile": statistical_remainder(existing.get("profile", {})), "erased_at": datetime.now(UTC)}
            if await self.store.update_company(company_id, existing["version"], str(event.id), changes, outbox, unset=["contact"]):
                break
        else:
            raise Contention(f"company {company_id} kept changing during erasure")
        await self._cancel_enrollments(event, company_id, None, "erased", "", {})
        scrubbed = await self.store.scrub_decisions(company_id)
        log.info("company erased", company_id=company_id, decisions_scrubbed=scrubbed)


def resolve(ref: CompanyRef) -> str:
    """The company id a reference names; ids are derived from identity, so no lookup is needed."""
    if ref.company_id is not None:
        return ref.company_id
    if ref.partita_iva is not None:
        return company_id_for(f"it:{partita_iva.normalise(ref.partita_iva)}")
    assert ref.company_name is not None and ref.country is not None
    return company_id_for(f"{ref.country.lower()}:{normalise_name(ref.company_name)}")


def _storable(applicant: LombardApplicant | ForeignApplicant) -> dict[str, Any] | None:
    return applicant.model_dump(mode="json") if applicant.privacy_consent else None


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)
