"""Who writes what on each topic, and what its key is: the half of the AsyncAPI document code cannot tell.

Who *reads* each topic is read from the services' own subscribers when the document is
generated (``outgoing contracts write``); who writes is declared here, because the
services publish through their outboxes, not through FastStream publishers. The
integration tests check that every record seen on a topic is of a type declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.contracts import crm, internal, matching, missions, notifications, operations, registration, reporting, sessions
from shared.contracts.topics import COMPACTED_TOPICS, Topic

UPSTREAM_FORMS = "upstream-forms"
OPERATORS = "operators"
CRMS = "crms"


@dataclass(frozen=True)
class Channel:
    topic: Topic
    writers: tuple[str, ...]
    """Services by name, or the outside parties: upstream-forms, operators, crms."""
    events: tuple[type[Any], ...]
    key: str
    public: bool
    """Part of the CRM contract; the others are internal and may change with any release."""
    tombstones: bool = False
    """A null value deletes its key (compacted topics only)."""
    read_by_crms: bool = False
    """What a CRM reads: our facts, and the follow-up answers (outcomes) on forms.meetings; never the signup forms."""
    crms_read_only: tuple[type[Any], ...] = ()
    """Of a channel CRMs read, the only types they read, if not all."""

    @property
    def crm_event_types(self) -> tuple[str, ...]:
        return tuple(e.EVENT_TYPE for e in self.crms_read_only) or self.event_types

    @property
    def compacted(self) -> bool:
        return self.topic in COMPACTED_TOPICS

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(e.EVENT_TYPE for e in self.events)


_REGISTRATION_COMMANDS = (
    registration.CompanySignupSubmitted,
    registration.SignupUpdated,
    registration.SignupWithdrawn,
    registration.ErasureRequested,
    registration.SignupApprovedByOperator,
    registration.SignupRejectedByOperator,
    crm.CompanyLinked,
    crm.EnrollmentLinked,
    sessions.SessionPlanned,
    sessions.SessionSeatRequested,
    sessions.SessionSeatReleased,
    sessions.SessionAttendanceReported,
    sessions.SessionInviteRequested,
    internal.OutboxFlushRequested,
)
_MATCHING_COMMANDS = (
    registration.EnrollmentConfirmed,
    registration.EnrollmentCancelled,
    matching.MeetingRequested,
    matching.MeetingRequestAnswered,
    matching.FollowUpAnswered,
    matching.PairForcedByOperator,
    matching.PairForbiddenByOperator,
    matching.ScheduleRequested,
    matching.AvailabilityChanged,
    missions.MissionPlanned,
    crm.MeetingLinked,
    internal.MissionSessionNoted,
    internal.ParticipantProfileReady,
    internal.MissionReportDue,
    internal.OutboxFlushRequested,
)

CHANNELS: tuple[Channel, ...] = (
    Channel(
        Topic.SIGNUP_FORMS,
        (UPSTREAM_FORMS,),
        (
            registration.CompanySignupSubmitted,
            registration.SignupUpdated,
            registration.SignupWithdrawn,
            registration.ErasureRequested,
            sessions.SessionSeatRequested,
            sessions.SessionSeatReleased,
        ),
        "any: registration re-keys each form by the company it names, or a seat by its session",
        public=True,
    ),
    Channel(
        Topic.MEETING_FORMS,
        (UPSTREAM_FORMS,),
        (matching.MeetingRequested, matching.MeetingRequestAnswered, matching.FollowUpAnswered),
        "any: matching re-keys each form by its mission id; the mission id keeps one mission's forms in order",
        public=True,
        read_by_crms=True,
        crms_read_only=(matching.FollowUpAnswered,),
    ),
    Channel(
        Topic.CRM_LINKS,
        (CRMS,),
        (crm.CompanyLinked, crm.EnrollmentLinked, crm.MeetingLinked),
        "company id for company and enrollment links, mission id for meeting links, so one entity's links stay in order",
        public=True,
    ),
    Channel(
        Topic.OPERATOR_COMMANDS,
        (OPERATORS,),
        (
            registration.SignupApprovedByOperator,
            registration.SignupRejectedByOperator,
            matching.PairForcedByOperator,
            matching.PairForbiddenByOperator,
            matching.ScheduleRequested,
            matching.AvailabilityChanged,
            operations.RecordParkRequested,
            notifications.UnconfirmedResolutionRequested,
            sessions.SessionPlanned,
            sessions.SessionAttendanceReported,
        ),
        "the subject: company id, mission id or session id",
        public=False,
    ),
    Channel(Topic.MISSIONS, (OPERATORS,), (missions.MissionPlanned,), "mission id", public=True, read_by_crms=True),
    Channel(Topic.REGISTRATION_COMMANDS, ("registration",), _REGISTRATION_COMMANDS, "company id, or session id for sessions", public=False),
    Channel(
        Topic.REGISTRATION_EVENTS,
        ("registration",),
        (
            registration.CompanyRegistered,
            registration.CompanyUpdated,
            registration.SignupRejected,
            registration.EnrollmentConfirmed,
            registration.EnrollmentCancelled,
            registration.CompanyErased,
            sessions.SessionInvited,
            sessions.SessionSeatChanged,
            sessions.SessionAttendanceRecorded,
        ),
        "the subject: company id for company, session events and rejections, mission id for enrollment events",
        public=True,
        read_by_crms=True,
    ),
    Channel(
        Topic.CONTACTS,
        ("registration",),
        (registration.ContactDetailsRecorded,),
        "company id",
        public=True,
        read_by_crms=True,
        tombstones=True,
    ),
    Channel(Topic.MATCHING_COMMANDS, ("matching",), _MATCHING_COMMANDS, "mission id", public=False),
    Channel(
        Topic.MATCHING_EVENTS,
        ("matching",),
        (
            matching.MatchesProposed,
            matching.MeetingScheduled,
            matching.MeetingRescheduled,
            matching.MeetingCancelled,
            matching.AgendaPublished,
            matching.FollowUpDue,
            reporting.MissionReportPublished,
        ),
        "mission id",
        public=True,
        read_by_crms=True,
    ),
    Channel(
        Topic.NOTIFICATION_EVENTS,
        ("notifications",),
        (
            notifications.NotificationSent,
            notifications.NotificationFailed,
            notifications.NotificationUnconfirmed,
            notifications.NotificationUnconfirmedResolved,
            notifications.NotificationSentV2,
            notifications.NotificationFailedV2,
            notifications.NotificationUnconfirmedV2,
            notifications.NotificationUnconfirmedResolvedV2,
        ),
        "company id",
        public=True,
        read_by_crms=True,
    ),
    Channel(Topic.REGISTRATION_DLQ, ("registration",), (), "the original record's key", public=False),
    Channel(Topic.MATCHING_DLQ, ("matching",), (), "the original record's key", public=False),
    Channel(Topic.NOTIFICATIONS_DLQ, ("notifications",), (), "the original record's key", public=False),
    Channel(Topic.SMOKE, (), (), "any: the tests' broker round trips", public=False),
)

BY_TOPIC = {channel.topic: channel for channel in CHANNELS}
