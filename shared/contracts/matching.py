"""Matching's contracts: meeting requests from forms, operator commands, and what it emits.

Every mission-scoped event is keyed (``subject``) by mission id, so one consumer handles
one mission's events in order: the single writer of that mission's agenda. Events refer
to companies by id only; names and contacts stay with registration and notifications.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from shared.contracts.crm import ExternalIds
from shared.contracts.envelope import Contract, Envelope, UtcDatetime
from shared.contracts.ids import CompanyId, MeetingId
from shared.contracts.missions import MissionId, TimeZoneName
from shared.contracts.registration import ShortText

FollowUpKind = Literal["attendance", "satisfaction", "outcome"]


# ---------------------------------------------------------------- inputs: upstream forms


class MeetingRequest(Contract):
    """One company asks to meet another in a mission; ``request_id`` is upstream's form id."""

    request_id: Annotated[str, Field(min_length=1, max_length=100)]
    mission_id: MissionId
    requester_id: CompanyId
    target_id: CompanyId
    note: Annotated[str, Field(max_length=1000)] = ""

    @model_validator(mode="after")
    def _two_companies(self) -> MeetingRequest:
        if self.requester_id == self.target_id:
            raise ValueError("a company cannot request a meeting with itself")
        return self


class MeetingRequestAnswer(Contract):
    request_id: Annotated[str, Field(min_length=1, max_length=100)]
    mission_id: MissionId
    answered_by: CompanyId
    answer: Literal["accepted", "declined"]


