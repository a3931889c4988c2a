"""What a session message shows, and its calendar entry; pure.

The company reads the session's title in its own language and the times in its own zone
(its profile's, else Rome for Lombard companies), as it reads its meetings.
"""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from typing import Any

from services.notifications.domain.content import company_zone
from services.notifications.domain.ics import CalendarEntry, session_uid
from services.notifications.domain.language import Language
from services.notifications.domain.plans import Plan
from services.notifications.domain.times import duration_text, local_span

LINK = {"it": "Collegamento", "en": "Link"}


def mission_name(mission_id: str, mission: dict[str, Any] | None) -> str:
    """e.g. "India (india-2020)"; the id alone while the mission is not known."""
    return f"{mission['market']} ({mission_id})" if mission and mission.get("market") else mission_id


def session_context(plan: Plan, language: Language, company: dict[str, Any] | None, missions: dict[str, Any]) -> dict[str, Any]:
    """The session's facts for the templates; ``missions`` maps the ids in ``required_by`` to what is known of them."""
    details = plan.details
    session = details["session"]
    zone_name = company_zone(company)
    start, end = datetime.fromisoformat(session["start"]), datetime.fromisoformat(session["end"])
    title = session["title_it"] if language == "it" else session["title_en"]
    context: dict[str, Any] = {
        "session_title": title,
        "summary": title,
        "timezone": zone_name,
        "when": local_span(start, end, zone_name, language),
        "when_utc": f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC",
        "link": session["link"],
        "sequence": details.get("sequence", 0),
        "required_by": [mission_name(m, missions.get(m)) for m in details.get("required_by", [])],
        "previous_when": "",
        "before": "",
        "seat": details.get("seat", ""),
        "position": details.get("position", 0),
        "promoted": bool(details.get("promoted")),
    }
    if "previous_start" in details:
        previous_start, previous_end = datetime.fromisoformat(details["previous_start"]), datetime.fromisoformat(details["previous_end"])
        context["previous_when"] = local_span(previous_start, previous_end, zone_name, language)
    if "offset_s" in details:
        context["before"] = duration_text(details["offset_s"], language)
    return context


def session_entry(plan: Plan, context: dict[str, Any], organizer: Address, attendee: Address) -> CalendarEntry:
    """The company's own entry for the session: cancelled with the session, replaced by each later version."""
    session = plan.details["session"]
    return CalendarEntry(
        meeting_id=session["session_id"],
        sequence=int(plan.details["sequence"]),
        start=datetime.fromisoformat(session["start"]),
        end=datetime.fromisoformat(session["end"]),
        summary=context["summary"],
        description=f"{context['summary']}\n{context['when']}\n{LINK[context['language']]}: {session['link']}",
        video_url=session["link"],
        organizer=organizer,
        attendee=attendee,
        stamp=plan.due_at,
        method="CANCEL" if plan.kind == "session_cancellation" else "REQUEST",
        uid=session_uid(session["session_id"], plan.company_id),
    )
