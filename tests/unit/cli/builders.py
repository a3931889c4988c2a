"""Matching and registration events as the CLI reads them, built the way matching will publish them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiokafka import ConsumerRecord

from shared.contracts.matching import (
    AgendaPublished,
    AgendaSummary,
    LocalTime,
    Meeting,
    MeetingCancellation,
    MeetingCancelled,
    MeetingMove,
    MeetingRescheduled,
    MeetingScheduled,
)
from shared.contracts.registration import CompanyProfile, CompanyRegistered

LOMBARD = "rossi-meccanica-01"
PARTNER = "toronto-tools-0001"
OTHER = "milano-moda-00001"
MISSION = "canada-2020"


def local_time(company_id: str, role: str, zone: str, start: datetime, end: datetime) -> LocalTime:
    tz = ZoneInfo(zone)
    return LocalTime(
        company_id=company_id,
        role=role,
        timezone=zone,
        start_local=start.astimezone(tz).isoformat(),
        end_local=end.astimezone(tz).isoformat(),
    )


def meeting(
    meeting_id: str,
    start: datetime,
    sequence: int = 0,
    lombard: str = LOMBARD,
    partner: str = PARTNER,
    minutes: int = 30,
    mission: str = MISSION,
    partner_zone: str = "America/Toronto",
    foreign_first: bool = False,
) -> Meeting:
    end = start + timedelta(minutes=minutes)
    participants = [partner, lombard] if foreign_first else [lombard, partner]
    return Meeting(
        meeting_id=meeting_id,
        mission_id=mission,
        participants=participants,
        start=start,
        end=end,
        local_times=[local_time(lombard, "lombard", "Europe/Rome", start, end), local_time(partner, "foreign", partner_zone, start, end)],
        video_url=f"https://meet.outgoing.example/room/{meeting_id}",
        sequence=sequence,
        slot_id=f"slot-{start:%Y%m%d%H%M}",
    )


def scheduled(m: Meeting) -> MeetingScheduled:
    return MeetingScheduled.new(source="matching", subject=m.mission_id, data=m)


def rescheduled(m: Meeting, previous: Meeting) -> MeetingRescheduled:
    move = MeetingMove(meeting=m, previous_start=previous.start, previous_end=previous.end, reason="operator moved it")
    return MeetingRescheduled.new(source="matching", subject=m.mission_id, data=move)


def cancelled(m: Meeting, sequence: int) -> MeetingCancelled:
    payload = MeetingCancellation(
        meeting_id=m.meeting_id,
        mission_id=m.mission_id,
        participants=m.participants,
        start=m.start,
        end=m.end,
        sequence=sequence,
        reason="withdrawn",
    )
    return MeetingCancelled.new(source="matching", subject=m.mission_id, data=payload)


def agenda_published(version: int, breaks: dict[str, int], mission: str = MISSION, time: datetime | None = None) -> AgendaPublished:
    summary = AgendaSummary(
        mission_id=mission,
        version=version,
        status="optimal",
        meetings=2,
        unscheduled=0,
        total_breaks=sum(breaks.values()),
        solver="cp-sat",
        seconds=1.5,
        breaks=breaks,
    )
    return AgendaPublished.new(source="matching", subject=mission, data=summary, time=time)


def registered(company_id: str, name: str, role: str = "lombard") -> CompanyRegistered:
    profile = CompanyProfile(
        company_id=company_id,
        role=role,
        company_name=name,
        country="IT" if role == "lombard" else "CA",
        timezone="Europe/Rome" if role == "lombard" else "America/Toronto",
        sectors=["meccanica_metallurgia"],
        languages=["it"],
        preferred_language="it",
    )
    return CompanyRegistered.new(source="registration", subject=company_id, data=profile)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def record(
    value: bytes | None,
    key: bytes | None = b"k",
    headers: list[tuple[str, bytes]] | None = None,
    topic: str = "t.registration.dlq",
    partition: int = 0,
    offset: int = 0,
    timestamp: int = 1_600_000_000_000,
) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=timestamp,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""),
        headers=tuple(headers or ()),
    )
