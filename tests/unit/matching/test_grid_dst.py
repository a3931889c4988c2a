"""The slot grid across 2020's DST switches: Europe on 25 Oct, North America on 1 Nov."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from services.matching.domain.scheduling import InstanceError, mission_slots, unavailable_slots
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.missions import BusinessHours

MISSIONS = {m.mission_id: m for m in MISSIONS_2020}


def hours(start: int, end: int) -> BusinessHours:
    return BusinessHours(start=time(start), end=time(end))


def by_day(slots) -> dict[date, list]:
    days: dict[date, list] = {}
    for s in slots:
        days.setdefault(s.start.date(), []).append(s)
    return days


def local(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).isoformat()


def test_india_slots_follow_rome_across_its_switch_while_kolkata_stays() -> None:
    days = by_day(mission_slots(MISSIONS["india-2020"]))
    assert sorted(days) == [date(2020, 10, d) for d in (19, 20, 21, 22, 23, 26, 27, 28, 29, 30)]
    before, after = days[date(2020, 10, 23)], days[date(2020, 10, 26)]
    assert before[0].id == "2020-10-23T07:00Z" and len(before) == 12
    assert local(before[0].start, "Europe/Rome") == "2020-10-23T09:00:00+02:00"
    assert local(before[0].start, "Asia/Kolkata") == "2020-10-23T12:30:00+05:30"
    assert local(before[-1].end, "Europe/Rome") == "2020-10-23T15:00:00+02:00"
    assert after[0].id == "2020-10-26T08:00Z" and len(after) == 11
    assert local(after[0].start, "Europe/Rome") == "2020-10-26T09:00:00+01:00"
    assert local(after[0].start, "Asia/Kolkata") == "2020-10-26T13:30:00+05:30"
    assert local(after[-1].end, "Asia/Kolkata") == "2020-10-26T19:00:00+05:30"
    assert all((s.end - s.start).total_seconds() == 1800 for s in before + after)


def test_russia_loses_an_hour_of_overlap_after_europe_switches() -> None:
    days = by_day(mission_slots(MISSIONS["russia-2020"]))
    assert [s.id[11:] for s in days[date(2020, 10, 23)]][::15] == ["07:00Z", "14:30Z"]
    assert len(days[date(2020, 10, 23)]) == 16 and len(days[date(2020, 10, 26)]) == 14
    assert local(days[date(2020, 10, 26)][-1].end, "Europe/Moscow") == "2020-10-26T18:00:00+03:00"


def test_uk_in_early_november_and_a_new_york_partner_after_the_us_switch() -> None:
    slots = mission_slots(MISSIONS["uk-2020"])
    first_day = by_day(slots)[date(2020, 11, 2)]
    assert first_day[0].id == "2020-11-02T09:00Z" and first_day[-1].id == "2020-11-02T16:30Z"
    assert local(first_day[0].start, "Europe/London") == "2020-11-02T09:00:00+00:00"
    assert local(first_day[0].start, "Europe/Rome") == "2020-11-02T10:00:00+01:00"
    forbidden = unavailable_slots(first_day, "America/New_York", hours(9, 17))
    open_ = [s.id for s in first_day if s.id not in forbidden]
    assert open_[0] == "2020-11-02T14:00Z" and open_[-1] == "2020-11-02T16:30Z"


def test_between_the_two_switches_a_vancouver_partner_has_more_overlap() -> None:
    canada = MISSIONS["canada-2020"].model_copy(update={"window_start": date(2020, 10, 26), "window_end": date(2020, 11, 6)})
    days = by_day(mission_slots(canada))
    for day in (date(2020, 10, 30), date(2020, 11, 2)):
        assert days[day][0].start.time() == time(13) and days[day][-1].end.time() == time(19)
    assert local(days[date(2020, 10, 30)][0].start, "America/Toronto") == "2020-10-30T09:00:00-04:00"
    assert local(days[date(2020, 11, 2)][0].start, "America/Toronto") == "2020-11-02T08:00:00-05:00"

    def open_from(day: date) -> str:
        forbidden = unavailable_slots(days[day], "America/Vancouver", hours(8, 17))
        return next(s.id for s in days[day] if s.id not in forbidden)

    assert open_from(date(2020, 10, 30)) == "2020-10-30T15:00Z"  # 08:00 PDT
    assert open_from(date(2020, 11, 2)) == "2020-11-02T16:00Z"  # 08:00 PST


def test_canada_mission_in_standard_time_on_both_sides() -> None:
    days = by_day(mission_slots(MISSIONS["canada-2020"]))
    first = days[date(2020, 11, 16)]
    assert [first[0].id, first[-1].id] == ["2020-11-16T13:00Z", "2020-11-16T18:30Z"]
    assert local(first[0].start, "America/Toronto") == "2020-11-16T08:00:00-05:00"
    assert local(first[-1].end, "Europe/Rome") == "2020-11-16T20:00:00+01:00"
    forbidden = unavailable_slots(first, "America/Vancouver", hours(8, 17))
    assert len(forbidden) == 6 and "2020-11-16T15:30Z" in forbidden and "2020-11-16T16:00Z" not in forbidden


def test_china_evening_slots_fall_on_the_next_local_day_in_shanghai() -> None:
    china = MISSIONS["china-2020"]
    slots = mission_slots(china)
    assert local(slots[0].start, "Asia/Shanghai") == "2020-11-30T15:00:00+08:00"
    # Rome 08-20 (07-19Z) against Shanghai 00-23 (16:00Z the day before to 15:00Z): Thursday's
    # evening slots are Friday in Shanghai, Friday's would be Saturday there, so there are none.
    late = china.model_copy(update={"lombard_hours": hours(8, 20), "foreign_hours": hours(0, 23)})
    days = by_day(mission_slots(late))
    thursday, friday = days[date(2020, 12, 3)], days[date(2020, 12, 4)]
    assert [s.id[11:] for s in thursday if s.start.hour >= 15] == ["16:00Z", "16:30Z", "17:00Z", "17:30Z", "18:00Z", "18:30Z"]
    assert local(thursday[-1].start, "Asia/Shanghai") == "2020-12-04T02:30:00+08:00"
    assert friday[-1].id == "2020-12-04T14:30Z"
    forbidden = unavailable_slots(thursday, "Asia/Shanghai", hours(0, 23))
    assert forbidden == set()


def test_weekends_have_no_slots() -> None:
    assert all(s.start.weekday() < 5 for m in MISSIONS_2020 for s in mission_slots(m))


def test_unavailable_and_available_spans() -> None:
    slots = by_day(mission_slots(MISSIONS["india-2020"]))[date(2020, 10, 26)]
    busy = (datetime(2020, 10, 26, 9, 15, tzinfo=UTC), datetime(2020, 10, 26, 10, 0, tzinfo=UTC))
    forbidden = unavailable_slots(slots, "Asia/Kolkata", hours(10, 19), unavailable=[busy])
    assert forbidden == {"2020-10-26T09:00Z", "2020-10-26T09:30Z"}
    only = (datetime(2020, 10, 26, 11, 0, tzinfo=UTC), datetime(2020, 10, 26, 12, 0, tzinfo=UTC))
    forbidden = unavailable_slots(slots, "Asia/Kolkata", hours(10, 19), available=[only])
    assert {s.id for s in slots} - forbidden == {"2020-10-26T11:00Z", "2020-10-26T11:30Z"}
    with pytest.raises(InstanceError, match="no time zone"):
        unavailable_slots(slots, "Asia/Kolkata", hours(10, 19), unavailable=[(datetime(2020, 10, 26, 9), busy[1])])  # noqa: DTZ001 - naive on purpose
    with pytest.raises(InstanceError, match="unknown IANA time zone"):
        unavailable_slots(slots, "Asia/Nowhere", hours(10, 19))
