"""Training and orientation sessions (webinars): the first step of a company's path.

Operators plan a session (``session.planned.v1`` on the operator topic; publish it again
to change it, or with ``status: cancelled``). Registration owns sessions: it invites the
companies enrolled in the session's missions and sectors, takes seats and cancellations
from the upstream forms, keeps the capacity with a waiting list that moves up, and
records attendance from the operator's report. Its session events go on
``registration.events`` keyed by company id, and each carries the session as planned, so
notifications can write the e-mail and matching can apply a mission's requirement without
asking anyone. They name companies by id only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from shared.contracts.envelope import Contract, Envelope, UtcDatetime
from shared.contracts.ids import CompanyId
from shared.contracts.missions import CountryCode, MissionId
from shared.contracts.registration import ShortText

SessionId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="e.g. orientation-india-2020")]
SessionTitle = Annotated[str, Field(min_length=1, max_length=200)]


class OrientationSession(Contract):
    """A session as the operator planned it. ``mission_id`` or ``country`` says whom it is for:
    one mission's companies, or those of every mission to that market. No sectors: all of them."""

    session_id: SessionId
    title_it: SessionTitle
    title_en: SessionTitle
    mission_id: MissionId | None = None
    country: CountryCode | None = None
    sectors: Annotated[list[str], Field(max_length=50)] = []
    start: UtcDatetime
    end: UtcDatetime
    capacity: Annotated[int, Field(ge=1, le=100_000)]
    link: Annotated[str, Field(pattern=r"^https://\S+$", max_length=500)]
    status: Literal["planned", "cancelled"] = "planned"
    operator: ShortText

    @model_validator(mode="after")
    def _well_formed(self) -> OrientationSession:
        if (self.mission_id is None) == (self.country is None):
            raise ValueError("a session is for one mission (mission_id) or one market (country), not both or neither")
        if self.end <= self.start:
            raise ValueError("a session must end after it starts")
        return self


class SeatRequest(Contract):
    """From the upstream form: a company takes or gives up its seat."""

    session_id: SessionId
    company_id: CompanyId


class AttendanceReport(Contract):
    """After the session, the operator lists who attended (the webinar platform's report)."""

    session_id: SessionId
    attended: Annotated[list[CompanyId], Field(max_length=100_000)]
    operator: ShortText


class SessionPlanned(Envelope[OrientationSession]):
    type: Literal["session.planned.v1"] = "session.planned.v1"


class SessionSeatRequested(Envelope[SeatRequest]):
    type: Literal["session.seat_requested.v1"] = "session.seat_requested.v1"


class SessionSeatReleased(Envelope[SeatRequest]):
    type: Literal["session.seat_released.v1"] = "session.seat_released.v1"


class SessionAttendanceReported(Envelope[AttendanceReport]):
    type: Literal["session.attendance_reported.v1"] = "session.attendance_reported.v1"


SessionFormEvent = Annotated[SessionSeatRequested | SessionSeatReleased, Field(discriminator="type")]
SessionOperatorCommand = Annotated[SessionPlanned | SessionAttendanceReported, Field(discriminator="type")]


# ---------------------------------------------------------------- outputs


class SessionFacts(Contract):
    """What every session event says: the session, the company, and which of its missions
    the session counts for (``required_by``: those that require it before scheduling)."""

    session: OrientationSession
    sequence: Annotated[int, Field(ge=0, lt=2**31, description="the session's revision: a calendar entry with a higher one replaces it")]
    company_id: CompanyId
    missions: list[MissionId]
    required_by: list[MissionId] = []


class Invitation(SessionFacts):
    pass


class Seat(SessionFacts):
    status: Literal["confirmed", "waitlisted", "released"]
    position: Annotated[int, Field(ge=0, description="place on the waiting list, from 1; 0 when not waiting")] = 0
    promoted: bool = False
    """Confirmed because a seat came free: the company was on the waiting list."""
    reason: Literal["company", "session_cancelled"] | None = None
    """Why a seat was released."""


class Attendance(SessionFacts):
    attended: bool
    registered: bool
    """Whether the company held a confirmed seat."""


class SessionInvited(Envelope[Invitation]):
    """Also sent again to every invitee when the operator changes or cancels the session."""

    type: Literal["session.invited.v1"] = "session.invited.v1"


class SessionSeatChanged(Envelope[Seat]):
    type: Literal["session.seat_changed.v1"] = "session.seat_changed.v1"


class SessionAttendanceRecorded(Envelope[Attendance]):
    type: Literal["session.attendance_recorded.v1"] = "session.attendance_recorded.v1"


SessionEvent = Annotated[SessionInvited | SessionSeatChanged | SessionAttendanceRecorded, Field(discriminator="type")]


class InviteRequest(Contract):
    session_id: SessionId
    company_id: CompanyId
    enrolled_at: UtcDatetime
    """The enrollment's time: a session that had started by then invites nobody."""


class SessionInviteRequested(Envelope[InviteRequest]):
    """Internal: a company enrolled after its sessions were planned; their writer invites it too."""

    type: Literal["session.invite_requested.v1"] = "session.invite_requested.v1"
