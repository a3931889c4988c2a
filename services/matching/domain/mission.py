"""The mission as matching keeps it: participants, requests, operators' orders and the agenda.

One aggregate per mission, changed by one writer. ``apply`` records an input and says
whether the agenda must be planned again; ``adopt`` takes a new plan and records the
events it causes. Neither writes nor publishes: the store saves the state and the events
in one write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from services.matching.domain.events import SOURCE, agenda_published, meeting_event, proposal_events
from services.matching.domain.planning import Change, MissionState, Placed, Plan
from services.matching.domain.scoring import PairRules
from shared.aggregate import Aggregate, Refused
from shared.contracts import crm
from shared.contracts.envelope import Envelope
from shared.contracts.internal import MissionSessionNoted, ParticipantProfileReady, SessionNote
from shared.contracts.matching import (
    AgendaSummary,
    AvailabilityChanged,
    FollowUpAnswered,
    MeetingRequestAnswered,
    MeetingRequested,
    PairForbiddenByOperator,
    PairForcedByOperator,
    ScheduleRequested,
)
from shared.contracts.missions import Mission as MissionDefinition
from shared.contracts.missions import MissionPlanned
from shared.contracts.registration import CompanyProfile, EnrollmentCancelled, EnrollmentConfirmed
from shared.contracts.reporting import MissionOutcomes, MissionReportPublished
from shared.contracts.topics import Topic

Span = tuple[datetime, datetime]
MissionCommand = (
    EnrollmentConfirmed
    | EnrollmentCancelled
    | MeetingRequested
    | MeetingRequestAnswered
    | FollowUpAnswered
    | PairForcedByOperator
    | PairForbiddenByOperator
    | ScheduleRequested
    | AvailabilityChanged
    | ParticipantProfileReady
    | MissionPlanned
    | crm.MeetingLinked
    | MissionSessionNoted
)


@dataclass
class Participant:
    role: str | None = None
    status: Literal["confirmed", "cancelled"] | None = None
    """None: known only from an availability change, not yet enrolled."""
    unavailable: tuple[Span, ...] = ()
    invited: bool = False
    """Invited to an orientation session for this mission."""
    oriented_in: tuple[str, ...] = ()
    """The orientation sessions it attended."""


@dataclass
class Request:
    request_id: str
    requester: str | None = None
    target: str | None = None
    answer: str | None = None
    answered_by: str | None = None
    discarded_answer: dict[str, Any] | None = None
    """An answer that overtook its request, from a company it was not sent to."""


@dataclass(frozen=True)
class Order:
    lombard_id: str
    foreign_id: str
    order: Literal["forced", "forbidden"]
    operator: str
    reason: str


@dataclass(frozen=True)
class ScheduleOptions:
    time_limit_s: float
    fairness: int | None
    operator: str


@dataclass(frozen=True)
class Booking:
    """One company in one meeting: what the bookings collection makes exclusive."""

    company_id: str
    start: datetime
    end: datetime
    mission_id: str
    meeting_id: str


@dataclass(kw_only=True)
class Mission(Aggregate):
    participants: dict[str, Participant] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    scheduled: bool = False
    """The operator asked for an agenda: from then on, every relevant input re-plans it."""
    schedule_options: ScheduleOptions | None = None
    agenda: dict[str, Placed] = field(default_factory=dict)
    agenda_version: int = 0
    summary: AgendaSummary | None = None
    awaiting_profile: list[str] = field(default_factory=list)
    """Enrolled companies the last plan left out for want of their profile."""
    proposal_hashes: dict[str, str] = field(default_factory=dict)
    """What each company was last told it could meet, so an unchanged list is not sent again."""
    followup_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    meeting_links: dict[str, dict[str, str]] = field(default_factory=dict)
    """The CRMs' ids for each meeting, carried by every later event about it."""
    relinked: list[str] = field(default_factory=list, repr=False, compare=False)
    """Meetings the last ``apply`` linked, whose existing follow-up timers must carry the new ids; not stored."""
    orientation_required: bool = False
    """As the catalogue last said: Lombard companies are scheduled only after an orientation session."""
    report_published: bool = False
    warnings: list[tuple[str, dict[str, Any]]] = field(default_factory=list, repr=False, compare=False)
    """What the last ``apply`` noticed for the operators' log; not stored."""

    def enrolled(self) -> list[str]:
        return [cid for cid, p in self.participants.items() if p.status == "confirmed"]

    def schedulable(self) -> list[str]:
        """The enrolled who may be scheduled: where the mission requires orientation, Lombard companies only once they attended."""
        return [
            cid
            for cid in self.enrolled()
            if not self.orientation_required or self.participants[cid].role != "lombard" or self.participants[cid].oriented_in
        ]

    def role_of(self, company_id: str) -> str | None:
        found = self.participants.get(company_id)
        return found.role if found is not None else None

    def publish_report(self, cause: Envelope[Any], outcomes: MissionOutcomes) -> None:
        """Once: the CRMs get the mission's outcomes when its last follow-up has closed."""
        self.applying(cause)
        if self.report_published:
            return
        self.report_published = True
        self.record(Topic.MATCHING_EVENTS, MissionReportPublished.caused_by(cause, source=SOURCE, subject=self.id, data=outcomes))

    def apply(self, event: MissionCommand) -> bool:
        """Records the input; True when the agenda must be planned again."""
        self.applying(event)
        match event:
            case EnrollmentConfirmed():
                entry = self.participants.setdefault(event.data.company_id, Participant())
                was, entry.role, entry.status = entry.status, event.data.role, "confirmed"
                return was != "confirmed"
            case EnrollmentCancelled():
                found = self.participants.get(event.data.company_id)
                if found is None or found.status != "confirmed":
                    return False
                found.status = "cancelled"
                return True
            case MeetingRequested():
                return self._requested(event)
            case MeetingRequestAnswered():
                return self._answered(event)
            case PairForcedByOperator() | PairForbiddenByOperator():
                kind: Literal["forced", "forbidden"] = "forced" if isinstance(event, PairForcedByOperator) else "forbidden"
                pair = (event.data.lombard_id, event.data.foreign_id)
                self.orders = [o for o in self.orders if (o.lombard_id, o.foreign_id) != pair]
                self.orders.append(Order(*pair, order=kind, operator=event.data.operator, reason=event.data.reason))
                return True
            case AvailabilityChanged():
                entry = self.participants.setdefault(event.data.company_id, Participant())
                entry.unavailable = tuple((span.start, span.end) for span in event.data.unavailable)
                return entry.status == "confirmed"
            case ScheduleRequested():
                self.scheduled = True
                self.schedule_options = ScheduleOptions(event.data.time_limit_s, event.data.fairness, event.data.operator)
                return True
            case MissionPlanned():
                self.orientation_required = event.data.orientation_required
                return self.scheduled
            case MissionSessionNoted():
                return self._session_noted(event.data) and self.orientation_required
            case ParticipantProfileReady():
                return event.data.company_id in self.awaiting_profile
            case crm.MeetingLinked():
                self._link(event.data)
                return False
            case FollowUpAnswered():
                # Structured answers only: free-text comments stay on the topic, out of a document that outlives erasure.
                key = f"{event.data.meeting_id}|{event.data.company_id}|{event.data.kind}"
                self.followup_answers[key] = event.data.model_dump(mode="json", exclude={"comment", "token"})
                return False

    def _session_noted(self, note: SessionNote) -> bool:
        """True when it changed whether an enrolled company is oriented."""
        entry = self.participants.setdefault(note.company_id, Participant())
        entry.invited = True
        if note.attended is None:
            return False
        before = bool(entry.oriented_in)
        others = tuple(s for s in entry.oriented_in if s != note.session_id)
        entry.oriented_in = (*others, note.session_id) if note.attended else others
        return before != bool(entry.oriented_in) and entry.status == "confirmed"

    def _link(self, link: crm.MeetingLink) -> None:
        if link.meeting_id not in self.agenda:
            raise Refused(f"meeting {link.meeting_id} was never on the agenda of mission {self.id}")
        ids = crm.with_link(self.meeting_links.get(link.meeting_id, {}), link.system, link.external_id)
        if len(ids) > crm.MAX_SYSTEMS:
            raise Refused(f"at most {crm.MAX_SYSTEMS} CRM systems may name one meeting; {link.system!r} would be one more")
        if ids:
            self.meeting_links[link.meeting_id] = ids
        else:
            self.meeting_links.pop(link.meeting_id, None)
        self.relinked.append(link.meeting_id)

    def _request(self, request_id: str) -> Request:
        for request in self.requests:
            if request.request_id == request_id:
                return request
        request = Request(request_id)
        self.requests.append(request)
        return request

    def _requested(self, event: MeetingRequested) -> bool:
        request = self._request(event.data.request_id)
        request.requester, request.target = event.data.requester_id, event.data.target_id
        if request.answer is not None and request.answered_by != event.data.target_id:
            self.warnings.append(
                (
                    "answer by a company the request was not sent to discarded",
                    {"request_id": request.request_id, "answered_by": request.answered_by},
                )
            )
            request.discarded_answer = {"answer": request.answer, "answered_by": request.answered_by}
            request.answer = request.answered_by = None
        return request.answer is not None

    def _answered(self, event: MeetingRequestAnswered) -> bool:
        request = self._request(event.data.request_id)
        if request.target not in (None, event.data.answered_by):
            raise Refused(f"request {event.data.request_id} can only be answered by the company it was sent to")
        changed = request.answer != event.data.answer
        request.answer, request.answered_by = event.data.answer, event.data.answered_by
        return changed and request.requester is not None

    # ------------------------------------------------------------ planning

    def planning_input(self, definition: MissionDefinition, profiles: dict[str, CompanyProfile], elsewhere: list[Booking]) -> MissionState:
        """What the planner needs: the known profiles of the enrolled, their rules and constraints."""
        busy: dict[str, list[Span]] = {}
        for booking in elsewhere:
            busy.setdefault(booking.company_id, []).append((booking.start, booking.end))
        live = [r for r in self.requests if r.requester and r.target]
        return MissionState(
            mission=definition,
            participants=profiles,
            rules=PairRules(
                requests=frozenset((r.requester, r.target) for r in live if r.answer != "declined"),  # type: ignore[misc]
                declined=frozenset(_pair(r.requester, r.target, profiles) for r in live if r.answer == "declined"),  # type: ignore[arg-type]
                forbidden=frozenset((o.lombard_id, o.foreign_id) for o in self.orders if o.order == "forbidden"),
                forced=frozenset((o.lombard_id, o.foreign_id) for o in self.orders if o.order == "forced"),
                met_before=pairs_met_before(elsewhere, profiles, definition.window_start),
                on_agenda=frozenset((p.lombard_id, p.foreign_id) for p in self.agenda.values() if p.active),
            ),
            accepted=frozenset(_pair(r.requester, r.target, profiles) for r in live if r.answer == "accepted"),  # type: ignore[arg-type]
            unavailable={cid: p.unavailable for cid, p in self.participants.items()},
            busy_elsewhere={k: tuple(v) for k, v in busy.items()},
            agenda=dict(self.agenda),
        )

    def adopt(
        self, plan: Plan, cause: Envelope[Any], state: MissionState, video_url: Callable[[str], str], proposals_per_company: int
    ) -> list[Change]:
        """Takes the new agenda; records the proposals that changed, each meeting's change and the summary."""
        mission_id = state.mission.mission_id
        self.awaiting_profile = sorted(cid for cid in self.schedulable() if cid not in state.participants)
        self.agenda = dict(plan.agenda)
        self.agenda_version += 1
        for event in proposal_events(cause, plan, mission_id, proposals_per_company, self.proposal_hashes, state.participants):
            self.record(Topic.MATCHING_EVENTS, event)
        for change in plan.changes:
            links = self.meeting_links.get(change.meeting.meeting_id, {})
            self.record(Topic.MATCHING_EVENTS, meeting_event(cause, change, state.participants, mission_id, video_url, links))
        published = agenda_published(cause, mission_id, self.agenda_version, plan)
        self.summary = published.data
        self.record(Topic.MATCHING_EVENTS, published)
        return plan.changes

    def bookings(self) -> list[Booking]:
        """Each active meeting's two companies, for the time it takes."""
        return [
            Booking(c, p.start, p.end, self.id, p.meeting_id)
            for p in self.agenda.values()
            if p.active
            for c in (p.lombard_id, p.foreign_id)
        ]

    def standing_changes(self) -> list[Change]:
        """The agenda as changes, for a replay that re-does the side effects of the last plan."""
        return [Change("scheduled" if p.active else "cancelled", p, None, "") for p in self.agenda.values()]


def pairs_met_before(bookings: list[Booking], profiles: dict[str, CompanyProfile], before: date) -> frozenset[tuple[str, str]]:
    """Pairs of this mission's participants who had a meeting in an earlier mission."""
    by_meeting: dict[str, set[str]] = {}
    for booking in bookings:
        if booking.end.date() < before:
            by_meeting.setdefault(booking.meeting_id, set()).add(booking.company_id)
    pairs = set()
    for companies in by_meeting.values():
        if len(companies) == 2:
            a, b = sorted(companies)
            pairs.add(_pair(a, b, profiles))
    return frozenset(pairs)


def _pair(a: str, b: str, profiles: dict[str, CompanyProfile]) -> tuple[str, str]:
    """(Lombard, foreign), whichever side asked."""
    first = profiles.get(a)
    return (a, b) if first is None or first.role == "lombard" else (b, a)
