"""Registration's aggregates: a signup's decision, a company, an enrollment.

Each method decides and records the events its decision causes; the store saves the state
and those events in one write. Every method is idempotent per causing event: the ids of
applied events travel with the state, and a replay records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.registration.domain.companies import (
    changed_fields,
    company_id_for,
    enrollment_id_for,
    natural_key,
    preferred_language,
    profile_of,
    statistical_remainder,
)
from services.registration.domain.eligibility import Verdict
from services.registration.domain.overrides import Override
from shared.aggregate import Aggregate, Refused
from shared.contracts import crm
from shared.contracts import registration as events
from shared.contracts import sessions as session_events
from shared.contracts.envelope import Envelope
from shared.contracts.topics import Topic

SOURCE = "/outgoing/registration"
Applicant = events.LombardApplicant | events.ForeignApplicant
Role = Literal["lombard", "foreign"]
Reason = Literal["withdrawn", "operator", "erased"]


def contact_recorded(
    cause: Envelope[Any], company_id: str, applicant: Applicant, external_ids: dict[str, str]
) -> events.ContactDetailsRecorded:
    details = events.ContactDetails(
        company_id=company_id, contact=applicant.contact, preferred_language=preferred_language(applicant), external_ids=external_ids
    )
    recorded: events.ContactDetailsRecorded = events.ContactDetailsRecorded.caused_by(
        cause, source=SOURCE, subject=company_id, data=details
    )
    return recorded


@dataclass(kw_only=True)
class SignupDecision(Aggregate):
    """Made once per signup. A replay finishes what it decided, even if the catalogue changed since:
    re-assessing would act against the decision on record."""

    kind: str
    company_id: str
    role: Role
    outcome: Literal["accepted", "partial", "rejected"]
    violations: list[events.Violation]
    eligible_missions: list[str]
    decided_by: str
    applicant: Applicant | None
    """Kept for operator overrides, and only with consent; erasure removes it."""
    overrides: list[Override] = field(default_factory=list)
    erased: bool = False
    signed_at: datetime | None = None
    """The signup's own time: an erasure removes the data of signups made before it."""

    @classmethod
    def decide(
        cls,
        signup: events.CompanySignupSubmitted | events.SignupUpdated,
        verdict: Verdict,
        decided_by: str,
        external_ids: dict[str, str] | None = None,
    ) -> SignupDecision:
        """``external_ids``: the CRMs' ids of the company, if it is known already; a rejection carries them."""
        applicant = signup.data.applicant
        company_id = company_id_for(natural_key(applicant))
        outcome: Literal["accepted", "partial", "rejected"] = "accepted"
        if verdict.violations:
            outcome = "partial" if verdict.company_accepted else "rejected"
        decision = cls(
            id=str(signup.id),
            kind=signup.type,
            company_id=company_id,
            role=applicant.role,
            outcome=outcome,
            violations=list(verdict.violations),
            eligible_missions=list(verdict.eligible_missions),
            decided_by=decided_by,
            applicant=applicant if applicant.privacy_consent else None,
            signed_at=signup.time,
        )
        decision.applying(signup)
        if verdict.violations:
            if not verdict.company_accepted and applicant.privacy_consent:
                decision.record(Topic.CONTACTS, contact_recorded(signup, company_id, applicant, external_ids or {}))
            rejection = events.Rejection(
                signup_id=signup.id,
                company_id=company_id,
                role=applicant.role,
                violations=verdict.violations,
                preferred_language=preferred_language(applicant),
                external_ids=external_ids or {},
            )
            decision.record(
                Topic.REGISTRATION_EVENTS, events.SignupRejected.caused_by(signup, source=SOURCE, subject=company_id, data=rejection)
            )
        return decision

    def forget(self) -> None:
        """For a signup older than its company's erasure, handled after it."""
        if self.applicant is not None or not self.erased:
            self.applicant, self.erased, self.changed = None, True, True

    def erase(self, cause: events.ErasureRequested) -> None:
        """Keeps the outcome for statistics; forgets the applicant."""
        if self.erased or self.has_applied(cause):
            return
        self.applicant, self.erased = None, True
        self.applying(cause)

    def override(self, order: events.SignupApprovedByOperator) -> None:
        if any(o.event_id == str(order.id) for o in self.overrides):
            return
        self.overrides.append(Override.of(order))
        self.applying(order)


