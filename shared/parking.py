"""Parking a record by position: the operator's last resort for a consumer stuck on one record.

`outgoing dlq park TOPIC PARTITION OFFSET` publishes ``record.park_requested.v1`` on
operator.commands. Every service reads those commands in a consumer group of its own (so
a service's other operator subscribers are not split with it) and stores a marker in its
database. When a consumer is given that position again (a redelivery: the record never
completed), the dead-letter middleware finds the marker, dead-letters the record with the
reason ``parked`` and the operator's name, and acknowledges it: the group moves past it.

Markers are read only on redeliveries, so a healthy consumer never pays for them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.operations import RecordParkRequested
from shared.logging import get_logger
from shared.messaging import consumer

log = get_logger("outgoing.parking")

PARKED = "parked_records"


def _key(topic: str, partition: int, offset: int) -> str:
    return f"{topic}|{partition}|{offset}"


class ParkedRecords:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.parked = db[PARKED]

    async def park(self, order: RecordParkRequested) -> None:
        p = order.data
        await self.parked.update_one(
            {"_id": _key(p.topic, p.partition, p.offset)},
            {
                "$setOnInsert": {
                    "topic": p.topic,
                    "partition": p.partition,
                    "offset": p.offset,
                    "operator": p.operator,
                    "reason": p.reason,
                    "at": datetime.now(UTC),
                }
            },
            upsert=True,
        )

    async def find(self, topic: str, partition: int, offset: int) -> dict[str, Any] | None:
        return await self.parked.find_one({"_id": _key(topic, partition, offset)})


def subscribe_park_requests(broker: KafkaBroker, topic: str, group_id: str, service: str, parked: ParkedRecords) -> None:
    @consumer(broker, topic, f"{group_id}.parking")
    async def on_park_request(event: RecordParkRequested) -> None:
        if event.data.service not in (None, service):
            return
        await parked.park(event)
        log.warning(
            "record parked by an operator",
            topic=event.data.topic,
            partition=event.data.partition,
            offset=event.data.offset,
            operator=event.data.operator,
        )
