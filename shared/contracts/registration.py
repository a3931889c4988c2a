"""Registration's contracts: what upstream forms and operators send, and what it emits.

Inputs keep loosely-typed the fields whose correctness is an eligibility rule (province,
partita IVA, sector, consent): a bad value there is a *rejection with a reason*, not a
malformed message. Everything else is validated strictly by the schema.

Personal data (the contact person) never travels in the public company events; it is
published only on the compacted contacts topic, keyed by company id, and is tombstoned
on erasure. Every other event refers to companies by id.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import EmailStr, Field, model_validator

from shared.contracts.crm import CompanyLinked, EnrollmentLinked, ExternalIds
from shared.contracts.envelope import Contract, Envelope, UtcDatetime
from shared.contracts.ids import CompanyId
from shared.contracts.internal import OutboxFlushRequested
from shared.contracts.missions import CountryCode, MissionId, TimeZoneName

ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1")]
HsCode = Annotated[str, Field(pattern=r"^\d{4}(\d{2}(\d{2,4})?)?$", description="HS heading, subheading or national line")]
ReasonCode = Annotated[str, Field(pattern=r"^[a-z_]+\.[a-z_]+$")]
CompanyName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
"""No line breaks or control characters: a name ends up in mail headers and calendar files."""
PersonName = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[^\r\n<>]*$")]


class Address(Contract):
    street: Annotated[str, Field(max_length=200)] | None = None
    city: ShortText
    province: Annotated[str, Field(min_length=1, max_length=4)]
    postal_code: Annotated[str, Field(max_length=10)] | None = None


class Product(Contract):
    name: ShortText
    hs_code: HsCode | None = None


class Contact(Contract):
    name: PersonName
    email: EmailStr
    phone: Annotated[str, Field(max_length=30, pattern=r"^\+?[0-9 ().-]{6,30}$")] | None = None
    preferred_language: Literal["it", "en"] | None = None


class Availability(Contract):
    """A span the company can meet in; no spans means any time within business hours."""

    start: UtcDatetime
    end: UtcDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Availability:
        if self.end <= self.start:
            raise ValueError("availability must end after it starts")
        return self


class LombardApplicant(Contract):
    role: Literal["lombard"] = "lombard"
    company_name: CompanyName
    partita_iva: Annotated[str, Field(max_length=20)]
    sede_legale: Address | None = None
    sede_operativa: Address | None = None
    sector: Annotated[str, Field(max_length=60)]
    ateco_code: Annotated[str, Field(pattern=r"^\d{2}(\.\d{1,2}){0,2}$")] | None = None
    size: Literal["micro", "small", "medium", "large"] | None = None
    website: Annotated[str, Field(max_length=200, pattern=r"^https?://\S+$")] | None = None
    products: Annotated[list[Product], Field(max_length=50)] = []
    offer: LongText = ""
    seeking: LongText = ""
    languages: Annotated[list[LanguageCode], Field(min_length=1, max_length=10)]
    contact: Contact
    privacy_consent: bool
    missions: Annotated[list[MissionId], Field(min_length=1, max_length=10)]
    availability: Annotated[list[Availability], Field(max_length=50)] = []


class ForeignApplicant(Contract):
    role: Literal["foreign"] = "foreign"
    company_name: CompanyName
    country: CountryCode
    city: ShortText
    timezone: TimeZoneName
    sectors: Annotated[list[Annotated[str, Field(max_length=60)]], Field(min_length=1, max_length=8)]
    products_sought: Annotated[list[Product], Field(max_length=50)] = []
    offer: LongText = ""
    seeking: LongText = ""
    languages: Annotated[list[LanguageCode], Field(min_length=1, max_length=10)]
    contact: Contact
    privacy_consent: bool
    missions: Annotated[list[MissionId], Field(min_length=1, max_length=10)]
    availability: Annotated[list[Availability], Field(max_length=50)] = []


Applicant = Annotated[LombardApplicant | ForeignApplicant, Field(discriminator="role")]


class Signup(Contract):
    applicant: Applicant


class CompanyRef(Contract):
    """Names a company by id, by partita IVA, or by name and country (foreign partners)."""

    company_id: CompanyId | None = None
    partita_iva: Annotated[str, Field(max_length=20)] | None = None
    company_name: CompanyName | None = None
    country: CountryCode | None = None

    @model_validator(mode="after")
    def _exactly_one_way(self) -> CompanyRef:
        ways = [self.company_id is not None, self.partita_iva is not None, self.company_name is not None]
        if sum(ways) != 1 or (self.company_name is not None) != (self.country is not None):
            raise ValueError("name the company by exactly one of: company_id, partita_iva, or company_name with country")
        return self


class Withdrawal(Contract):
    company: CompanyRef
    mission_id: MissionId | None = Field(None, description="None withdraws from every mission")
    reason: Annotated[str, Field(max_length=500)] = ""


class ErasureRequest(Contract):
    company: CompanyRef
    requested_by: ShortText


class OperatorApproval(Contract):
    """Enroll a rejected signup anyway; ``signup_id`` is the rejected form event's id."""

    signup_id: UUID
    operator: ShortText
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class OperatorRejection(Contract):
    company_id: CompanyId
    mission_id: MissionId | None = None
    operator: ShortText
    reason: Annotated[str, Field(min_length=1, max_length=500)]