@dataclass(kw_only=True)
class Company(Aggregate):
    """A company known by its identity (partita IVA, or name and country): one record however
    often it signs up. Erasure keeps only what statistics need.

    An erasure wins over whatever was handled before it, whatever the times say: a clock
    running behind must not keep personal data. A signup handled after an erasure but made
    before it (by its own time) brings nothing back."""

    natural_key: str
    status: Literal["active", "erased"]
    profile: events.CompanyProfile | None
    contact: events.Contact | None
    statistics: dict[str, Any] | None = None
    """What erasure kept of the profile."""
    erased_at: datetime | None = None
    pending_erasure: str | None = None
    """The erasure whose cancellations and scrubbing are not done yet: a redelivery after a
    crash finishes them; a replay after they were done does nothing."""
    external_ids: dict[str, str] = field(default_factory=dict)
    """The CRMs' ids for this company; not personal data, so erasure keeps them."""

    @classmethod
    def register(cls, current: Company | None, cause: Envelope[Any], applicant: Applicant) -> Company:
        """Created by a first signup; updated by later ones, with an event only for what changed."""
        key = natural_key(applicant)
        company_id = company_id_for(key)
        profile = profile_of(company_id, applicant)
        if current is None:
            company = cls(id=company_id, natural_key=key, status="active", profile=profile, contact=applicant.contact)
            company.applying(cause)
            company.record(Topic.CONTACTS, contact_recorded(cause, company_id, applicant, {}))
            company.record(
                Topic.REGISTRATION_EVENTS, events.CompanyRegistered.caused_by(cause, source=SOURCE, subject=company_id, data=profile)
            )
            return company
        current.sign_up_again(cause, applicant, key, profile)
        return current

    def sign_up_again(self, cause: Envelope[Any], applicant: Applicant, key: str, profile: events.CompanyProfile) -> None:
        if self.has_applied(cause):
            return
        profile = profile.model_copy(update={"external_ids": self.external_ids})
        if self.status == "erased" and self.erased_at is not None and cause.time < self.erased_at:
            self.applying(cause)  # made before the erasure: noted, and it changes nothing
            return
        was_erased, before, contact_before = self.status == "erased", self.profile, self.contact
        self.natural_key, self.status, self.profile, self.contact, self.statistics = key, "active", profile, applicant.contact, None
        self.applying(cause)
        if was_erased or before is None:
            self.record(Topic.CONTACTS, contact_recorded(cause, self.id, applicant, self.external_ids))
            self.record(Topic.REGISTRATION_EVENTS, events.CompanyRegistered.caused_by(cause, source=SOURCE, subject=self.id, data=profile))
            return
        if contact_before != applicant.contact:
            self.record(Topic.CONTACTS, contact_recorded(cause, self.id, applicant, self.external_ids))
        changed = changed_fields(before.model_dump(mode="json"), profile.model_dump(mode="json"))
        if changed:
            change = events.CompanyChange(profile=profile, changed_fields=changed)
            self.record(Topic.REGISTRATION_EVENTS, events.CompanyUpdated.caused_by(cause, source=SOURCE, subject=self.id, data=change))

    @classmethod
    def erase(cls, current: Company | None, cause: events.ErasureRequested, company_id: str) -> Company:
        """GDPR art. 17. An unknown company is recorded as erased too, so that every service is told."""
        if current is None:
            current = cls(id=company_id, natural_key="", status="active", profile=None, contact=None)
        elif current.has_applied(cause):
            return current
        elif current.status == "erased":
            current.applying(cause)  # noted, so that replayed after a new signup it erases nothing
            return current
        kept = current.profile.model_dump(mode="json") if current.profile else {"company_id": company_id}
        current.natural_key, current.status, current.statistics = f"erased:{company_id}", "erased", statistical_remainder(kept)
        current.profile, current.contact, current.erased_at, current.pending_erasure = None, None, cause.time, str(cause.id)
        current.applying(cause)
        current.record_tombstone(Topic.CONTACTS, company_id)
        erasure = events.Erasure(company_id=company_id, external_ids=current.external_ids)
        erased = events.CompanyErased.caused_by(cause, source=SOURCE, subject=company_id, data=erasure)
        current.record(Topic.REGISTRATION_EVENTS, erased)
        return current

    def erasure_done(self, cause: events.ErasureRequested) -> None:
        if self.pending_erasure == str(cause.id):
            self.pending_erasure, self.changed = None, True

    def link(self, cause: crm.CompanyLinked) -> None:
        """A CRM's id for this company, carried by every later event about it, starting with a
        ``company.updated.v1`` that tells the other services and confirms it to the CRM."""
        if self.has_applied(cause):
            return
        before = self.external_ids
        self.external_ids = linked(self.external_ids, cause.data.system, cause.data.external_id)
        self.applying(cause)
        if self.profile is not None and self.external_ids != before:
            self.profile = self.profile.model_copy(update={"external_ids": self.external_ids})
            change = events.CompanyChange(profile=self.profile, changed_fields=["external_ids"])
            self.record(Topic.REGISTRATION_EVENTS, events.CompanyUpdated.caused_by(cause, source=SOURCE, subject=self.id, data=change))


