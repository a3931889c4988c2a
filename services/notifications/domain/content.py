"""The facts a template needs, computed from a plan and the read models; pure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.notifications.domain.language import Language
from services.notifications.domain.plans import Plan
from services.notifications.domain.safety import zone
from services.notifications.domain.times import duration_text, local_date, local_span

PARTNER_FALLBACK = {"it": "la controparte", "en": "your partner"}
SUMMARY = {"it": "Incontro B2B Outgoing con {partner} ({market})", "en": "Outgoing B2B meeting with {partner} ({market})"}
VIDEO = {"it": "Collegamento video", "en": "Video link"}


def meeting_zone(meeting: dict[str, Any], company_id: str, company: dict[str, Any] | None) -> str:
    """The recipient's own zone: as the meeting states it, else as their profile does."""
    for local in meeting.get("local_times", []):
        if local.get("company_id") == company_id:
            return str(local["timezone"])
    return company_zone(company)


def company_zone(company: dict[str, Any] | None) -> str:
    if company and company.get("timezone"):
        return str(company["timezone"])
    return "Europe/Rome" if (company or {}).get("role") == "lombard" else "UTC"


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def template_context(
    plan: Plan,
    language: Language,
    contact_name: str,
    company: dict[str, Any] | None,
    partner: dict[str, Any] | None,
    mission: dict[str, Any] | None,
    survey_url: Callable[[str, str, str], str],
) -> dict[str, Any]:
    """Everything the templates may show. Only company NAMES of partners, never their contacts."""
    details = plan.details
    market = (mission or {}).get("market") or plan.mission_id or ""
    context: dict[str, Any] = {
        "kind": plan.kind,
        "language": language,
        "contact_name": contact_name,
        "company_name": (company or {}).get("company_name", ""),
        "mission_id": plan.mission_id,
        "market": market,
        "notification_id": plan.notification_id,
        "mission_window": "",
        "previous_when": "",
        "reason": "",
    }
    if mission:
        context["mission_window"] = (
            f"{local_date(datetime.fromisoformat(mission['window_start'] + 'T12:00:00+00:00'), 'UTC', language)} – "
            f"{local_date(datetime.fromisoformat(mission['window_end'] + 'T12:00:00+00:00'), 'UTC', language)}"
        )
    if "violations" in details:
        context["reasons"] = [v["message_it"] if language == "it" else v["message_en"] for v in details["violations"]]
    meeting = details.get("meeting") or (
        details.get("followup")
        and {**details["followup"], "start": details["followup"]["meeting_start"], "end": details["followup"]["meeting_end"]}
    )
    if meeting:
        tz_name = meeting_zone(meeting, plan.company_id, company)
        zone(tz_name)
        start, end = _instant(meeting["start"]), _instant(meeting["end"])
        partner_name = (partner or {}).get("company_name") or PARTNER_FALLBACK[language]
        context |= {
            "partner_name": partner_name,
            "timezone": tz_name,
            "when": local_span(start, end, tz_name, language),
            "when_utc": f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC",
            "video_url": meeting.get("video_url", ""),
            "sequence": meeting.get("sequence", 0),
            "summary": SUMMARY[language].format(partner=partner_name, market=market),
        }
        if "previous_start" in details:
            context["previous_when"] = local_span(_instant(details["previous_start"]), _instant(details["previous_end"]), tz_name, language)
        if details.get("reason"):
            context["reason"] = details["reason"]
        if "offset_s" in details:
            context["before"] = duration_text(details["offset_s"], language)
    if "followup" in details:
        followup = details["followup"]
        context["survey_url"] = survey_url(followup["meeting_id"], plan.company_id, followup["kind"])
    return context


def calendar_description(context: dict[str, Any]) -> str:
    return f"{context['summary']}\n{context['when']}\n{VIDEO[context['language']]}: {context['video_url']}"


def partner_of(meeting: dict[str, Any], company_id: str) -> str | None:
    others = [p for p in meeting.get("participants", []) if p != company_id]
    return others[0] if others else None
