"""A mission's slot grid and each participant's forbidden slots, from business hours and time zones.

Slots are UTC instants; zones matter only to decide which instants fall in someone's
working day. zoneinfo resolves each local day's offset on its own, so the grid stays right
across DST switches (Europe 25 Oct 2020, North America 1 Nov 2020) and for zones that
never switch (India, Russia, China).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from services.matching.domain.instance import InstanceError, Slot, zone
from shared.contracts.missions import BusinessHours, Mission

WORKING_WEEKDAYS = range(5)
"""Monday to Friday, on each side's own calendar."""


def slot_id_for(start: datetime) -> str:
    """Readable and stable: the UTC start to the minute, e.g. "2020-10-19T07:00Z"."""
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _working_interval(day: date, hours: BusinessHours, timezone: str) -> tuple[datetime, datetime] | None:
    if day.weekday() not in WORKING_WEEKDAYS:
        return None
    tz = zone(timezone)
    start = datetime.combine(day, hours.start, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day, hours.end, tzinfo=tz).astimezone(UTC)
    return start, end


def _days(first: date, last: date) -> Iterable[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def mission_slots(mission: Mission) -> list[Slot]:
    """Slots of ``meeting_minutes`` wherever both sides' working hours overlap on a mission day.

    Mission days are the window's dates on the Lombard calendar; the market's working
    day may be the day before or after (far east or west), so its neighbours count too.
    """
    length = timedelta(minutes=mission.meeting_minutes)
    slots: list[Slot] = []
    for day in _days(mission.window_start, mission.window_end):
        lombard = _working_interval(day, mission.lombard_hours, mission.lombard_timezone)
        if lombard is None:
            continue
        for foreign_day in (day - timedelta(days=1), day, day + timedelta(days=1)):
            foreign = _working_interval(foreign_day, mission.foreign_hours, mission.market_timezone)
            if foreign is None:
                continue
            start, end = max(lombard[0], foreign[0]), min(lombard[1], foreign[1])
            while start + length <= end:
                slots.append(Slot(id=slot_id_for(start), start=start, end=start + length))
                start += length
    return sorted(slots, key=lambda s: s.start)


def _aware(span: tuple[datetime, datetime], what: str) -> tuple[datetime, datetime]:
    start, end = span
    if start.tzinfo is None or end.tzinfo is None:
        raise InstanceError(f"{what} span {start}–{end} has no time zone (spans are UTC instants)")
    if end <= start:
        raise InstanceError(f"{what} span {start}–{end} ends at or before its start")
    return start, end


def unavailable_slots(
    slots: Iterable[Slot],
    timezone: str,
    hours: BusinessHours,
    unavailable: Iterable[tuple[datetime, datetime]] = (),
    available: Iterable[tuple[datetime, datetime]] = (),
) -> frozenset[str]:
    """Ids of the slots this participant cannot attend: the participant's forbidden slots.

    A slot is attendable when it lies wholly inside the participant's business hours on a
    working day of their own calendar, overlaps no ``unavailable`` span and, if any
    ``available`` spans are given, lies wholly inside one of them.
    """
    blocked = [_aware(s, "unavailable") for s in unavailable]
    allowed = [_aware(s, "available") for s in available]
    tz = zone(timezone)
    forbidden = set()
    for slot in slots:
        local_day = slot.start.astimezone(tz).date()
        working = _working_interval(local_day, hours, timezone)
        inside_hours = working is not None and working[0] <= slot.start and slot.end <= working[1]
        busy = any(start < slot.end and slot.start < end for start, end in blocked)
        outside_available = bool(allowed) and not any(start <= slot.start and slot.end <= end for start, end in allowed)
        if not inside_hours or busy or outside_available:
            forbidden.add(slot.id)
    return frozenset(forbidden)
