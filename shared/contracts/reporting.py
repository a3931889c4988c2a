"""The outcomes of a mission, as matching's read model holds them and CRMs receive them.

Every figure is a count, a sum or a list of ids, so the figures of several missions or
sectors combine exactly: companies are counted once by id, means are taken from sums.
``by_sector`` files a company under its first-listed sector, and a meeting under the
sector of its Lombard company, so the sectors of a mission add up to its total.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.envelope import Contract, Envelope, UtcDatetime
from shared.contracts.ids import CompanyId, MeetingId
from shared.contracts.missions import CountryCode, MissionId

Count = Annotated[int, Field(ge=0, lt=2**31)]
OutcomeKind = Literal["no_further_contact", "negotiation", "contract_signed"]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")]


class Figures(Contract):
    lombard: list[CompanyId] = []
    foreign: list[CompanyId] = []
    invited: list[CompanyId] = []
    """Companies invited to an orientation session for the mission."""
    attended: list[CompanyId] = []
    """Companies that attended one."""
    meetings_requested: Count = 0
    meetings_scheduled: Count = 0
    meetings_held: Count = 0
    """Both sides say it took place, or one does and the other has not answered."""
    meetings_no_show: Count = 0
    """Every answer says it did not take place."""
    contradictory: list[MeetingId] = []
    """One side says it took place, the other that it did not: both answers are kept."""
    satisfaction: dict[Literal["1", "2", "3", "4", "5"], Count] = {}
    """How many answers gave each score."""
    satisfaction_surveys: Count = 0
    """Satisfaction surveys that fell due (one per company and meeting): the response rate's base."""
    outcomes: dict[OutcomeKind, Count] = {}
    """Meetings by business outcome: the furthest either side reports (a contract both report is one)."""
    outcome_surveys: Count = 0
    contract_values: dict[Currency, float] = {}
    """The signed contracts' values, by currency, where given; per meeting, the larger of the two sides' figures."""


class MissionOutcomes(Contract):
    mission_id: MissionId
    edition: Annotated[int, Field(ge=2000, le=2999, description="the year the mission's meetings start")]
    market: str
    country: CountryCode
    total: Figures
    by_sector: dict[str, Figures] = {}
    closed: bool = False
    """Every follow-up of the mission has fallen due and its answer window has passed."""
    as_of: UtcDatetime


class MissionReportPublished(Envelope[MissionOutcomes]):
    """Published once, when a mission's last follow-up closes."""

    type: Literal["mission.report_published.v1"] = "mission.report_published.v1"
