"""The Kafka loop: read a batch, apply it in one SQLite transaction, commit the offsets, send the links.

The order is what makes it at-least-once and safe to kill at any line:

1. ``getmany``: a batch of records (auto-commit is off: nothing is committed behind our back);
2. one SQLite transaction applies them and records their positions and the links they cause;
3. only then the offsets are committed to Kafka (a crash before: the batch is read again and
   recognised as applied);
4. the links waiting in the outbox are published, each marked sent once Kafka acknowledged it
   (a crash before: the same link is sent again, with the same event id).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from examples.reference_crm.events import Record
from examples.reference_crm.handlers import TOPICS, Crm
from examples.reference_crm.store import Store

log = logging.getLogger("reference_crm")

Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


@dataclass(frozen=True)
class Config:
    bootstrap: str
    prefix: str
    db: Path
    system: str
    group: str | None = None
    batch: int = 500

    @property
    def group_id(self) -> str:
        """The CRM's own consumer group: its offsets are its alone."""
        return self.group or f"{self.prefix}.reference-crm"


class ReferenceCrm:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = Store(config.db)
        self.crm = Crm(self.store, config.prefix, config.system)
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    async def run(self) -> None:
        """Consume until cancelled."""
        topics = [f"{self.config.prefix}.{topic}" for topic in TOPICS]
        self.consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=self.config.bootstrap,
            group_id=self.config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self.producer = AIOKafkaProducer(bootstrap_servers=self.config.bootstrap, acks="all", enable_idempotence=True)
        await self.producer.start()
        try:
            await self.consumer.start()
            log.info("reading %s as group %s into %s", ", ".join(topics), self.config.group_id, self.config.db)
            await self._publish_links()  # those a previous run stored but did not send
            while True:
                batch = await self.consumer.getmany(timeout_ms=1000, max_records=self.config.batch)
                if batch:
                    self._apply(batch)
                    await self._commit(batch)
                await self._publish_links()
        finally:
            await self.consumer.stop()
            await self.producer.stop()
            self.store.close()

    def _apply(self, batch: Batch) -> None:
        with self.store.transaction():
            for records in batch.values():
                for record in records:
                    self.crm.apply(Record.from_kafka(record))

    async def _commit(self, batch: Batch) -> None:
        assert self.consumer is not None
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # A rebalance took the partitions away: their new owner reads these records
            # again and finds them applied. Nothing is lost.
            log.warning("offsets not committed (%s); the records will be read again and skipped", type(error).__name__)

    async def _publish_links(self) -> None:
        assert self.producer is not None
        for link in self.store.pending():
            try:
                await self.producer.send_and_wait(link.topic, link.value, key=link.key, headers=link.headers)
            except KafkaError as error:
                log.warning("link %s not published yet (%s); retrying after the next batch", link.link_id, error)
                return
            self.store.mark_sent(link.link_id)
            log.info("published %s for %s", link.link_id, link.key.decode())

    async def lag(self) -> int | None:
        """Records not yet read on the assigned partitions; None before the group assigned any."""
        consumer = self.consumer
        assigned = list(consumer.assignment()) if consumer is not None else []
        if consumer is None or not assigned:
            return None
        ends = await consumer.end_offsets(assigned)
        behind = 0
        for tp in assigned:
            behind += max(0, ends[tp] - await consumer.position(tp))
        return behind

    async def settled(self) -> bool:
        """Everything published so far is read and applied, and every link is sent."""
        return await self.lag() == 0 and not self.store.pending()


async def run(config: Config) -> None:
    await ReferenceCrm(config).run()
