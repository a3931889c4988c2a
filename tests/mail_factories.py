"""Notifications' test data: two companies of the India mission, their contacts, a meeting, a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts.matching import LocalTime, Meeting
from shared.contracts.registration import CompanyProfile, Contact, ContactDetails, ContactDetailsRecorded
from tests.support import FakeClock

__all__ = ["FakeClock"]

T0 = datetime(2020, 10, 20, 8, 0, tzinfo=UTC)
START = datetime(2020, 10, 26, 9, 0, tzinfo=UTC)  # Monday after Europe left summer time: 10:00 in Rome, 14:30 in Kolkata
LOMBARD = "rossi-meccanica-0001"
FOREIGN = "mumbai-tools-0002"
LOMBARD_MAIL = "mario.rossi@rossi.example"
FOREIGN_MAIL = "priya@mmt.example"


def profile(company_id: str, role: str, name: str, **extra: Any) -> CompanyProfile:
    base: dict[str, Any] = (
        {"country": "IT", "province": "BG", "timezone": "Europe/Rome", "preferred_language": "it", "languages": ["it", "en"]}
        if role == "lombard"
        else {"country": "IN", "timezone": "Asia/Kolkata", "preferred_language": "en", "languages": ["en"]}
    )
    return CompanyProfile.model_validate(
        {"company_id": company_id, "role": role, "company_name": name, "sectors": ["meccanica_metallurgia"], **base, **extra}
    )


def contact(company_id: str, name: str, email: str, language: str, chosen: str | None = None) -> ContactDetailsRecorded:
    details = ContactDetails(
        company_id=company_id, contact=Contact(name=name, email=email, preferred_language=chosen), preferred_language=language
    )
    return ContactDetailsRecorded.new(source="registration", subject=company_id, data=details, time=T0 - timedelta(days=30))


def meeting(
    start: datetime = START, sequence: int = 0, meeting_id: str = "india-2020-m0001", participants: tuple[str, str] = (LOMBARD, FOREIGN)
) -> Meeting:
    end = start + timedelta(minutes=30)
    zones = {LOMBARD: ("lombard", "Europe/Rome")}
    local_times = []
    for company in participants:
        role, tz = zones.get(company, ("foreign", "Asia/Kolkata"))
        local_times.append(
            LocalTime(
                company_id=company,
                role=role,
                timezone=tz,
                start_local=start.astimezone(ZoneInfo(tz)).isoformat(),
                end_local=end.astimezone(ZoneInfo(tz)).isoformat(),
            )
        )
    return Meeting(
        meeting_id=meeting_id,
        mission_id="india-2020",
        participants=list(participants),
        start=start,
        end=end,
        local_times=local_times,
        video_url=f"https://meet.outgoing.example/room/{meeting_id}",
        sequence=sequence,
        slot_id="s1",
    )
