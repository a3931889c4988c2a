"""Contracts a service sends to itself through its own command topic."""

from __future__ import annotations

from typing import Literal

from shared.contracts.envelope import Contract, Envelope


class OutboxFlush(Contract):
    collection: str
    document_id: str


class OutboxFlushRequested(Envelope[OutboxFlush]):
    """Asks a document's owner to publish outbox entries its writer left behind."""

    type: Literal["outbox.flush_requested.v1"] = "outbox.flush_requested.v1"


class ProfileReady(Contract):
    company_id: str
    mission_id: str


class ParticipantProfileReady(Envelope[ProfileReady]):
    """Tells a mission's writer that a participant it had to leave out now has a profile."""

    type: Literal["participant.profile_ready.v1"] = "participant.profile_ready.v1"


class ReportDue(Contract):
    mission_id: str


class MissionReportDue(Envelope[ReportDue]):
    """Fired by a mission's report timer: its writer publishes the outcomes once its follow-ups have closed."""

    type: Literal["mission.report_due.v1"] = "mission.report_due.v1"


class SessionNote(Contract):
    mission_id: str
    company_id: str
    session_id: str
    attended: bool | None = None
    """None: an invitation; otherwise the attendance recorded."""


class MissionSessionNoted(Envelope[SessionNote]):
    """An orientation session's invitation or attendance, for one of the missions it counts for."""

    type: Literal["mission.session_noted.v1"] = "mission.session_noted.v1"
