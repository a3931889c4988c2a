"""Session events as registration publishes them, for notifications' tests: one orientation session of the India mission.

The session is on Friday 23 October 2020, while Europe is still on summer time (10:00 in
Rome, CEST, UTC+02:00; 13:30 in Kolkata, IST, UTC+05:30); ``MOVED_TO`` is after the change
(Tuesday 27 October, 10:00 in Rome, CET, UTC+01:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.contracts.sessions import (
    Attendance,
    Invitation,
    OrientationSession,
    Seat,
    SessionAttendanceRecorded,
    SessionInvited,
    SessionSeatChanged,
)
from tests.mail_factories import T0

SESSION_ID = "orientation-india-2020"
SESSION_START = datetime(2020, 10, 23, 8, 0, tzinfo=UTC)
MOVED_TO = datetime(2020, 10, 27, 9, 0, tzinfo=UTC)
TITLE_IT = "Orientamento: mercato indiano"
TITLE_EN = "Orientation: the Indian market"
LINK = "https://webinar.outgoing.example/orientation-india-2020"


def orientation(start: datetime = SESSION_START, status: str = "planned", session_id: str = SESSION_ID) -> OrientationSession:
    return OrientationSession.model_validate(
        {
            "session_id": session_id,
            "title_it": TITLE_IT,
            "title_en": TITLE_EN,
            "mission_id": "india-2020",
            "start": start,
            "end": start + timedelta(hours=1),
            "capacity": 2,
            "link": LINK,
            "status": status,
            "operator": "anna.bianchi",
        }
    )


def _facts(company_id: str, session: OrientationSession | None, sequence: int, required_by: tuple[str, ...]) -> dict[str, Any]:
    return {
        "session": session or orientation(),
        "sequence": sequence,
        "company_id": company_id,
        "missions": ["india-2020"],
        "required_by": list(required_by),
    }


def invited(
    company_id: str,
    sequence: int = 0,
    session: OrientationSession | None = None,
    time: datetime = T0,
    required_by: tuple[str, ...] = ("india-2020",),
) -> SessionInvited:
    data = Invitation(**_facts(company_id, session, sequence, required_by))
    return SessionInvited.new(source="registration", subject=company_id, data=data, time=time)


def seat(
    company_id: str, status: str, sequence: int = 0, session: OrientationSession | None = None, time: datetime = T0, **extra: Any
) -> SessionSeatChanged:
    """``extra``: position, promoted, reason."""
    data = Seat(**_facts(company_id, session, sequence, ("india-2020",)), status=status, **extra)  # type: ignore[arg-type]
    return SessionSeatChanged.new(source="registration", subject=company_id, data=data, time=time)


def attendance(
    company_id: str,
    attended: bool,
    required_by: tuple[str, ...] = ("india-2020",),
    registered: bool = True,
    time: datetime = SESSION_START + timedelta(hours=3),
) -> SessionAttendanceRecorded:
    data = Attendance(**_facts(company_id, None, 0, required_by), attended=attended, registered=registered)
    return SessionAttendanceRecorded.new(source="registration", subject=company_id, data=data, time=time)
