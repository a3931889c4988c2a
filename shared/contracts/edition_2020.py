"""The 2020 (third) edition of Progetto Outgoing, as MissionPlanned payloads: the reference data.

India and Russia ran in the second half of October, the UK in the first half of
November, Canada in the second half of November and China in the first half of
December. Lombard hours are set per market so that both sides' working days overlap.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from shared.contracts.missions import BusinessHours, Mission

ROME = ZoneInfo("Europe/Rome")
ALL_SECTORS = [
    "arredo_design",
    "chimica",
    "cosmetica",
    "edilizia",
    "farmaceutico_medicale",
    "meccanica_metallurgia",
    "prodotti_alimentari",
    "sistema_moda",
]


def _deadline(day: date) -> datetime:
    """Enrollment closes at 23:59 Italian time on the given day (stored in UTC)."""
    return datetime.combine(day, time(23, 59), ROME).astimezone(ZoneInfo("UTC"))


def _mission(
    mission_id: str,
    country: str,
    market: str,
    market_tz: str,
    start: date,
    end: date,
    deadline: date,
    lombard: tuple[int, int],
    foreign: tuple[int, int],
    sectors: list[str],
) -> Mission:
    return Mission(
        mission_id=mission_id,
        country=country,
        market=market,
        sectors=sectors,
        window_start=start,
        window_end=end,
        enrollment_deadline=_deadline(deadline),
        meeting_minutes=30,
        lombard_hours=BusinessHours(start=time(lombard[0]), end=time(lombard[1])),
        foreign_hours=BusinessHours(start=time(foreign[0]), end=time(foreign[1])),
        lombard_timezone="Europe/Rome",
        market_timezone=market_tz,
        max_meetings_per_company=8,
        parallel_capacity=20,
    )


MISSIONS_2020: list[Mission] = [
    _mission(
        "india-2020",
        "IN",
        "India",
        "Asia/Kolkata",
        date(2020, 10, 19),
        date(2020, 10, 30),
        date(2020, 10, 5),
        (9, 15),
        (10, 19),
        ["meccanica_metallurgia", "chimica", "farmaceutico_medicale", "edilizia", "arredo_design", "prodotti_alimentari"],
    ),
    _mission(
        "russia-2020",
        "RU",
        "Russia",
        "Europe/Moscow",
        date(2020, 10, 19),
        date(2020, 10, 30),
        date(2020, 10, 5),
        (9, 17),
        (9, 18),
        ["arredo_design", "cosmetica", "sistema_moda", "prodotti_alimentari", "meccanica_metallurgia", "edilizia"],
    ),
    _mission(
        "uk-2020",
        "GB",
        "United Kingdom",
        "Europe/London",
        date(2020, 11, 2),
        date(2020, 11, 13),
        date(2020, 10, 19),
        (9, 18),
        (9, 17),
        ALL_SECTORS,
    ),
    _mission(
        "canada-2020",
        "CA",
        "Canada",
        "America/Toronto",
        date(2020, 11, 16),
        date(2020, 11, 27),
        date(2020, 11, 2),
        (14, 20),
        (8, 17),
        ["prodotti_alimentari", "arredo_design", "edilizia", "meccanica_metallurgia", "sistema_moda", "cosmetica"],
    ),
    _mission(
        "china-2020",
        "CN",
        "China",
        "Asia/Shanghai",
        date(2020, 11, 30),
        date(2020, 12, 11),
        date(2020, 11, 16),
        (8, 13),
        (9, 18),
        ["farmaceutico_medicale", "cosmetica", "prodotti_alimentari", "sistema_moda", "meccanica_metallurgia", "chimica"],
    ),
]
