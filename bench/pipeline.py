"""Where the signup pipeline's time goes: raw Kafka, raw MongoDB, registration, and e-mail.

One run, on the same generated signups (valid Lombard companies for india-2020, the
payload of every signup in the demo), prints:

  (a) raw consume rate: N signup records are produced to a private topic, then one
      AIOKafkaConsumer (no group, all partitions assigned) reads all N; records/s from
      the seek to the beginning until the N-th record (connecting is not timed).
  (b) raw bulk-upsert rate: N documents shaped exactly like the company documents
      registration stores for those signups, `bulk_write` of `UpdateOne(upsert=True)` in
      unordered batches of 500 with PyMongo's AsyncMongoClient, into a `companies`
      collection with registration's indexes (unique `natural_key` included); docs/s.
  (c) registration end to end: `python -m services.registration` runs as its own process
      on a private topic prefix and database; N signups are published on the forms topic
      and the clock runs from the first publish until N distinct `enrollment.confirmed.v1`
      events are on `registration.events`. Twice, each in a fresh environment: with 0
      companies stored, and with K companies stored. Before each measurement W warm-up
      signups (`--warmup`, default 50, 0 to disable) go through the service untimed, since
      the first ones through a fresh process are slow; they stay stored, so "0 stored"
      means W and "K stored" means K + W. The K companies are pre-loaded by
      BULK INSERT by default (`--preload bulk`): company, enrollment and signup-decision
      documents built with registration's own domain functions, field for field as
      services/registration/store.py writes them after the outbox was flushed (empty
      `outbox`, one entry in `applied_events`), inserted after the service created its
      indexes. Going through the service (`--preload service`) gives the same documents
      but costs K / (registration's rate) seconds: measured ~66 signups/s at K = 500, so
      ~2.5 minutes or more at K = 10,000 (not measured there: whether the rate holds as
      companies accumulate is what this part asks).
      The bench compares a service-written company with a pre-loaded one and warns if
      their shapes differ.
  (d) signup-to-confirmation-e-mail latency: registration AND notifications run as
      processes, notifications sends to an aiosmtpd server inside this process; signups
      are published at R/s for D s, each with its own contact address; latency is from the
      publish call of a signup to the SMTP server accepting (DATA) the
      `enrollment_confirmation` e-mail to that address. p50, p99, max, and how many
      arrived; a missing e-mail counts as infinitely late in the percentiles. It also
      splits the latency at the moment registration published `enrollment.confirmed.v1`
      (that Kafka record's timestamp), and prints the median latency per second of
      publishing, which shows whether a backlog builds up.

It ends with a table and the targets: (c) >= 0.5 x min(a, b); (c) with K stored >= 0.9 x
(c) with 0 stored; (d) p99 <= 1 s; each marked PASS or MISS. It also samples the CPU
time of the service processes, the database server, Kafka and this process during (c)
and (d), as % of one core, to show where the time goes.

    .venv/bin/python bench/pipeline.py                       # N=2000, K=10000, 200/s for 10 s
    .venv/bin/python bench/pipeline.py --signups 300 --stored 500 --rate 50 --duration 4
    .venv/bin/python bench/pipeline.py --skip a,b --json .run/pipeline.json

Needs the local servers running (`make up`: Kafka on 127.0.0.1:9092, the MongoDB-wire
server on 127.0.0.1:27017). Every part uses its own topic prefix and databases
(`pipe<run id><part>`), deleted afterwards, even on an error or Ctrl-C; the services'
logs stay in .run/logs/<prefix>-<service>.log. Do NOT run it alongside the test suite:
on the project's 2-core machine both would measure each other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import bson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import UpdateOne

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from outgoing_cli.demo.mail_sink import NOTIFICATION_HEADER, LocalSmtpServer  # noqa: E402
from services.registration.domain.aggregates import Company, Enrollment, SignupDecision  # noqa: E402
from services.registration.domain.companies import company_id_for, enrollment_id_for, natural_key  # noqa: E402
from services.registration.domain.eligibility import Verdict  # noqa: E402
from services.registration.domain.partita_iva import check_digit  # noqa: E402
from services.registration.store import (  # noqa: E402
    COMPANIES,
    ENROLLMENTS,
    INDEXES,
    MISSIONS,
    SIGNUPS,
    company_document,
    decision_document,
    enrollment_document,
)
from shared.contracts.edition_2020 import MISSIONS_2020  # noqa: E402
from shared.contracts.missions import MissionPlanned  # noqa: E402
from shared.contracts.registration import CompanySignupSubmitted, LombardApplicant, Signup  # noqa: E402
from shared.contracts.topics import Topic, TopicNames  # noqa: E402
from shared.kafka import client_security, delete_topics, ensure_topics  # noqa: E402
from shared.mongo import create_client, ensure_indexes  # noqa: E402
from shared.settings import Settings  # noqa: E402

MISSION_ID = "india-2020"
SIGNUP_TIME = datetime(2020, 9, 15, 9, 0, tzinfo=UTC)  # before india-2020's enrollment deadline
CONFIRMED = "enrollment.confirmed.v1"
CONFIRMATION_KIND = "enrollment_confirmation"
LOGS = ROOT / ".run" / "logs"

# Disjoint partita IVA ranges, so no part sees another part's companies.
MEASURED_BASE = 0
PRELOAD_BASE = 10_000_000
LATENCY_BASE = 20_000_000
WARMUP_BASE = 30_000_000


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Item:
    """One generated signup: its wire bytes and what the bench needs to recognise its results."""

    index: int
    key: bytes
    value: bytes
    event: CompanySignupSubmitted
    company_id: str
    email: str


def make_item(index: int, run: str) -> Item:
    first_ten = f"{index + 1:010d}"
    email = f"pipe{run}-{index}@bench.example"
    applicant = LombardApplicant(
        company_name=f"Bench Company {index}",
        partita_iva=first_ten + str(check_digit(first_ten)),
        sede_legale={"city": "Milano", "province": "MI"},
        sector="meccanica_metallurgia",
        products=[{"name": "valves", "hs_code": "848180"}],
        offer="Industrial valves",
        seeking="Distributors",
        languages=["it", "en"],
        contact={"name": "Bench Person", "email": email},
        privacy_consent=True,
        missions=[MISSION_ID],
    )
    event = CompanySignupSubmitted.new(source="bench", subject=f"form-{index}", data=Signup(applicant=applicant), time=SIGNUP_TIME)
    return Item(index, f"form-{index}".encode(), event.to_bytes(), event, company_id_for(natural_key(applicant)), email)


def make_items(base: int, count: int, run: str) -> list[Item]:
    return [make_item(base + i, run) for i in range(count)]


def stored_documents(item: Item, instance: str) -> dict[str, dict[str, Any]]:
    """The three documents registration keeps for an accepted signup, after its outbox flush:
    made by its own aggregates and codecs, as its store saves them on insert."""
    event = item.event
    company_id = company_id_for(natural_key(event.data.applicant))
    now = datetime.now(UTC)

    def saved(aggregate: Any, to_document: Any) -> dict[str, Any]:
        state = {k: v for k, v in to_document(aggregate).items() if v is not None}
        return {
            "_id": aggregate.id,
            **state,
            "version": 1,
            "applied_events": [str(event.id)],
            "outbox": [],
            "created_at": now,
            "updated_at": now,
        }

    decision = SignupDecision.decide(event, Verdict([], [], [MISSION_ID]), instance)
    company = Company.register(None, event, event.data.applicant)
    enrollment = Enrollment.confirm(None, event, company_id, MISSION_ID, event.data.applicant.role, None)
    return {
        SIGNUPS: saved(decision, decision_document),
        COMPANIES: saved(company, company_document),
        ENROLLMENTS: saved(enrollment, enrollment_document),
    }


def shape(doc: Any) -> Any:
    """Field names and value types, recursively: what two documents must share to be alike."""
    if isinstance(doc, dict):
        return {k: shape(v) for k, v in doc.items() if k != "_id"}
    if isinstance(doc, list):
        return [shape(doc[0])] if doc else []
    return type(doc).__name__


# ---------------------------------------------------------------- CPU accounting


def _proc_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _server_pid(name: str) -> int | None:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return int(json.loads((ROOT / ".run" / f"{name}.pid").read_text())["pid"])
    return None


class CpuMeter:
    """CPU seconds of named processes over an interval, as % of one core."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self.start: dict[str, float | None] = {}
        self.t0 = 0.0

    def __enter__(self) -> CpuMeter:
        self.start = {name: _proc_cpu_s(pid) for name, pid in self.pids.items()}
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *_: Any) -> None:
        wall = max(time.monotonic() - self.t0, 1e-9)
        self.percent: dict[str, float] = {}
        for name, pid in self.pids.items():
            before, after = self.start.get(name), _proc_cpu_s(pid)
            if before is not None and after is not None:
                self.percent[name] = round(100 * (after - before) / wall, 1)


