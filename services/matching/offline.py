"""The JSON instance format of the offline solver, to and from the scheduling domain.

Shape and types are checked by pydantic (each error with its location, e.g.
``meetings.2.participants``); what needs the whole instance (unknown or duplicate ids,
overlapping slots) is checked by the domain, so the service and the CLI reject the same
things with the same messages. docs/scheduling.md documents every field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.matching.domain.instance import validate
from services.matching.domain.scheduling import Instance, InstanceError, MeetingSpec, Participant, Schedule, Slot
from shared.contracts.envelope import UtcDatetime
from shared.contracts.missions import TimeZoneName

Id = Annotated[str, Field(min_length=1, max_length=200)]
Count = Annotated[int, Field(ge=0)]


class _Closed(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class SlotIn(_Closed):
    id: Id
    start: UtcDatetime
    end: UtcDatetime


class ParticipantIn(_Closed):
    id: Id
    timezone: TimeZoneName
    forbidden_slots: list[Id] = []
    max_meetings: Count | None = None


class MeetingIn(_Closed):
    id: Id
    participants: Annotated[list[Id], Field(min_length=2, max_length=2)]
    allowed_slots: list[Id] | None = None
    fixed_slot: Id | None = None
    weight: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    required: bool = False


class InstanceIn(_Closed):
    slots: list[SlotIn]
    capacity: Count | dict[Id, Count]
    participants: list[ParticipantIn]
    meetings: list[MeetingIn]
    fairness: Count | None = None
    previous: dict[Id, Id] | None = None
    """The agenda already published (meeting id -> slot id), for incremental re-scheduling."""


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(document)"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


def parse(text: str | bytes) -> tuple[Instance, dict[str, str] | None]:
    """The domain instance and previous agenda from JSON text; InstanceError says what is wrong."""
    try:
        raw = InstanceIn.model_validate_json(text)
    except ValidationError as error:
        raise InstanceError(_describe(error)) from None
    instance = to_domain(raw)
    validate(instance)
    return instance, raw.previous


def to_domain(raw: InstanceIn) -> Instance:
    return Instance(
        slots=tuple(Slot(id=s.id, start=s.start, end=s.end) for s in raw.slots),
        participants=tuple(
            Participant(id=p.id, timezone=p.timezone, forbidden_slots=frozenset(p.forbidden_slots), max_meetings=p.max_meetings)
            for p in raw.participants
        ),
        meetings=tuple(
            MeetingSpec(
                id=m.id,
                participants=(m.participants[0], m.participants[1]),
                allowed_slots=None if m.allowed_slots is None else frozenset(m.allowed_slots),
                fixed_slot=m.fixed_slot,
                weight=m.weight,
                required=m.required,
            )
            for m in raw.meetings
        ),
        capacity=raw.capacity,
        fairness=raw.fairness,
    )


def _iso_utc(moment: Any) -> str:
    """An aware time as the fixtures write it: ``2020-10-20T09:00:00Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_json(instance: Instance, previous: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON document for an instance: what the fixtures and the benches write."""
    document: dict[str, Any] = {
        "slots": [{"id": s.id, "start": _iso_utc(s.start), "end": _iso_utc(s.end)} for s in instance.slots],
        "capacity": instance.capacity if isinstance(instance.capacity, int) else dict(instance.capacity),
        "participants": [
            {
                "id": p.id,
                "timezone": p.timezone,
                "forbidden_slots": sorted(p.forbidden_slots),
                **({"max_meetings": p.max_meetings} if p.max_meetings is not None else {}),
            }
            for p in instance.participants
        ],
        "meetings": [
            {
                "id": m.id,
                "participants": list(m.participants),
                **({"allowed_slots": sorted(m.allowed_slots)} if m.allowed_slots is not None else {}),
                **({"fixed_slot": m.fixed_slot} if m.fixed_slot is not None else {}),
                **({"weight": m.weight} if m.weight != 1.0 else {}),
                **({"required": True} if m.required else {}),
            }
            for m in instance.meetings
        ],
    }
    if instance.fairness is not None:
        document["fairness"] = instance.fairness
    if previous:
        document["previous"] = previous
    return document


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    """The solver's answer as printed by ``outgoing schedule solve``."""
    return {
        "status": schedule.status,
        "solver": schedule.solver,
        "assignments": [{"meeting": m, "slot": s} for m, s in sorted(schedule.assignments.items())],
        "unscheduled": list(schedule.unscheduled),
        "breaks": dict(schedule.breaks),
        "total_breaks": schedule.total_breaks,
        "bound": schedule.bound,
        "gap": schedule.gap,
        "seconds": schedule.seconds,
        "first_solution_seconds": schedule.first_solution_seconds,
        "moved": list(schedule.moved),
        "reason": schedule.reason,
    }
