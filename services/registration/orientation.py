"""What registration does for orientation sessions: works out whom a session is for, then
lets the session decide and saves it.

A session's audience is the Lombard companies with a confirmed enrollment in its missions
(one mission, or every mission to its market) and, if it names sectors, in one of them:
training and orientation are for the agency's own firms, not for the partners it scouted. A
company enrolled after the session was planned is invited through the session's own
writer (``session.invite_requested.v1``, from the enrollment's outbox).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.registration.domain.sessions import Invitee, Session
from services.registration.store import RegistrationStore
from shared.aggregate import Refused
from shared.contracts.missions import Mission
from shared.contracts.sessions import (
    OrientationSession,
    SessionAttendanceReported,
    SessionInviteRequested,
    SessionPlanned,
    SessionSeatReleased,
    SessionSeatRequested,
)
from shared.logging import get_logger

log = get_logger("outgoing.registration")


@dataclass
class Orientation:
    store: RegistrationStore

    async def plan(self, event: SessionPlanned) -> None:
        audience = await self._audience(event.data)
        saved = await self.store.sessions.change(event.data.session_id, lambda s: Session.plan(s, event, audience))
        assert saved is not None
        session = saved.aggregate
        log.info(
            "session planned",
            session_id=session.id,
            status=session.definition.status,
            sequence=session.sequence,
            invited=len(session.invitees),
            events=len(saved.events),
        )

    async def invite(self, event: SessionInviteRequested) -> None:
        session = await self.store.sessions.get(event.data.session_id)
        if session is None:
            raise Refused(f"session {event.data.session_id} is unknown")
        audience = await self._audience(session.definition, [event.data.company_id])
        invitee = audience.get(event.data.company_id)
        if invitee is None:
            return
        await self.store.sessions.change(session.id, lambda s: _invited(s, event, invitee))

    async def take_seat(self, event: SessionSeatRequested) -> None:
        saved = await self.store.sessions.change(event.data.session_id, lambda s: _seat_requested(s, event))
        log.info("session seat requested", session_id=event.data.session_id, company_id=event.data.company_id, events=_count(saved))

    async def release_seat(self, event: SessionSeatReleased) -> None:
        saved = await self.store.sessions.change(event.data.session_id, lambda s: _seat_released(s, event))
        log.info("session seat released", session_id=event.data.session_id, company_id=event.data.company_id, events=_count(saved))

    async def record_attendance(self, event: SessionAttendanceReported) -> None:
        uninvited: list[str] = []

        def decide(session: Session | None) -> Session:
            nonlocal uninvited
            known = _known(session, event.data.session_id)
            if not known.has_applied(event):
                uninvited = known.record_attendance(event)
            return known

        saved = await self.store.sessions.change(event.data.session_id, decide)
        log.info(
            "session attendance recorded",
            session_id=event.data.session_id,
            attended=len(event.data.attended),
            operator=event.data.operator,
            events=_count(saved),
        )
        if uninvited:
            log.warning("attendance of companies never invited, ignored", session_id=event.data.session_id, company_ids=uninvited)

    async def _audience(self, session: OrientationSession, only: list[str] | None = None) -> dict[str, Invitee]:
        missions = await self._missions_of(session)
        enrollments = [e for e in await self.store.confirmed_enrollments(list(missions), only) if e.role == "lombard"]
        companies = {c.id: c for c in await self.store.companies_by_id(sorted({e.company_id for e in enrollments}))}
        wanted = set(session.sectors)
        audience: dict[str, Invitee] = {}
        for enrollment in sorted(enrollments, key=lambda e: (e.company_id, e.mission_id)):
            company = companies.get(enrollment.company_id)
            if company is None or company.profile is None or (wanted and not wanted & set(company.profile.sectors)):
                continue
            mission = missions[enrollment.mission_id]
            known = audience.get(company.id, Invitee(()))
            audience[company.id] = Invitee(
                (*known.missions, mission.mission_id),
                (*known.required_by, mission.mission_id) if mission.orientation_required else known.required_by,
            )
        return audience

    async def _missions_of(self, session: OrientationSession) -> dict[str, Mission]:
        if session.mission_id is not None:
            found = await self.store.missions([session.mission_id])
        else:
            assert session.country is not None
            found = {m.mission_id: m for m in await self.store.missions_to(session.country)}
        return {mission_id: m for mission_id, m in found.items() if m.status == "planned"}


def _known(session: Session | None, session_id: str) -> Session:
    if session is None:
        raise Refused(f"session {session_id} is unknown: an operator plans it first (outgoing session plan)")
    return session


def _invited(session: Session | None, event: SessionInviteRequested, invitee: Invitee) -> Session:
    known = _known(session, event.data.session_id)
    if not known.has_applied(event):
        known.invite(event, event.data.company_id, invitee, at=event.data.enrolled_at)
    return known


def _seat_requested(session: Session | None, event: SessionSeatRequested) -> Session:
    known = _known(session, event.data.session_id)
    if not known.has_applied(event):
        known.request_seat(event)
    return known


def _seat_released(session: Session | None, event: SessionSeatReleased) -> Session:
    known = _known(session, event.data.session_id)
    if not known.has_applied(event):
        known.release_seat(event)
    return known


def _count(saved: object) -> int:
    return len(getattr(saved, "events", []))