# ---------------------------------------------------------------- environments


@dataclass
class Environment:
    """A private topic prefix and databases, with the service processes started on them."""

    prefix: str
    settings: Settings
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    created_topics: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.prefix)

    def log_path(self, service: str) -> Path:
        return LOGS / f"{self.prefix}-{service}.log"

    async def start_service(self, service: str, timeout_s: float = 90.0) -> None:
        env = {
            **os.environ,
            "OUTGOING_TOPIC_PREFIX": self.prefix,
            "OUTGOING_MONGO_DB": self.prefix,
            "OUTGOING_INSTANCE_ID": self.prefix,
            "OUTGOING_LINK_SECRET": os.environ.get("OUTGOING_LINK_SECRET") or f"bench-link-secret-{self.prefix}",
            **self.extra_env,
        }
        path = self.log_path(service)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as log_file:  # a file, not a pipe: an unread pipe would block the service
            process = subprocess.Popen(  # noqa: ASYNC220 - Popen only forks; stop_services() waits on it, off the loop
                [sys.executable, "-m", f"services.{service}"], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
        self.processes[service] = process
        _CHILDREN.add(process)
        deadline = time.monotonic() + timeout_s
        while '"ready"' not in path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{service} did not become ready; see {path}")
            await asyncio.sleep(0.2)

    def stop_services(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for service, process in self.processes.items():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                print(f"  {service} ignored SIGTERM for 30 s; killed", file=sys.stderr)
                process.kill()
                process.wait(10)
            _CHILDREN.discard(process)

    def pids(self) -> dict[str, int | None]:
        return {service: process.pid for service, process in self.processes.items()}


_CHILDREN: set[subprocess.Popen[bytes]] = set()


def _kill_children() -> None:
    """Last resort (atexit, or a second Ctrl-C): no service process outlives the bench."""
    for process in list(_CHILDREN):
        if process.poll() is None:
            process.kill()


@contextlib.asynccontextmanager
async def environment(
    run: str, part: str, with_topics: Iterable[Topic] | None = None, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Environment]:
    prefix = f"pipe{run}{part}"
    settings = Settings().model_copy(update={"topic_prefix": prefix, "mongo_db": prefix})
    env = Environment(prefix, settings, extra_env=extra_env or {})
    try:
        wanted = list(with_topics) if with_topics is not None else None
        if wanted != []:
            env.created_topics = await ensure_topics(settings, wanted)
        yield env
    finally:
        env.stop_services()
        await _to_the_end(_drop_environment(prefix, settings))


async def _drop_environment(prefix: str, settings: Settings) -> None:
    try:  # every topic under the private prefix, even if creating them failed half-way
        await delete_topics(settings, TopicNames(prefix).all())
    except Exception as error:  # noqa: BLE001 - cleanup must go on
        print(f"  could not delete the topics of {prefix}: {error}", file=sys.stderr)
    client = create_client(settings)
    try:
        for name in await client.list_database_names():
            if name == prefix or name.startswith(prefix + "_"):
                await client.drop_database(name)
    except Exception as error:  # noqa: BLE001 - cleanup must go on
        print(f"  could not drop the databases of {prefix}: {error}", file=sys.stderr)
    finally:
        await client.close()


async def _to_the_end(coro: Any) -> None:
    """Await a clean-up to its end even if this task is cancelled (again) meanwhile, then re-raise."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = cancelled or not task.done() or task.cancelled()
    if cancelled:
        raise asyncio.CancelledError


async def start_producer(settings: Settings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5, **client_security(settings)
    )
    await producer.start()
    return producer


async def plan_mission(env: Environment, producer: AIOKafkaProducer, services: Iterable[str], timeout_s: float = 60.0) -> None:
    """Publish india-2020 and wait until every given service has it in its read model."""
    mission = next(m for m in MISSIONS_2020 if m.mission_id == MISSION_ID)
    event = MissionPlanned.new(source="bench", subject=mission.mission_id, data=mission)
    await producer.send_and_wait(env.topics(Topic.MISSIONS), event.to_bytes(), key=event.key)
    client = create_client(env.settings)
    try:
        deadline = time.monotonic() + timeout_s
        for service in services:
            db = client[env.settings.database_for(service)]
            while await db[MISSIONS].count_documents({"_id": MISSION_ID}) == 0:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} did not store the mission {MISSION_ID} within {timeout_s:.0f}s")
                await asyncio.sleep(0.1)
    finally:
        await client.close()


# ---------------------------------------------------------------- (a) raw Kafka consume


async def part_a(run: str, items: list[Item]) -> dict[str, Any]:
    async with environment(run, "a", with_topics=[Topic.SIGNUP_FORMS]) as env:
        topic = env.topics(Topic.SIGNUP_FORMS)
        producer = await start_producer(env.settings)
        try:
            for item in items:
                await producer.send(topic, item.value, key=item.key)
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=env.settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client_security(env.settings),
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(env.settings.topic_partitions)]
            consumer.assign(partitions)
            started = time.perf_counter()
            await consumer.seek_to_beginning(*partitions)
            seen = 0
            async with asyncio.timeout(120):
                while seen < len(items):
                    batch = await consumer.getmany(timeout_ms=500)
                    seen += sum(len(records) for records in batch.values())
            elapsed = time.perf_counter() - started
        finally:
            await consumer.stop()
    return {
        "records": len(items),
        "bytes_per_record": round(sum(len(i.value) for i in items) / len(items)),
        "seconds": elapsed,
        "per_s": len(items) / elapsed,
    }


# ---------------------------------------------------------------- (b) raw MongoDB bulk upsert


async def part_b(run: str, items: list[Item], batch: int) -> dict[str, Any]:
    async with environment(run, "b", with_topics=[]) as env:
        client = create_client(env.settings)
        try:
            db = client[env.settings.database_for("registration")]
            await ensure_indexes(db, INDEXES)
            companies = [stored_documents(item, env.prefix)[COMPANIES] for item in items]
            requests = [
                UpdateOne({"_id": doc["_id"]}, {"$set": {k: v for k, v in doc.items() if k != "_id"}}, upsert=True) for doc in companies
            ]
            started = time.perf_counter()
            upserted = 0
            for start in range(0, len(requests), batch):
                result = await db[COMPANIES].bulk_write(requests[start : start + batch], ordered=False)
                upserted += result.upserted_count
            elapsed = time.perf_counter() - started
            stored = await db[COMPANIES].count_documents({})
        finally:
            await client.close()
    bson_size = len(bson.encode(companies[0]))
    return {
        "docs": len(items),
        "upserted": upserted,
        "stored": stored,
        "batch": batch,
        "bson_bytes_per_doc": bson_size,
        "seconds": elapsed,
        "per_s": len(items) / elapsed,
    }


# ---------------------------------------------------------------- (c) registration end to end


class Confirmations:
    """Counts distinct companies with an enrollment.confirmed.v1 on registration.events."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.companies: set[str] = set()
        self.events = 0

    async def wait_for(self, wanted: set[str], timeout_s: float, progress: str = "") -> int:
        """Read until every company in ``wanted`` is confirmed; returns how many of them are."""
        deadline = time.monotonic() + timeout_s
        last_print = time.monotonic()
        while not wanted <= self.companies:
            if time.monotonic() > deadline:
                break
            batch = await self.consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if b'"' + CONFIRMED.encode() + b'"' not in record.value:
                        continue
                    event = json.loads(record.value)
                    if event["type"] == CONFIRMED:
                        self.events += 1
                        self.companies.add(event["data"]["company_id"])
            if progress and time.monotonic() - last_print > 15:
                last_print = time.monotonic()
                print(f"    {progress}: {len(wanted & self.companies)}/{len(wanted)} confirmed", flush=True)
        return len(wanted & self.companies)


async def preload_bulk(env: Environment, items: list[Item], batch: int = 1000) -> float:
    client = create_client(env.settings)
    started = time.perf_counter()
    try:
        db = client[env.settings.database_for("registration")]
        docs = [stored_documents(item, env.prefix) for item in items]
        for collection in (SIGNUPS, COMPANIES, ENROLLMENTS):
            for start in range(0, len(docs), batch):
                await db[collection].insert_many([d[collection] for d in docs[start : start + batch]], ordered=False)
    finally:
        await client.close()
    return time.perf_counter() - started


async def part_c(run: str, tag: str, items: list[Item], preload: list[Item], how: str, warmup: list[Item]) -> dict[str, Any]:
    async with environment(run, tag) as env:
        await env.start_service("registration")
        producer = await start_producer(env.settings)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=env.settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client_security(env.settings),
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(env.topics(Topic.REGISTRATION_EVENTS), p) for p in range(env.settings.topic_partitions)])
            confirmations = Confirmations(consumer)
            await plan_mission(env, producer, ["registration"])
            result: dict[str, Any] = {"signups": len(items), "preloaded": len(preload), "warmup": len(warmup), "prefix": env.prefix}
            if preload:
                print(f"    pre-loading {len(preload)} companies ({how})", flush=True)
                if how == "bulk":
                    result["preload_s"] = await preload_bulk(env, preload)
                else:
                    started = time.perf_counter()
                    for item in preload:
                        await producer.send(env.topics(Topic.SIGNUP_FORMS), item.value, key=item.key)
                    await producer.flush()
                    wanted = {item.company_id for item in preload}
                    done = await confirmations.wait_for(wanted, max(300, len(preload) / 2), progress="pre-load")
                    result["preload_s"] = time.perf_counter() - started
                    if done < len(preload):
                        raise RuntimeError(f"pre-load: only {done}/{len(preload)} companies confirmed")
            if warmup:  # the first signups through a fresh process (and a fresh server) are slow
                for item in warmup:
                    await producer.send(env.topics(Topic.SIGNUP_FORMS), item.value, key=item.key)
                await producer.flush()
                if await confirmations.wait_for({item.company_id for item in warmup}, 120, progress="warm-up") < len(warmup):
                    raise RuntimeError("the warm-up signups were not all confirmed within 120 s")
            client = create_client(env.settings)
            try:
                db = client[env.settings.database_for("registration")]
                result["companies_stored_before"] = await db[COMPANIES].count_documents({})
                with CpuMeter({**env.pids(), "mongo": _server_pid("mongo"), "kafka": _server_pid("kafka"), "bench": os.getpid()}) as cpu:
                    started = time.perf_counter()
                    for item in items:
                        await producer.send(env.topics(Topic.SIGNUP_FORMS), item.value, key=item.key)
                    await producer.flush()
                    result["publish_s"] = time.perf_counter() - started
                    wanted = {item.company_id for item in items}
                    done = await confirmations.wait_for(wanted, max(120, len(items) / 5), progress="measured")
                    elapsed = time.perf_counter() - started
                result["cpu_percent"] = cpu.percent
                result.update({"confirmed": done, "seconds": elapsed, "per_s": done / elapsed, "complete": done == len(items)})
                if preload and how == "bulk":
                    result["shape_check"] = await compare_shapes(db, items[0], preload[0])
            finally:
                await client.close()
        finally:
            await consumer.stop()
            await producer.stop()
    return result


