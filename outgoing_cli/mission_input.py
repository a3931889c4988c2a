"""Missions as operators give them (options, files), turned into strict contract objects.

Pure: no I/O except reading the given file. Validation is the services' own strict JSON
mode, so what passes here is what registration and matching will accept.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from outgoing_cli.console import CliError, describe_validation
from shared.contracts.missions import Mission, MissionPlanned


def parse_window(text: str) -> tuple[str, str]:
    start, sep, end = text.partition("..")
    if not sep:
        raise CliError(f"window {text!r} is not START..END", "e.g. --window 2020-10-19..2020-10-30")
    return start.strip(), end.strip()


def parse_hours(text: str) -> dict[str, str]:
    match = re.fullmatch(r"\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*", text)
    if match is None:
        raise CliError(f"hours {text!r} are not START-END", "e.g. 9-15 or 09:00-15:30 (local time of that side)")
    h1, m1, h2, m2 = match.groups()
    try:
        return {"start": time(int(h1), int(m1 or 0)).isoformat(), "end": time(int(h2), int(m2 or 0)).isoformat()}
    except ValueError as error:
        raise CliError(f"hours {text!r}: {error}", "hours run 0-23, minutes 0-59") from None


def parse_deadline(text: str, zone: str) -> str:
    """A date closes at 23:59 in the Lombard zone (as in 2020); a time without offset is read there too."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f"unknown time zone {zone!r}", "use an IANA name such as Europe/Rome") from None
    try:
        moment = datetime.combine(date.fromisoformat(text), time(23, 59)) if len(text.strip()) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"deadline {text!r} is not an ISO date or date-time", "e.g. 2020-10-05 or 2020-10-05T18:00+02:00") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).isoformat()


def validated_mission(data: dict[str, Any], what: str = "the mission") -> Mission:
    """Strict JSON validation, as the services will decode it."""
    try:
        return Mission.model_validate_json(json.dumps(data))
    except ValidationError as error:
        raise CliError(f"{what} is invalid: {describe_validation(error, limit=6)}") from None


def missions_from_file(path: Path) -> list[Mission]:
    """A mission, or a list of them, as payloads or as mission.planned.v1 envelopes."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read {path}: {error}") from None
    items = loaded if isinstance(loaded, list) else [loaded]
    missions = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise CliError(f"{path}: item {index} is not a JSON object")
        payload = item.get("data") if item.get("type") == MissionPlanned.EVENT_TYPE else item
        missions.append(validated_mission(payload if isinstance(payload, dict) else {}, f"{path}: item {index}"))
    return missions


def mission_from_options(
    mission_id: str | None,
    country: str | None,
    market: str | None,
    market_tz: str | None,
    lombard_tz: str,
    window: str | None,
    lombard_hours: str | None,
    foreign_hours: str | None,
    meeting_minutes: int,
    capacity: int,
    max_meetings: int,
    sectors: list[str],
    deadline: str | None,
    status: str,
) -> Mission:
    required = {
        "--country": country,
        "--market": market,
        "--market-tz": market_tz,
        "--window": window,
        "--lombard-hours": lombard_hours,
        "--foreign-hours": foreign_hours,
        "--deadline": deadline,
    }
    missing = [name for name, value in required.items() if value is None]
    if not sectors:
        missing.append("--sector")
    if missing:
        raise CliError(f"mission {mission_id} needs {', '.join(missing)}", "see `outgoing mission plan --help`")
    start, end = parse_window(window or "")
    return validated_mission(
        {
            "mission_id": mission_id,
            "country": country,
            "market": market,
            "sectors": sectors,
            "window_start": start,
            "window_end": end,
            "enrollment_deadline": parse_deadline(deadline or "", lombard_tz),
            "meeting_minutes": meeting_minutes,
            "lombard_hours": parse_hours(lombard_hours or ""),
            "foreign_hours": parse_hours(foreign_hours or ""),
            "lombard_timezone": lombard_tz,
            "market_timezone": market_tz,
            "max_meetings_per_company": max_meetings,
            "parallel_capacity": capacity,
            "status": status,
        },
        f"mission {mission_id}",
    )
