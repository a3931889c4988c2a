"""Orientation sessions in registration, on the store in memory: invitations, seats, the
waiting list, attendance, and what a replay or a late form does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.registration.orientation import Orientation
from services.registration.use_cases import Registration
from shared.aggregate import Refused
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
from shared.contracts.topics import Topic
from tests.factories import SIGNUP_TIME, lombard, mission, mission_planned, signup, valid_partita_iva
from tests.unit.registration.fakes import FakeRegistrationStore

START = datetime(2020, 10, 8, 9, 0, tzinfo=UTC)


def session(**overrides: Any) -> OrientationSession:
    data: dict[str, Any] = {
        "session_id": "orientation-india-2020",
        "title_it": "Orientamento: il mercato indiano",
        "title_en": "Orientation: the Indian market",
        "mission_id": "india-2020",
        "start": START,
        "end": START + timedelta(hours=2),
        "capacity": 2,
        "link": "https://webinar.example/india",
        "operator": "anna",
    }
    return OrientationSession.model_validate(data | overrides)


def planned(definition: OrientationSession, at: datetime = SIGNUP_TIME + timedelta(days=1)) -> SessionPlanned:
    return SessionPlanned.new(source="operators", subject=definition.session_id, data=definition, time=at)


def seat(kind: type[SessionSeatRequested] | type[SessionSeatReleased], company_id: str, minutes: int = 0) -> Any:
    at = SIGNUP_TIME + timedelta(days=2, minutes=minutes)
    return kind.new(
        source="forms", subject=company_id, data=SeatRequest(session_id="orientation-india-2020", company_id=company_id), time=at
    )


def attendance(*company_ids: str) -> SessionAttendanceReported:
    report = AttendanceReport(session_id="orientation-india-2020", attended=list(company_ids), operator="anna")
    return SessionAttendanceReported.new(source="operators", subject="orientation-india-2020", data=report, time=START + timedelta(hours=3))


async def enrolled(count: int, *, required: bool = False) -> tuple[Registration, Orientation, FakeRegistrationStore, list[str]]:
    """``count`` Lombard companies enrolled in india-2020, one in china-2020 only, and their ids in signup order."""
    store = FakeRegistrationStore()
    registration, orientation = Registration(store, instance="unit"), Orientation(store)
    india = mission("india-2020").model_copy(update={"orientation_required": required})
    await registration.plan_mission(mission_planned(india))
    await registration.plan_mission(mission_planned(mission("china-2020")))
    ids = []
    for n in range(count):
        applicant = lombard(company_name=f"Azienda {n} S.r.l.", partita_iva=valid_partita_iva(f"0123{n:03d}001"))
        await registration.apply_signup(signup(applicant))
        ids.append(store.published[-1].event.data.company_id)  # type: ignore[union-attr]
    other = lombard(company_name="Solo Cina S.r.l.", partita_iva=valid_partita_iva("0999999001"), missions=["china-2020"])
    await registration.apply_signup(signup(other))
    store.published.clear()
    return registration, orientation, store, ids


def session_events(store: FakeRegistrationStore) -> list[tuple[str, str, str]]:
    """(type, company, status) of the session events published, in order."""
    found = []
    for r in store.published:
        if r.event is None or not r.event.type.startswith("session.") or r.topic is not Topic.REGISTRATION_EVENTS:
            continue
        data = r.event.data
        status = getattr(data, "status", "") if isinstance(r.event, SessionSeatChanged) else ""
        if isinstance(r.event, SessionAttendanceRecorded):
            status = "attended" if data.attended else "absent"
        found.append((r.event.type, data.company_id, status))
    return found


async def test_planning_invites_exactly_the_companies_enrolled_in_the_mission() -> None:
    _, orientation, store, ids = await enrolled(3)
    await orientation.plan(planned(session()))
    assert sorted(session_events(store)) == sorted(("session.invited.v1", c, "") for c in ids)
    invitation = store.published[0].event
    assert isinstance(invitation, SessionInvited) and invitation.subject == invitation.data.company_id
    assert invitation.data.missions == ["india-2020"] and invitation.data.required_by == [] and invitation.data.sequence == 0


async def test_a_market_session_counts_for_every_mission_to_that_market_and_names_the_required_ones() -> None:
    _, orientation, store, ids = await enrolled(1, required=True)
    await orientation.plan(planned(session(mission_id=None, country="IN")))
    [invited] = [r.event for r in store.published if isinstance(r.event, SessionInvited)]
    assert invited.data.company_id == ids[0] and invited.data.missions == ["india-2020"] and invited.data.required_by == ["india-2020"]


async def test_a_sector_filter_leaves_out_companies_of_other_sectors() -> None:
    _, orientation, store, _ = await enrolled(2)
    await orientation.plan(planned(session(sectors=["chimica"])))
    assert session_events(store) == []


async def test_seats_go_first_come_and_a_released_seat_goes_to_the_first_who_waits() -> None:
    _, orientation, store, (a, b, c, d) = await enrolled(4)
    await orientation.plan(planned(session(capacity=2)))
    store.published.clear()
    for n, company in enumerate((a, b, c, d)):
        await orientation.take_seat(seat(SessionSeatRequested, company, n))
    waiting = [r.event.data for r in store.published if isinstance(r.event, SessionSeatChanged) and r.event.data.status == "waitlisted"]
    assert [(w.company_id, w.position) for w in waiting] == [(c, 1), (d, 2)]
    store.published.clear()
    await orientation.release_seat(seat(SessionSeatReleased, a, 10))
    assert session_events(store) == [
        ("session.seat_changed.v1", a, "released"),
        ("session.seat_changed.v1", c, "confirmed"),
    ]
    promoted = store.published[-1].event
    assert isinstance(promoted, SessionSeatChanged) and promoted.data.promoted
    held = await store.sessions.get("orientation-india-2020")
    assert held is not None and held.seats == [b, c] and held.waiting == [d]


async def test_replaying_any_session_input_publishes_nothing_more() -> None:
    _, orientation, store, (a, b, _) = await enrolled(3)
    inputs = [
        planned(session(capacity=1)),
        seat(SessionSeatRequested, a),
        seat(SessionSeatRequested, b, 1),
        seat(SessionSeatReleased, a, 2),
    ]
    for event in inputs:
        await _apply(orientation, event)
    count = len(store.published)
    for event in reversed(inputs):
        await _apply(orientation, event)
    assert len(store.published) == count


async def test_a_company_not_invited_or_too_late_is_refused_with_the_reason() -> None:
    _, orientation, _, (a,) = await enrolled(1)
    await orientation.plan(planned(session()))
    with pytest.raises(Refused, match="not invited"):
        await orientation.take_seat(seat(SessionSeatRequested, "0" * 8 + "-0000-5000-8000-" + "0" * 12))
    late = SessionSeatRequested.new(
        source="forms", subject=a, data=SeatRequest(session_id="orientation-india-2020", company_id=a), time=START + timedelta(minutes=1)
    )
    with pytest.raises(Refused, match="started"):
        await orientation.take_seat(late)
    with pytest.raises(Refused, match="unknown"):
        await orientation.take_seat(
            seat(SessionSeatRequested, a).model_copy(update={"data": SeatRequest(session_id="nope-1", company_id=a)})
        )


async def test_a_change_reinvites_with_a_higher_sequence_and_a_cancellation_releases_every_seat() -> None:
    _, orientation, store, (a, b) = await enrolled(2)
    await orientation.plan(planned(session(capacity=1)))
    await orientation.take_seat(seat(SessionSeatRequested, a))
    await orientation.take_seat(seat(SessionSeatRequested, b, 1))
    store.published.clear()
    moved = session(capacity=1, start=START + timedelta(days=1), end=START + timedelta(days=1, hours=2))
    await orientation.plan(planned(moved, SIGNUP_TIME + timedelta(days=3)))
    invitations = [r.event.data for r in store.published if isinstance(r.event, SessionInvited)]
    assert {i.company_id for i in invitations} == {a, b} and {i.sequence for i in invitations} == {1}
    store.published.clear()
    await orientation.plan(planned(moved.model_copy(update={"status": "cancelled"}), SIGNUP_TIME + timedelta(days=4)))
    released = [(r.event.data.company_id, r.event.data.reason) for r in store.published if isinstance(r.event, SessionSeatChanged)]
    assert sorted(released) == sorted([(a, "session_cancelled"), (b, "session_cancelled")])
    store.published.clear()
    await orientation.plan(planned(moved, SIGNUP_TIME + timedelta(days=3, hours=1)))
    assert store.published == [], "a plan older than the one in force changes nothing"


async def test_a_capacity_raised_moves_the_waiting_list_up() -> None:
    _, orientation, store, (a, b, c) = await enrolled(3)
    await orientation.plan(planned(session(capacity=1)))
    for n, company in enumerate((a, b, c)):
        await orientation.take_seat(seat(SessionSeatRequested, company, n))
    store.published.clear()
    await orientation.plan(planned(session(capacity=3), SIGNUP_TIME + timedelta(days=3)))
    promoted = [r.event.data.company_id for r in store.published if isinstance(r.event, SessionSeatChanged) and r.event.data.promoted]
    assert promoted == [b, c]


async def test_attendance_is_recorded_for_every_invitee_and_a_correction_only_for_the_changed() -> None:
    _, orientation, store, (a, b, c) = await enrolled(3, required=True)
    await orientation.plan(planned(session()))
    await orientation.take_seat(seat(SessionSeatRequested, a))
    await orientation.take_seat(seat(SessionSeatRequested, b, 1))
    store.published.clear()
    await orientation.record_attendance(attendance(a))
    records = {r.event.data.company_id: r.event.data for r in store.published if isinstance(r.event, SessionAttendanceRecorded)}
    assert {k: (v.attended, v.registered, v.required_by) for k, v in records.items()} == {
        a: (True, True, ["india-2020"]),
        b: (False, True, ["india-2020"]),
        c: (False, False, ["india-2020"]),
    }
    store.published.clear()
    correction = attendance(a, b).model_copy(update={"time": START + timedelta(hours=5)})
    correction = SessionAttendanceReported.new(source="operators", subject="s", data=correction.data, time=correction.time)
    await orientation.record_attendance(correction)
    assert session_events(store) == [("session.attendance_recorded.v1", b, "attended")]


async def test_a_company_enrolled_after_planning_is_invited_through_the_session_writer() -> None:
    registration, orientation, store, _ = await enrolled(1)
    await orientation.plan(planned(session()))
    store.published.clear()
    late = lombard(company_name="Ritardataria S.r.l.", partita_iva=valid_partita_iva("0555555001"))
    await registration.apply_signup(signup(late, time=SIGNUP_TIME + timedelta(days=2)))
    [request] = [r for r in store.published if r.topic is Topic.REGISTRATION_COMMANDS]
    assert request.key == "orientation-india-2020"
    assert request.event is not None
    await orientation.invite(request.event)  # type: ignore[arg-type]
    await orientation.invite(request.event)  # type: ignore[arg-type]
    invited = [r.event.data.company_id for r in store.published if isinstance(r.event, SessionInvited)]
    assert invited == [request.event.data.company_id]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 4)), max_size=25), st.integers(1, 3))
def test_seats_never_exceed_the_capacity_and_nobody_both_sits_and_waits(moves: list[tuple[bool, int]], capacity: int) -> None:
    import asyncio

    async def run() -> None:
        _, orientation, _, ids = await enrolled(5)
        await orientation.plan(planned(session(capacity=capacity)))
        for n, (take, who) in enumerate(moves):
            kind = SessionSeatRequested if take else SessionSeatReleased
            await _apply(orientation, seat(kind, ids[who], n))
            held = await orientation.store.sessions.get("orientation-india-2020")
            assert held is not None
            assert len(held.seats) <= capacity and not set(held.seats) & set(held.waiting)
            assert not held.waiting or len(held.seats) == capacity, "someone waits while a seat is free"

    asyncio.run(run())


def test_a_session_for_both_a_mission_and_a_market_or_ending_before_it_starts_is_invalid() -> None:
    with pytest.raises(ValueError, match="one mission"):
        session(country="IN")
    with pytest.raises(ValueError, match="end after"):
        session(end=START)


async def _apply(orientation: Orientation, event: Any) -> None:
    match event:
        case SessionPlanned():
            await orientation.plan(event)
        case SessionSeatRequested():
            await orientation.take_seat(event)
        case SessionSeatReleased():
            await orientation.release_seat(event)
