"""Commands operators give the services' infrastructure, on operator.commands."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.envelope import Contract, Envelope


class RecordPark(Contract):
    """Skip one record by position: dead-letter it (reason "parked") and move past it."""

    topic: Annotated[str, Field(min_length=1, max_length=249)]
    partition: Annotated[int, Field(ge=0, lt=2**31)]
    offset: Annotated[int, Field(ge=0, lt=2**63)]
    service: Literal["registration", "matching", "notifications"] | None = None
    """Only this service's consumers; every service consuming the topic if none."""
    operator: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Annotated[str, Field(max_length=1000)] = ""


class RecordParkRequested(Envelope[RecordPark]):
    type: Literal["record.park_requested.v1"] = "record.park_requested.v1"
