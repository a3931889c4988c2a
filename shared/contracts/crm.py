"""What CRMs send us: their own ids for our companies, enrollments and meetings.

A CRM learns our ids from our events (``company.registered.v1``, ``enrollment.confirmed.v1``,
``meeting.scheduled.v1``), creates its own records, and tells us its id for each on the
``crm.links`` topic. From then on every event about that company, enrollment or meeting
carries ``external_ids``: the CRM's system name mapped to its id. An ``external_id`` of
null removes the CRM's id. External ids are not personal data: erasure keeps them, so the
CRM can find the record that ``company.erased.v1`` asks it to erase.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.envelope import Contract, Envelope
from shared.contracts.ids import CompanyId, MeetingId
from shared.contracts.missions import MissionId

CrmSystem = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,39}$", description="The CRM's name, e.g. salesforce-lombardia")]
ExternalId = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$", description="The CRM's own id: printable ASCII, no spaces")
]
ExternalIds = Annotated[dict[CrmSystem, ExternalId], Field(max_length=8, description="CRM system -> that CRM's id for this entity")]
MAX_SYSTEMS = 8
"""At most this many CRMs may name one entity: the map travels on every event about it."""


class CompanyLink(Contract):
    company_id: CompanyId
    system: CrmSystem
    external_id: ExternalId | None


class EnrollmentLink(Contract):
    """An enrollment is a company's place in one mission: named by both."""

    company_id: CompanyId
    mission_id: MissionId
    system: CrmSystem
    external_id: ExternalId | None


class MeetingLink(Contract):
    mission_id: MissionId
    meeting_id: MeetingId
    system: CrmSystem
    external_id: ExternalId | None


class CompanyLinked(Envelope[CompanyLink]):
    type: Literal["company.external_id_set.v1"] = "company.external_id_set.v1"


class EnrollmentLinked(Envelope[EnrollmentLink]):
    type: Literal["enrollment.external_id_set.v1"] = "enrollment.external_id_set.v1"


class MeetingLinked(Envelope[MeetingLink]):
    type: Literal["meeting.external_id_set.v1"] = "meeting.external_id_set.v1"


RegistrationLink = Annotated[CompanyLinked | EnrollmentLinked, Field(discriminator="type")]
"""The links registration keeps: companies and enrollments."""


def with_link(current: dict[str, str], system: str, external_id: str | None) -> dict[str, str]:
    """``current`` with ``system`` set to ``external_id``, or removed when it is None."""
    updated = {k: v for k, v in current.items() if k != system}
    if external_id is not None:
        updated[system] = external_id
    return dict(sorted(updated.items()))