# ---------------------------------------------------------------- inputs


class CompanySignupSubmitted(Envelope[Signup]):
    type: Literal["signup.submitted.v1"] = "signup.submitted.v1"


class SignupUpdated(Envelope[Signup]):
    type: Literal["signup.updated.v1"] = "signup.updated.v1"


class SignupWithdrawn(Envelope[Withdrawal]):
    type: Literal["signup.withdrawn.v1"] = "signup.withdrawn.v1"


class ErasureRequested(Envelope[ErasureRequest]):
    """GDPR art. 17: erase the company's personal data everywhere."""

    type: Literal["erasure.requested.v1"] = "erasure.requested.v1"


class SignupApprovedByOperator(Envelope[OperatorApproval]):
    type: Literal["signup.approved_by_operator.v1"] = "signup.approved_by_operator.v1"


class SignupRejectedByOperator(Envelope[OperatorRejection]):
    type: Literal["signup.rejected_by_operator.v1"] = "signup.rejected_by_operator.v1"


SignupFormEvent = Annotated[
    CompanySignupSubmitted | SignupUpdated | SignupWithdrawn | ErasureRequested,
    Field(discriminator="type"),
]
OperatorOverride = Annotated[SignupApprovedByOperator | SignupRejectedByOperator, Field(discriminator="type")]
RegistrationCommand = Annotated[
    CompanySignupSubmitted
    | SignupUpdated
    | SignupWithdrawn
    | ErasureRequested
    | SignupApprovedByOperator
    | SignupRejectedByOperator
    | CompanyLinked
    | EnrollmentLinked
    | OutboxFlushRequested,
    Field(discriminator="type"),
]
"""Everything registration's single writer per company handles, from its internal topic."""


# ---------------------------------------------------------------- outputs


class CompanyProfile(Contract):
    """What CRMs and matching need to know about a company; no personal data."""

    company_id: CompanyId
    role: Literal["lombard", "foreign"]
    company_name: CompanyName
    country: CountryCode
    province: str | None = None
    city: str | None = None
    timezone: TimeZoneName
    sectors: list[str]
    ateco_code: str | None = None
    size: str | None = None
    website: str | None = None
    products: list[Product] = []
    offer: str = ""
    seeking: str = ""
    languages: list[str]
    preferred_language: Literal["it", "en"]
    availability: list[Availability] = []
    external_ids: ExternalIds = {}


class CompanyChange(Contract):
    profile: CompanyProfile
    changed_fields: list[str]


class Violation(Contract):
    code: ReasonCode
    mission_id: MissionId | None = None
    message_it: str
    message_en: str


class Rejection(Contract):
    signup_id: UUID
    company_id: CompanyId | None = None
    role: Literal["lombard", "foreign"]
    violations: Annotated[list[Violation], Field(min_length=1)]
    preferred_language: Literal["it", "en"]
    external_ids: ExternalIds = {}
    """The company's, when it was known already."""


class Enrollment(Contract):
    enrollment_id: str
    company_id: CompanyId
    mission_id: MissionId
    role: Literal["lombard", "foreign"]
    override: bool = False
    external_ids: ExternalIds = {}
    """The enrollment's, as CRMs set them."""


class EnrollmentCancellation(Contract):
    enrollment_id: str
    company_id: CompanyId
    mission_id: MissionId
    reason: Literal["withdrawn", "operator", "erased"]
    note: str = ""
    external_ids: ExternalIds = {}


class Erasure(Contract):
    company_id: CompanyId
    external_ids: ExternalIds = {}
    """Kept through erasure: how a CRM finds the record it must erase."""


class ContactDetails(Contract):
    company_id: CompanyId
    contact: Contact
    preferred_language: Literal["it", "en"]
    external_ids: ExternalIds = {}


class CompanyRegistered(Envelope[CompanyProfile]):
    type: Literal["company.registered.v1"] = "company.registered.v1"


class CompanyUpdated(Envelope[CompanyChange]):
    type: Literal["company.updated.v1"] = "company.updated.v1"


class SignupRejected(Envelope[Rejection]):
    type: Literal["signup.rejected.v1"] = "signup.rejected.v1"


class EnrollmentConfirmed(Envelope[Enrollment]):
    type: Literal["enrollment.confirmed.v1"] = "enrollment.confirmed.v1"


class EnrollmentCancelled(Envelope[EnrollmentCancellation]):
    type: Literal["enrollment.cancelled.v1"] = "enrollment.cancelled.v1"


class CompanyErased(Envelope[Erasure]):
    type: Literal["company.erased.v1"] = "company.erased.v1"


class ContactDetailsRecorded(Envelope[ContactDetails]):
    """Personal data, on the compacted contacts topic only; tombstoned on erasure."""

    type: Literal["contact.recorded.v1"] = "contact.recorded.v1"


RegistrationEvent = Annotated[
    CompanyRegistered | CompanyUpdated | SignupRejected | EnrollmentConfirmed | EnrollmentCancelled | CompanyErased,
    Field(discriminator="type"),
]