class FollowUpAnswer(Contract):
    """A participant's answer to a follow-up form (attendance, satisfaction, outcome)."""

    meeting_id: MeetingId
    mission_id: MissionId
    company_id: CompanyId
    kind: FollowUpKind
    attended: bool | None = None
    satisfaction: Annotated[int, Field(ge=1, le=5)] | None = None
    contract_signed: bool | None = None
    under_negotiation: bool | None = None
    outcome: Literal["no_further_contact", "negotiation", "contract_signed"] | None = None
    """The business outcome, for kind ``outcome``; older forms say it with the two booleans above."""
    contract_value: Annotated[float, Field(ge=0, lt=1e15)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217")] | None = None
    comment: Annotated[str, Field(max_length=2000)] = ""
    token: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    """The token of the survey's link: matching accepts an answer only with it (shared/links.py)."""


class MeetingRequested(Envelope[MeetingRequest]):
    type: Literal["meeting.requested.v1"] = "meeting.requested.v1"


class MeetingRequestAnswered(Envelope[MeetingRequestAnswer]):
    type: Literal["meeting.request_answered.v1"] = "meeting.request_answered.v1"


class FollowUpAnswered(Envelope[FollowUpAnswer]):
    type: Literal["followup.answered.v1"] = "followup.answered.v1"


MeetingFormEvent = Annotated[MeetingRequested | MeetingRequestAnswered | FollowUpAnswered, Field(discriminator="type")]


# ---------------------------------------------------------------- inputs: operators


class PairOrder(Contract):
    mission_id: MissionId
    lombard_id: CompanyId
    foreign_id: CompanyId
    operator: ShortText
    reason: Annotated[str, Field(min_length=1, max_length=500)]


MAX_SOLVE_S = 480
"""The longest solve an operator may ask for. The solve runs inside the consumer that
handles the command, which Kafka evicts from its group after 10 minutes without a poll
(shared/messaging.py MAX_POLL_INTERVAL_MS); a sibling would then solve the same command again."""


class ScheduleRequest(Contract):
    mission_id: MissionId
    operator: ShortText
    time_limit_s: Annotated[float, Field(gt=0, le=MAX_SOLVE_S)] = 30.0
    fairness: Annotated[int, Field(ge=0, le=100)] | None = None


class TimeSpan(Contract):
    start: UtcDatetime
    end: UtcDatetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeSpan:
        if self.end <= self.start:
            raise ValueError("a span must end after it starts")
        return self


class AvailabilityChange(Contract):
    """The spans in which a participant cannot meet; each change replaces the previous list."""

    mission_id: MissionId
    company_id: CompanyId
    unavailable: Annotated[list[TimeSpan], Field(max_length=200)]
    operator: ShortText


class PairForcedByOperator(Envelope[PairOrder]):
    type: Literal["pair.forced_by_operator.v1"] = "pair.forced_by_operator.v1"


class PairForbiddenByOperator(Envelope[PairOrder]):
    type: Literal["pair.forbidden_by_operator.v1"] = "pair.forbidden_by_operator.v1"


class ScheduleRequested(Envelope[ScheduleRequest]):
    """The operator's command that (re)builds a mission's agenda."""

    type: Literal["mission.schedule_requested.v1"] = "mission.schedule_requested.v1"


class AvailabilityChanged(Envelope[AvailabilityChange]):
    type: Literal["availability.changed.v1"] = "availability.changed.v1"


MatchingOperatorCommand = Annotated[
    PairForcedByOperator | PairForbiddenByOperator | ScheduleRequested | AvailabilityChanged, Field(discriminator="type")
]


# ---------------------------------------------------------------- outputs


class Proposal(Contract):
    partner_id: CompanyId
    score: float
    reasons: list[str]
    requested: Literal["none", "by_company", "by_partner", "mutual"] = "none"
    forced: bool = False


class MatchList(Contract):
    mission_id: MissionId
    company_id: CompanyId
    proposals: list[Proposal]
    external_ids: ExternalIds = {}
    """The company's."""


class LocalTime(Contract):
    """One participant's view of a meeting: the same instants, in their own zone."""

    company_id: CompanyId
    role: Literal["lombard", "foreign"]
    timezone: TimeZoneName
    start_local: Annotated[str, Field(description="ISO 8601 with offset, e.g. 2020-10-26T10:00:00+01:00")]
    end_local: str


class Meeting(Contract):
    meeting_id: MeetingId
    mission_id: MissionId
    participants: Annotated[list[CompanyId], Field(min_length=2, max_length=2)]
    start: UtcDatetime
    end: UtcDatetime
    local_times: list[LocalTime]
    video_url: Annotated[str, Field(pattern=r"^https://\S+$")]
    sequence: Annotated[int, Field(ge=0, lt=2**31)]
    slot_id: str
    external_ids: ExternalIds = {}


class MeetingMove(Contract):
    meeting: Meeting
    previous_start: UtcDatetime
    previous_end: UtcDatetime
    reason: Annotated[str, Field(max_length=500)]


class MeetingCancellation(Contract):
    meeting_id: MeetingId
    mission_id: MissionId
    participants: list[CompanyId]
    start: UtcDatetime
    end: UtcDatetime
    sequence: Annotated[int, Field(ge=0, lt=2**31)]
    reason: Annotated[str, Field(max_length=500)]
    external_ids: ExternalIds = {}


class AgendaSummary(Contract):
    mission_id: MissionId
    version: Annotated[int, Field(ge=1, lt=2**31)]
    status: Literal["optimal", "feasible", "infeasible", "heuristic"]
    meetings: Annotated[int, Field(ge=0, lt=2**31)]
    unscheduled: Annotated[int, Field(ge=0, lt=2**31)]
    total_breaks: Annotated[int, Field(ge=0, lt=2**31)]
    bound: float | None = None
    solver: str
    seconds: float
    breaks: dict[str, Annotated[int, Field(ge=0, lt=2**31)]] = {}
    moved: Annotated[int, Field(ge=0, lt=2**31)] = 0


class FollowUp(Contract):
    meeting_id: MeetingId
    mission_id: MissionId
    kind: FollowUpKind
    participants: list[CompanyId]
    meeting_start: UtcDatetime
    meeting_end: UtcDatetime
    due_at: UtcDatetime
    external_ids: ExternalIds = {}
    """The meeting's, as CRMs set them."""


class MatchesProposed(Envelope[MatchList]):
    type: Literal["matches.proposed.v1"] = "matches.proposed.v1"


class MeetingScheduled(Envelope[Meeting]):
    type: Literal["meeting.scheduled.v1"] = "meeting.scheduled.v1"


class MeetingRescheduled(Envelope[MeetingMove]):
    type: Literal["meeting.rescheduled.v1"] = "meeting.rescheduled.v1"


class MeetingCancelled(Envelope[MeetingCancellation]):
    type: Literal["meeting.cancelled.v1"] = "meeting.cancelled.v1"


class AgendaPublished(Envelope[AgendaSummary]):
    type: Literal["agenda.published.v1"] = "agenda.published.v1"


class FollowUpDue(Envelope[FollowUp]):
    type: Literal["followup.due.v1"] = "followup.due.v1"


MeetingEvent = Annotated[MeetingScheduled | MeetingRescheduled | MeetingCancelled, Field(discriminator="type")]
MatchingEvent = Annotated[
    MatchesProposed | MeetingScheduled | MeetingRescheduled | MeetingCancelled | AgendaPublished | FollowUpDue,
    Field(discriminator="type"),
]
