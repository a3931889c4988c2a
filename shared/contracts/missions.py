"""The mission catalogue: operators plan missions with MissionPlanned.v1.

Where it lives: the ``missions.catalogue`` topic, log-compacted and keyed by mission id,
is the catalogue's source of truth; each MissionPlanned carries a mission's complete,
current definition (re-publish to change it). Registration and matching each consume it
into a read model in their own database, so neither reads the other's store.
"""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, model_validator

from shared.contracts.envelope import Contract, Envelope, UtcDatetime

MissionId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None
    return name


TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


class BusinessHours(Contract):
    """Daily hours one side can meet, in local time; the zone is the participant's own."""

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("business hours must end after they start")
        if any(t.minute % 5 or t.second or t.microsecond for t in (self.start, self.end)):
            raise ValueError("business hours must start and end on a five-minute mark (e.g. 09:00, 09:05)")
        return self


class Mission(Contract):
    mission_id: MissionId
    country: CountryCode
    market: Annotated[str, Field(min_length=1, max_length=100)]
    sectors: Annotated[list[str], Field(min_length=1)]
    window_start: date
    window_end: date
    enrollment_deadline: UtcDatetime
    meeting_minutes: Annotated[int, Field(ge=5, le=240, multiple_of=5)]
    """A multiple of five: bookings reserve five-minute steps, so back-to-back meetings never share one."""
    lombard_hours: BusinessHours
    foreign_hours: BusinessHours
    lombard_timezone: TimeZoneName = "Europe/Rome"
    market_timezone: TimeZoneName
    max_meetings_per_company: Annotated[int, Field(ge=1, le=100)]
    parallel_capacity: Annotated[int, Field(ge=1, le=10_000)]
    status: Literal["planned", "cancelled"] = "planned"
    orientation_required: bool = False
    """A company is scheduled only once it attended an orientation session for this mission."""

    @model_validator(mode="after")
    def _window_ordered(self) -> Mission:
        if self.window_end < self.window_start:
            raise ValueError("the mission window must end on or after its start")
        return self


class MissionPlanned(Envelope[Mission]):
    type: Literal["mission.planned.v1"] = "mission.planned.v1"
