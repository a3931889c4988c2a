"""The demo's training and orientation: one webinar per market two weeks before its
mission, the seats the invited firms take and give up, and who attended.

Every choice is drawn from the seed per (session, company), never from arrival order, and
a session's forms share its key, so they reach its writer in the order published: the
waiting list comes out the same on every run.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from outgoing_cli.demo.firms import event_id
from shared.contracts.missions import Mission
from shared.contracts.sessions import (
    AttendanceReport,
    OrientationSession,
    SeatRequest,
    SessionAttendanceRecorded,
    SessionAttendanceReported,
    SessionInvited,
    SessionPlanned,
    SessionSeatChanged,
    SessionSeatReleased,
    SessionSeatRequested,
)

SOURCE = "/outgoing/demo"
OPERATOR = "Demo Operator"
SEAT_SHARE = 0.75
"""Seats per session, as a share of the Lombard firms enrolled in its mission: some wait."""
TAKE_SEAT, GIVE_UP, ATTEND = 0.85, 0.1, 0.85


def planned_sessions(seed: int, missions: Iterable[Mission], lombard_enrolled: dict[str, int]) -> list[SessionPlanned]:
    sessions = []
    for mission in missions:
        day = mission.window_start - timedelta(days=14)
        start = datetime.combine(day, time(10, 0), ZoneInfo(mission.lombard_timezone)).astimezone(UTC)
        session = OrientationSession(
            session_id=f"orientation-{mission.mission_id}",
            title_it=f"Orientamento al mercato: {mission.market}",
            title_en=f"Orientation: the {mission.market} market",
            mission_id=mission.mission_id,
            start=start,
            end=start + timedelta(minutes=90),
            capacity=max(1, round(SEAT_SHARE * lombard_enrolled.get(mission.mission_id, 0))),
            link=f"https://webinar.outgoing.example/{mission.mission_id}",
            operator=OPERATOR,
        )
        at = datetime(2020, 9, 16, 9, tzinfo=UTC)
        sessions.append(
            SessionPlanned.new(
                source=SOURCE, subject=session.session_id, data=session, time=at, event_id=event_id(seed, "session", session.session_id)
            )
        )
    return sessions


def seat_forms(seed: int, invitations: Iterable[SessionInvited]) -> list[SessionSeatRequested | SessionSeatReleased]:
    """Most invited firms take a seat; a few give it up again a day later, which moves the waiting list."""
    requests: list[SessionSeatRequested | SessionSeatReleased] = []
    releases: list[SessionSeatRequested | SessionSeatReleased] = []
    for invited in sorted({i.id: i for i in invitations}.values(), key=lambda i: (i.data.session.session_id, i.data.company_id)):
        session, company_id = invited.data.session, invited.data.company_id
        rng = random.Random(f"{seed}:seat:{session.session_id}:{company_id}")
        if rng.random() >= TAKE_SEAT:
            continue
        form = SeatRequest(session_id=session.session_id, company_id=company_id)
        at = session.start - timedelta(days=10, minutes=-len(requests))
        requests.append(_form(SessionSeatRequested, seed, form, at))
        if rng.random() < GIVE_UP:
            releases.append(_form(SessionSeatReleased, seed, form, at + timedelta(days=1)))
    return requests + releases


def attendance_reports(seed: int, sessions: Iterable[OrientationSession], seats: dict[str, list[str]]) -> list[SessionAttendanceReported]:
    """After each session, the webinar platform's list: most of those holding a seat came."""
    reports = []
    for session in sessions:
        came = [
            c for c in sorted(seats.get(session.session_id, [])) if random.Random(f"{seed}:came:{session.session_id}:{c}").random() < ATTEND
        ]
        report = AttendanceReport(session_id=session.session_id, attended=came, operator=OPERATOR)
        reports.append(
            SessionAttendanceReported.new(
                source=SOURCE,
                subject=session.session_id,
                data=report,
                time=session.end + timedelta(hours=1),
                event_id=event_id(seed, "attendance", session.session_id),
            )
        )
    return reports


def confirmed_seats(events: Iterable[object]) -> dict[str, list[str]]:
    """Who holds a seat in each session, from the seat changes in their order (one company's share a partition)."""
    latest: dict[tuple[str, str], str] = {}
    for event in events:
        if isinstance(event, SessionSeatChanged):
            latest[(event.data.session.session_id, event.data.company_id)] = event.data.status
    seats: dict[str, list[str]] = {}
    for (session_id, company_id), status in sorted(latest.items()):
        if status == "confirmed":
            seats.setdefault(session_id, []).append(company_id)
    return seats


def session_mail(events: Iterable[object]) -> int:
    """The e-mails the session events ask for: each invitation, each seat change (a seat released by a
    cancellation is told by the cancellation), and a missed session that a mission requires."""
    count = 0
    for event in events:
        match event:
            case SessionInvited():
                count += 1
            case SessionSeatChanged():
                count += event.data.reason != "session_cancelled"
            case SessionAttendanceRecorded():
                count += not event.data.attended and bool(event.data.required_by)
    return count


def _form(
    kind: type[SessionSeatRequested] | type[SessionSeatReleased], seed: int, form: SeatRequest, at: datetime
) -> SessionSeatRequested | SessionSeatReleased:
    return kind.new(
        source=f"{SOURCE}/forms",
        subject=form.session_id,
        data=form,
        time=at,
        event_id=event_id(seed, kind.EVENT_TYPE, form.session_id, form.company_id),
    )
