"""RFC 5545 calendar objects for meetings and sessions, built with icalendar.

One meeting is one calendar entry for its whole life: the UID derives from the meeting
id, SEQUENCE is the meeting's sequence (it grows with each reschedule), and an update is
a METHOD:REQUEST with the same UID, so calendars replace the entry instead of adding one.
A session is one entry per invited company, the same way (UID from session and company).
Times are in UTC; icalendar escapes text values (commas, semicolons, backslashes, newlines).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from typing import Literal

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//Outgoing//Virtual B2B missions//EN"
UID_DOMAIN = "meetings.outgoing"
SESSION_UID_DOMAIN = "sessions.outgoing"

Method = Literal["REQUEST", "CANCEL"]


def meeting_uid(meeting_id: str) -> str:
    return f"{meeting_id}@{UID_DOMAIN}"


def session_uid(session_id: str, company_id: str) -> str:
    """One entry per company: each company's invitation names it alone as attendee."""
    return f"{session_id}.{company_id}@{SESSION_UID_DOMAIN}"


@dataclass(frozen=True)
class CalendarEntry:
    meeting_id: str
    sequence: int
    start: datetime
    end: datetime
    summary: str
    description: str
    video_url: str
    organizer: Address
    attendee: Address
    stamp: datetime
    method: Method = "REQUEST"
    uid: str = ""
    """The entry's UID when it is not the meeting's (a session's)."""


def _address(address: Address, role: str | None = None) -> vCalAddress:
    value = vCalAddress(f"mailto:{address.addr_spec}")
    if address.display_name:
        value.params["CN"] = vText(address.display_name)
    if role:
        value.params["ROLE"] = role
        value.params["PARTSTAT"] = "NEEDS-ACTION"
        value.params["RSVP"] = "FALSE"
    return value


class _Text(vText):
    """RFC 5545 TEXT, escaped literally: icalendar reads a literal ``\\N`` in the input as an
    escaped newline (its documented normalisation), which turned a summary's backslash-N
    into a line break. Backslashes first, then the other specials."""

    def to_ical(self) -> bytes:
        text = str(self).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        return text.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n").encode()


def build_calendar(entry: CalendarEntry) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", entry.method)
    event = Event()
    event.add("uid", entry.uid or meeting_uid(entry.meeting_id))
    event.add("sequence", entry.sequence)
    event.add("dtstamp", entry.stamp)
    event.add("dtstart", entry.start)
    event.add("dtend", entry.end)
    event.add("summary", _Text(entry.summary))
    event.add("description", _Text(entry.description))
    event.add("location", entry.video_url)
    event.add("url", entry.video_url)
    event.add("status", "CANCELLED" if entry.method == "CANCEL" else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if entry.method == "CANCEL" else "OPAQUE")
    event["organizer"] = _address(entry.organizer)
    event.add("attendee", _address(entry.attendee, role="REQ-PARTICIPANT"))
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical
