"""A mission's agenda as operators read it, folded from the events matching published.

Pure: events in, rows out. Matching keys every mission event by mission id, so one
mission's events sit on one partition and arrive here in the order they were written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts.envelope import Envelope
from shared.contracts.matching import (
    AgendaPublished,
    AgendaSummary,
    Meeting,
    MeetingCancelled,
    MeetingRescheduled,
    MeetingScheduled,
)
from shared.contracts.registration import CompanyErased, CompanyRegistered, CompanyUpdated


def mission_of(event: Envelope[Any]) -> str | None:
    if isinstance(event, MeetingRescheduled):
        return event.data.meeting.mission_id
    return getattr(event.data, "mission_id", None)


@dataclass(frozen=True)
class _Latest:
    sequence: int
    meeting: Meeting | None
    """None: cancelled at this sequence."""


def fold_meetings(events: Iterable[Envelope[Any]]) -> dict[str, Meeting]:
    """The current meetings: per meeting id the highest sequence wins; at equal sequence a
    cancellation beats a (re)schedule, and between two (re)schedules the later one wins."""
    latest: dict[str, _Latest] = {}
    for event in events:
        if isinstance(event, MeetingScheduled):
            meeting_id, candidate = event.data.meeting_id, _Latest(event.data.sequence, event.data)
        elif isinstance(event, MeetingRescheduled):
            moved = event.data.meeting
            meeting_id, candidate = moved.meeting_id, _Latest(moved.sequence, moved)
        elif isinstance(event, MeetingCancelled):
            meeting_id, candidate = event.data.meeting_id, _Latest(event.data.sequence, None)
        else:
            continue
        current = latest.get(meeting_id)
        if current is None or _supersedes(candidate, current):
            latest[meeting_id] = candidate
    return {meeting_id: state.meeting for meeting_id, state in latest.items() if state.meeting is not None}


def _supersedes(candidate: _Latest, current: _Latest) -> bool:
    if candidate.sequence != current.sequence:
        return candidate.sequence > current.sequence
    return candidate.meeting is None or current.meeting is not None


def latest_summary(events: Iterable[Envelope[Any]]) -> AgendaSummary | None:
    """The newest published agenda: highest version, then latest event time."""
    summaries = [(e.data.version, e.time, e.data) for e in events if isinstance(e, AgendaPublished)]
    return max(summaries, key=lambda s: (s[0], s[1]))[2] if summaries else None


def company_names(events: Iterable[Envelope[Any]]) -> dict[str, str]:
    """Company names as registration last published them; an erased company shows by id only."""
    names: dict[str, str] = {}
    for event in events:
        if isinstance(event, CompanyRegistered):
            names[event.data.company_id] = event.data.company_name
        elif isinstance(event, CompanyUpdated):
            names[event.data.profile.company_id] = event.data.profile.company_name
        elif isinstance(event, CompanyErased):
            names.pop(event.data.company_id, None)
    return names


def format_span(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """``Mon 2020-10-26 15:00–15:30 CET``; the abbreviation shows which side of a DST switch."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    days = (local_end.date() - local_start.date()).days
    later = f" (+{days}d)" if days else ""
    return f"{local_start:%a %Y-%m-%d %H:%M}–{local_end:%H:%M}{later} {local_start.tzname()}"


@dataclass(frozen=True)
class Side:
    company_id: str
    name: str
    time: str


@dataclass(frozen=True)
class AgendaRow:
    start: datetime
    meeting_id: str
    sequence: int
    lombard: Side
    partner: Side


def agenda_rows(
    meetings: Iterable[Meeting], names: dict[str, str], company: str | None = None, zone: ZoneInfo | None = None
) -> list[AgendaRow]:
    """One row per meeting in start order; each side's time in its own zone unless ``zone`` is given."""
    rows = []
    for meeting in meetings:
        if company is not None and company not in meeting.participants:
            continue
        lombard_id, partner_id = _sides(meeting)
        lombard, partner = _side(meeting, lombard_id, names, zone), _side(meeting, partner_id, names, zone)
        rows.append(AgendaRow(meeting.start, meeting.meeting_id, meeting.sequence, lombard, partner))
    return sorted(rows, key=lambda r: (r.start, r.lombard.company_id, r.meeting_id))


def _side(meeting: Meeting, company_id: str, names: dict[str, str], zone: ZoneInfo | None) -> Side:
    """One company's side of a meeting, its time in ``zone`` if given, else in the company's own zone."""
    zones = {lt.company_id: lt.timezone for lt in meeting.local_times}
    shown_in = zone or ZoneInfo(zones.get(company_id, "UTC"))
    return Side(company_id, names.get(company_id, ""), format_span(meeting.start, meeting.end, shown_in))


def _sides(meeting: Meeting) -> tuple[str, str]:
    roles = {lt.company_id: lt.role for lt in meeting.local_times}
    first, second = meeting.participants
    return (second, first) if roles.get(second) == "lombard" or roles.get(first) == "foreign" else (first, second)


def breaks_of(summary: AgendaSummary | None, company: str | None = None) -> dict[str, int]:
    if summary is None:
        return {}
    return {c: n for c, n in sorted(summary.breaks.items()) if company is None or c == company}