def linked(current: dict[str, str], system: str, external_id: str | None) -> dict[str, str]:
    ids = crm.with_link(current, system, external_id)
    if len(ids) > crm.MAX_SYSTEMS:
        raise Refused(f"at most {crm.MAX_SYSTEMS} CRM systems may name one entity; {system!r} would be one more")
    return ids


@dataclass(kw_only=True)
class Enrollment(Aggregate):
    """A company's place in one mission.

    Signups and withdrawals can reach it out of order: from different partitions of the
    forms topic, or replayed after a crash behind events that followed them. The latest by
    event time wins, so a withdrawal replayed after a later signup cancels nothing."""

    company_id: str
    mission_id: str
    role: Role
    status: Literal["confirmed", "cancelled"]
    override: Override | None = None
    changed_at: datetime | None = None
    """The time of the event behind the current status."""
    external_ids: dict[str, str] = field(default_factory=dict)

    def _stale(self, cause: Envelope[Any]) -> bool:
        return self.has_applied(cause) or (self.changed_at is not None and cause.time < self.changed_at)

    @classmethod
    def confirm(
        cls,
        current: Enrollment | None,
        cause: Envelope[Any],
        company_id: str,
        mission_id: str,
        role: Role,
        override: Override | None,
        sessions: tuple[str, ...] = (),
    ) -> Enrollment:
        """Creates or re-confirms; an enrollment already confirmed records nothing. ``sessions``:
        the mission's orientation sessions still to come, whose writers are asked to invite the company."""
        if current is None:
            current = cls(
                id=enrollment_id_for(company_id, mission_id), company_id=company_id, mission_id=mission_id, role=role, status="cancelled"
            )
        elif current.status == "confirmed" or current._stale(cause):
            return current
        current.role, current.override, current.status, current.changed_at = role, override, "confirmed", cause.time
        current.applying(cause)
        payload = events.Enrollment(
            enrollment_id=current.id,
            company_id=company_id,
            mission_id=mission_id,
            role=role,
            override=override is not None,
            external_ids=current.external_ids,
        )
        current.record(
            Topic.REGISTRATION_EVENTS,
            events.EnrollmentConfirmed.caused_by(cause, source=SOURCE, subject=mission_id, data=payload, discriminator=company_id),
        )
        for session_id in sessions:
            request = session_events.InviteRequest(session_id=session_id, company_id=company_id, enrolled_at=cause.time)
            current.record(
                Topic.REGISTRATION_COMMANDS,
                session_events.SessionInviteRequested.caused_by(
                    cause, source=SOURCE, subject=session_id, data=request, discriminator=company_id
                ),
            )
        return current

    def cancel(self, cause: Envelope[Any], reason: Reason, note: str = "", override: Override | None = None) -> bool:
        """False when there was nothing to cancel."""
        if self.status != "confirmed" or (self._stale(cause) and reason != "erased"):
            return False
        self.status, self.changed_at = "cancelled", cause.time
        if override is not None:
            self.override = override
        self.applying(cause)
        payload = events.EnrollmentCancellation(
            enrollment_id=self.id,
            company_id=self.company_id,
            mission_id=self.mission_id,
            reason=reason,
            note=note,
            external_ids=self.external_ids,
        )
        self.record(
            Topic.REGISTRATION_EVENTS,
            events.EnrollmentCancelled.caused_by(
                cause, source=SOURCE, subject=self.mission_id, data=payload, discriminator=self.company_id
            ),
        )
        return True

    def link(self, cause: crm.EnrollmentLinked) -> None:
        """A CRM's id for this enrollment, carried by every later event about it."""
        if not self.has_applied(cause):
            self.external_ids = linked(self.external_ids, cause.data.system, cause.data.external_id)
            self.applying(cause)
