"""Meeting times as a recipient reads them: in their own zone, with the zone named."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.notifications.domain.language import Language
from services.notifications.domain.safety import zone

_DAYS = {
    "it": ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
_MONTHS = {
    "it": [
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"],
}


def local_date(moment: datetime, zone_name: str, language: Language) -> str:
    local = moment.astimezone(zone(zone_name))
    return f"{_DAYS[language][local.weekday()]} {local.day} {_MONTHS[language][local.month - 1]} {local.year}"


def utc_offset(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def local_span(start: datetime, end: datetime, zone_name: str, language: Language) -> str:
    """e.g. "lunedì 26 ottobre 2020, 10:00–10:30 (Europe/Rome, CET, UTC+01:00)"."""
    tz = zone(zone_name)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    abbreviation = local_start.tzname() or ""
    named = ", ".join(
        part for part in (zone_name, abbreviation if not abbreviation.startswith(("+", "-")) else "", utc_offset(local_start)) if part
    )
    return f"{local_date(start, zone_name, language)}, {local_start:%H:%M}–{local_end:%H:%M} ({named})"


def duration_text(seconds: float, language: Language) -> str:
    """How long before the meeting a reminder goes out: "24 ore", "1 hour", "30 minutes"."""
    minutes = round(seconds / 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} {'ora' if hours == 1 else 'ore'}" if language == "it" else f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} {'minuto' if minutes == 1 else 'minuti'}" if language == "it" else f"{minutes} minute{'s' if minutes != 1 else ''}"
