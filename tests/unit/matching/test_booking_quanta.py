"""Back-to-back meetings of one company never reserve the same five-minute booking.

Bookings are one document per company and five minutes (services/matching/store.py); a
meeting length or business hours off the five-minute grid would make two consecutive
meetings share a step, so every re-plan of the mission would fail with a duplicate key.
The catalogue contract refuses such missions; here the property itself is checked.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.matching.store import Booking, booking_documents
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.missions import BusinessHours, Mission

UK = next(m for m in MISSIONS_2020 if m.mission_id == "uk-2020")


@given(
    length=st.integers(1, 48).map(lambda n: n * 5),
    start_step=st.integers(0, 24 * 12),
    count=st.integers(2, 6),
)
def test_consecutive_meetings_on_the_grid_reserve_disjoint_steps(length: int, start_step: int, count: int) -> None:
    day = datetime(2020, 11, 2, tzinfo=UTC) + timedelta(minutes=5 * start_step)
    meetings = [
        Booking("firm", day + timedelta(minutes=length * i), day + timedelta(minutes=length * (i + 1)), "uk-2020", f"m{i}")
        for i in range(count)
    ]
    reserved = [set(booking_documents(b)) for b in meetings]
    assert all(not (a & b) for i, a in enumerate(reserved) for b in reserved[i + 1 :])


def test_off_grid_lengths_would_collide_which_is_why_the_contract_refuses_them() -> None:
    start = datetime(2020, 11, 2, 9, 0, tzinfo=UTC)
    first = Booking("firm", start, start + timedelta(minutes=7), "uk-2020", "m1")
    second = Booking("firm", start + timedelta(minutes=7), start + timedelta(minutes=14), "uk-2020", "m2")
    assert set(booking_documents(first)) & set(booking_documents(second))
    with pytest.raises(ValidationError, match="multiple of 5"):
        Mission.model_validate({**UK.model_dump(), "meeting_minutes": 7})


@pytest.mark.parametrize("hours", [(time(9, 3), time(17, 0)), (time(9, 0), time(17, 2)), (time(9, 0, 30), time(17, 0))])
def test_business_hours_off_the_five_minute_grid_are_refused(hours: tuple[time, time]) -> None:
    with pytest.raises(ValidationError, match="five-minute mark"):
        BusinessHours(start=hours[0], end=hours[1])


def test_no_solve_an_operator_can_ask_for_outlasts_the_consumer_poll_interval() -> None:
    """A solve runs inside the consumer of its command: longer than max.poll.interval.ms and
    Kafka evicts that consumer, and a sibling solves the same command again."""
    from shared.contracts.matching import MAX_SOLVE_S, ScheduleRequest
    from shared.messaging import MAX_POLL_INTERVAL_MS

    assert MAX_SOLVE_S * 1000 + 60_000 <= MAX_POLL_INTERVAL_MS, "a minute left for the rest of the handler"
    with pytest.raises(ValidationError):
        ScheduleRequest(mission_id="uk-2020", operator="anna", time_limit_s=3600)
    assert ScheduleRequest(mission_id="uk-2020", operator="anna", time_limit_s=MAX_SOLVE_S).time_limit_s == MAX_SOLVE_S