async def compare_shapes(db: Any, written: Item, loaded: Item) -> str:
    """A service-written company (and its enrollment, decision) against a pre-loaded one."""
    problems = []
    for collection, id_of in (
        (COMPANIES, lambda i: i.company_id),
        (ENROLLMENTS, lambda i: enrollment_id_for(i.company_id, MISSION_ID)),
        (SIGNUPS, lambda i: str(i.event.id)),
    ):
        a = await db[collection].find_one({"_id": id_of(written)})
        b = await db[collection].find_one({"_id": id_of(loaded)})
        if a is None or b is None:
            problems.append(f"{collection}: missing")
        elif shape(a) != shape(b):
            problems.append(f"{collection}: service {shape(a)} != pre-loaded {shape(b)}")
    return "same" if not problems else "; ".join(problems)


# ---------------------------------------------------------------- (d) signup to e-mail latency


@dataclass
class TimingSink(LocalSmtpServer):
    """An SMTP server that notes when it accepted each message, by recipient and kind."""

    host: str = "127.0.0.1"
    port: int = 0
    accepted: dict[str, float] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Any = None

    def _handler(self) -> Any:
        return _TimingHandler(self)


@dataclass
class _TimingHandler:
    sink: TimingSink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.time()
        data = envelope.original_content or envelope.content or b""
        raw = data if isinstance(data, bytes) else data.encode()
        headers = BytesParser(policy=email_policy.default).parsebytes(raw, headersonly=True)
        kind = str(headers.get(NOTIFICATION_HEADER, "message")).split(":", 1)[0] or "message"
        with self.sink._lock:
            self.sink.kinds[kind] = self.sink.kinds.get(kind, 0) + 1
            if kind == CONFIRMATION_KIND:
                for recipient in envelope.rcpt_tos:
                    self.sink.accepted.setdefault(recipient.lower(), at)
        return "250 Message accepted"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank."""
    if not sorted_values:
        return math.inf
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


async def _watch_confirmations(consumer: AIOKafkaConsumer, confirmed_at: dict[str, float]) -> None:
    """Company id -> when registration published its enrollment.confirmed.v1 (the record's CreateTime)."""
    while True:
        batch = await consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                if b'"' + CONFIRMED.encode() + b'"' in record.value:
                    event = json.loads(record.value)
                    if event["type"] == CONFIRMED:
                        confirmed_at.setdefault(event["data"]["company_id"], record.timestamp / 1000)


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_s": percentile(ordered, 0.5), "p99_s": percentile(ordered, 0.99), "max_s": ordered[-1] if ordered else math.inf}


async def part_d(run: str, rate: float, duration: float, timeout_s: float) -> dict[str, Any]:
    """Times are wall-clock (time.time()) so they compare with Kafka's record timestamps."""
    count = max(1, round(rate * duration))
    items = make_items(LATENCY_BASE, count, run)
    by_email = {item.email.lower(): item for item in items}
    confirmed_at: dict[str, float] = {}
    with TimingSink() as sink:
        extra = {"OUTGOING_SMTP_HOST": sink.host, "OUTGOING_SMTP_PORT": str(sink.port)}
        async with environment(run, "d", extra_env=extra) as env:
            await env.start_service("registration")
            await env.start_service("notifications")
            producer = await start_producer(env.settings)
            consumer = AIOKafkaConsumer(
                bootstrap_servers=env.settings.kafka_bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                **client_security(env.settings),
            )
            await consumer.start()
            watcher: asyncio.Task[None] | None = None
            try:
                consumer.assign([TopicPartition(env.topics(Topic.REGISTRATION_EVENTS), p) for p in range(env.settings.topic_partitions)])
                watcher = asyncio.create_task(_watch_confirmations(consumer, confirmed_at))
                await plan_mission(env, producer, ["registration", "notifications"])
                published: dict[str, float] = {}
                sends = []
                topic = env.topics(Topic.SIGNUP_FORMS)
                with CpuMeter({**env.pids(), "mongo": _server_pid("mongo"), "kafka": _server_pid("kafka"), "bench": os.getpid()}) as cpu:
                    t0 = time.time()
                    for i, item in enumerate(items):
                        delay = t0 + i / rate - time.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        published[item.email.lower()] = time.time()
                        sends.append(await producer.send(topic, item.value, key=item.key))
                    await asyncio.gather(*sends)
                    publish_s = time.time() - t0
                    deadline = time.monotonic() + timeout_s
                    last_print = time.monotonic()
                    while time.monotonic() < deadline:
                        with sink._lock:
                            arrived = sum(1 for address in published if address in sink.accepted)
                        if arrived == count:
                            break
                        if time.monotonic() - last_print > 15:
                            last_print = time.monotonic()
                            print(f"    e-mails: {arrived}/{count}", flush=True)
                        await asyncio.sleep(0.1)
                    with sink._lock:
                        accepted = dict(sink.accepted)
                        kinds = dict(sink.kinds)
                    drained_s = max(accepted.values(), default=t0) - t0
            finally:
                if watcher is not None:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
                await consumer.stop()
                await producer.stop()
    latencies = sorted(accepted[a] - t for a, t in published.items() if a in accepted)
    arrived = len(latencies)
    with_missing = latencies + [math.inf] * (count - arrived)
    # Where the time goes: signup -> enrollment.confirmed.v1 published by registration -> e-mail accepted.
    to_confirmed = [confirmed_at[by_email[a].company_id] - t for a, t in published.items() if by_email[a].company_id in confirmed_at]
    to_mail = [
        accepted[a] - confirmed_at[by_email[a].company_id] for a in published if a in accepted and by_email[a].company_id in confirmed_at
    ]
    per_second: dict[int, list[float]] = {}
    for address, at in published.items():
        per_second.setdefault(int(at - t0), []).append(accepted[address] - at if address in accepted else math.inf)
    return {
        "rate": rate,
        "duration_s": duration,
        "signups": count,
        "publish_s": publish_s,
        "arrived": arrived,
        "until_last_s": drained_s,
        "p50_s": percentile(with_missing, 0.50),
        "p99_s": percentile(with_missing, 0.99),
        "max_s": with_missing[-1] if with_missing else math.inf,
        "arrived_only": _spread(latencies),
        "signup_to_confirmed": {**_spread(to_confirmed), "count": len(to_confirmed)},
        "confirmed_to_mail": {**_spread(to_mail), "count": len(to_mail)},
        "p50_by_publish_second": [percentile(sorted(v), 0.5) for _, v in sorted(per_second.items())],
        "mails_by_kind": kinds,
        "cpu_percent": cpu.percent,
        "prefix": env.prefix,
    }


# ---------------------------------------------------------------- report


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "never"
    return f"{value:,.{digits}f}{unit}"


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    a, b = results.get("a"), results.get("b")
    c0, ck, d = results.get("c_empty"), results.get("c_stored"), results.get("d")
    raw = [r["per_s"] for r in (a, b) if r]
    if c0 and raw:
        goal = 0.5 * min(raw)
        out.append(
            {
                "target": f"(c) >= 0.5 x min({'a' if a else ''}{',' if a and b else ''}{'b' if b else ''}) = {goal:,.0f}/s",
                "value": c0["per_s"],
                "ok": c0["complete"] and c0["per_s"] >= goal,
            }
        )
    if c0 and ck:
        goal = 0.9 * c0["per_s"]
        out.append(
            {
                "target": f"(c) K stored >= 0.9 x (c) 0 stored = {goal:,.1f}/s",
                "value": ck["per_s"],
                "ok": ck["complete"] and ck["per_s"] >= goal,
            }
        )
    if d:
        out.append({"target": "(d) p99 <= 1 s (missing = never)", "value": d["p99_s"], "ok": d["p99_s"] <= 1.0})
    return out


def print_report(results: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str]] = []
    if a := results.get("a"):
        rows.append(
            (
                "(a) aiokafka consume, 1 consumer",
                f"{_fmt(a['per_s'])} records/s",
                f"{a['records']} records of ~{a['bytes_per_record']} B in {a['seconds']:.3f} s",
            )
        )
    if b := results.get("b"):
        rows.append(
            (
                "(b) bulk upsert, unordered",
                f"{_fmt(b['per_s'])} docs/s",
                f"{b['docs']} docs of {b['bson_bytes_per_doc']} B BSON, batches of {b['batch']}, {b['seconds']:.3f} s",
            )
        )
    for key, label in (("c_empty", "(c) registration e2e, 0 stored"), ("c_stored", "(c) registration e2e, K stored")):
        if c := results.get(key):
            note = f"{c['confirmed']}/{c['signups']} in {c['seconds']:.1f} s, {c['companies_stored_before']} companies stored before ({c['warmup']} from the warm-up)"
            if "preload_s" in c:
                note += f" (pre-load {c['preload_s']:.1f} s)"
            rows.append((label, f"{_fmt(c['per_s'], digits=1)} signups/s", note))
            rows.append(("", "", "CPU % of a core: " + ", ".join(f"{k} {v:.0f}" for k, v in c["cpu_percent"].items())))
    if d := results.get("d"):
        rows.append(
            (
                "(d) signup -> e-mail latency",
                f"p50 {_fmt(d['p50_s'], ' s', 2)}",
                f"p99 {_fmt(d['p99_s'], ' s', 2)}, max {_fmt(d['max_s'], ' s', 2)}; {d['arrived']}/{d['signups']} arrived ({d['rate']:g}/s for {d['duration_s']:g} s)",
            )
        )
        if d["arrived"] < d["signups"] and d["arrived"]:
            o = d["arrived_only"]
            rows.append(
                (
                    "",
                    "",
                    f"of those arrived: p50 {_fmt(o['p50_s'], ' s', 2)}, p99 {_fmt(o['p99_s'], ' s', 2)}, max {_fmt(o['max_s'], ' s', 2)}",
                )
            )
        for key, label in (
            ("signup_to_confirmed", "signup -> enrollment.confirmed"),
            ("confirmed_to_mail", "enrollment.confirmed -> e-mail"),
        ):
            st = d[key]
            rows.append(
                (
                    "",
                    "",
                    f"{label}: p50 {_fmt(st['p50_s'], ' s', 2)}, p99 {_fmt(st['p99_s'], ' s', 2)}, max {_fmt(st['max_s'], ' s', 2)} ({st['count']})",
                )
            )
        rows.append(("", "", "p50 by publish second: " + " ".join(_fmt(v, digits=2) for v in d["p50_by_publish_second"])))
        rows.append(
            (
                "",
                "",
                f"last e-mail {d['until_last_s']:.1f} s after the first publish; CPU % of a core: "
                + ", ".join(f"{k} {v:.0f}" for k, v in d["cpu_percent"].items()),
            )
        )
    for key, error in results.get("errors", {}).items():
        rows.append((f"({key}) FAILED", "", error[:200]))
    width = max((len(r[0]) for r in rows), default=0)
    fig = max((len(r[1]) for r in rows), default=0)
    print()
    for label, figure, note in rows:
        print(f"{label:<{width}}  {figure:>{fig}}  {note}")
    checks = verdicts(results)
    if checks:
        print()
        tw = max(len(c["target"]) for c in checks)
        for c in checks:
            value = _fmt(c["value"], " s", 2) if c["target"].startswith("(d)") else f"{_fmt(c['value'], '/s', 1)}"
            print(f"{c['target']:<{tw}}  {value:>10}  {'PASS' if c['ok'] else 'MISS'}")
    if (s := (results.get("c_stored") or {}).get("shape_check")) and s != "same":
        print(f"\nWARNING: pre-loaded documents differ from the service's: {s}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isinf(value) or math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    run_id = uuid.uuid4().hex[:6]
    skip = set(args.skip)
    results: dict[str, Any] = {"run": run_id, "args": {k: v for k, v in vars(args).items() if k != "json"}, "errors": {}}
    items = make_items(MEASURED_BASE, args.signups, run_id)
    parts: list[tuple[str, str, Any]] = []
    if "a" not in skip:
        parts.append(("a", "a", lambda: part_a(run_id, items)))
    if "b" not in skip:
        parts.append(("b", "b", lambda: part_b(run_id, items, args.batch)))
    if "c" not in skip:
        preload = make_items(PRELOAD_BASE, args.stored, run_id)
        warmup = make_items(WARMUP_BASE, args.warmup, run_id)
        parts.append(("c_empty", "c", lambda: part_c(run_id, "c0", items, [], args.preload, warmup)))
        parts.append(("c_stored", "c", lambda: part_c(run_id, "ck", items, preload, args.preload, warmup)))
    if "d" not in skip:
        timeout = args.mail_timeout if args.mail_timeout is not None else 90 + args.rate * args.duration / 10
        parts.append(("d", "d", lambda: part_d(run_id, args.rate, args.duration, timeout)))
    for key, _, factory in parts:
        print(f"  {key} ...", flush=True)
        started = time.monotonic()
        try:
            results[key] = await factory()
        except Exception as error:  # noqa: BLE001 - report it, go on with the other parts
            results["errors"][key] = f"{type(error).__name__}: {error}"
            print(f"  {key} failed: {results['errors'][key]}", file=sys.stderr, flush=True)
        else:
            print(f"  {key} done in {time.monotonic() - started:.1f} s", flush=True)
    results["targets"] = verdicts(results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signups", type=int, default=2000, help="N: signups for (a), (b), (c)")
    parser.add_argument("--stored", type=int, default=10_000, help="K: companies stored before the second (c) run")
    parser.add_argument(
        "--preload", choices=["bulk", "service"], default="bulk", help="how the K companies get stored (default: bulk insert)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=50,
        help="signups pushed through registration before each (c) measurement (not timed; they stay stored)",
    )
    parser.add_argument("--rate", type=float, default=200.0, help="R: signups per second in (d)")
    parser.add_argument("--duration", type=float, default=10.0, help="D: seconds of publishing in (d)")
    parser.add_argument(
        "--mail-timeout", type=float, default=None, help="how long (d) waits for e-mails after publishing (default 90 + R*D/10 s)"
    )
    parser.add_argument("--batch", type=int, default=500, help="bulk_write batch size in (b)")
    parser.add_argument("--skip", type=lambda s: [p.strip() for p in s.split(",") if p.strip()], default=[], help="parts to skip, e.g. a,b")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    if unknown := set(args.skip) - set("abcd"):
        parser.error(f"--skip: unknown parts {', '.join(sorted(unknown))}")
    if args.signups < 1 or args.stored < 0 or args.warmup < 0 or args.rate <= 0 or args.duration <= 0:
        parser.error("--signups, --rate and --duration must be positive, --stored and --warmup not negative")
    import atexit

    atexit.register(_kill_children)
    try:
        results = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError) as stop:  # Ctrl-C, or SIGTERM
        print("\ninterrupted; services stopped, topics and databases deleted", file=sys.stderr)
        raise SystemExit(130 if isinstance(stop, KeyboardInterrupt) else 143) from None
    print_report(results)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_jsonable(results), indent=2) + "\n")
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
