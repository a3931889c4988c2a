"""The fault suite: the programme's whole path under kill -9, a Kafka restart, a database
outage and rebalances, then counted from what the services stored, published and sent.

    .venv/bin/python bench/faults.py                    # the full run: 5,000 signups
    .venv/bin/python bench/faults.py --short            # the short run CI makes (tests/faults)
    .venv/bin/python bench/faults.py --signups 1000 --json .run/faults.json --keep

It starts a Kafka broker and a MongoDB-wire server of its own (free ports, a run directory
under .run/faults/), so it can stop and restart them without touching `make up`'s servers
or a test run's. The three services run as processes, as in production, and send e-mail
to an aiosmtpd server inside this process that counts each message by its notification id.

The load is the demo's population at a larger size (outgoing_cli/demo/population.py): the
2020 catalogue, signups (8 made to fail), meeting requests and answers, one scheduling
command per mission, follow-ups fired by timers and their answers, and every e-mail these
cause. Signups are published over a stretch of time, as forms arrive, not in one burst.

While it runs, a fault plan is played, one step every ``gap`` seconds:

* kill -9 of each service, several times; each comes back after a short pause, as an
  orchestrator would restart it. Right after each kill, while the process is dead and
  its writes are final, the suite checks that the group's committed offsets are not ahead
  of its work: every record below a committed offset has its effect in the database;
* Kafka stopped (SIGTERM) and started again;
* the database stopped for 30 s (10 s in the short run) and started again;
* a second instance of each service joining the groups, and leaving them later.

Counted afterwards, each a problem if it fails:

* every signup decided once; every company registered by exactly one event id, every
  confirmed enrollment and every rejection likewise, compared by id with the database;
* every meeting request recorded; an agenda for every mission; no company in two meetings
  at once (agendas and the bookings collection); the last meeting event of each meeting
  matches the agenda; one follow-up event per fired follow-up timer;
* every e-mail expected from the events on the topics sent: each notification id (kind,
  source event, recipient) exactly once at the SMTP server, or more often only if the
  service reported that send unconfirmed and resolved it by its policy;
* every consumer group committed to the end of every partition.

Needs Java (for Kafka and the database) and nothing running on the ports it picks. Do not
run it beside the test suite: the machine has two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.parser import BytesParser
from itertools import pairwise
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from pydantic import SecretStr, TypeAdapter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import _to_the_end  # noqa: E402
from deploy.local import infra  # noqa: E402
from outgoing_cli.demo.mail_sink import NOTIFICATION_HEADER, LocalSmtpServer  # noqa: E402
from outgoing_cli.demo.meetings import followup_answers  # noqa: E402
from outgoing_cli.demo.population import Population, generate  # noqa: E402
from outgoing_cli.kafka_read import consumer_group_lags, read_topic  # noqa: E402
from services.registration.domain.companies import company_id_for, natural_key  # noqa: E402
from shared.contracts.envelope import Envelope  # noqa: E402
from shared.contracts.matching import FollowUpDue, ScheduleRequest, ScheduleRequested  # noqa: E402
from shared.contracts.topics import Topic, TopicNames  # noqa: E402
from shared.kafka import admin_client, client_security, ensure_topics  # noqa: E402
from shared.links import link_keys  # noqa: E402
from shared.messaging import GROUP_TOPIC_SEPARATOR  # noqa: E402
from shared.mongo import create_client  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.urls import redact_url  # noqa: E402

SERVICES = ("registration", "matching", "notifications")
OPERATOR = "Fault Suite"


# ---------------------------------------------------------------- the plan


def company_ids(population: Population) -> dict[str, str]:
    """The suite checks registration's work, so it may compute the ids registration gives (the demo learns them from events)."""
    return {c.handle: company_id_for(natural_key(c.applicant)) for c in population.companies().values()}


@dataclass(frozen=True)
class Fault:
    action: str
    """kill, join, leave, kafka, database"""
    service: str = ""
    seconds: float = 0.0

    def __str__(self) -> str:
        return {
            "kill": f"kill -9 {self.service}",
            "join": f"second {self.service} joins",
            "leave": f"second {self.service} leaves",
            "kafka": "Kafka stopped and restarted",
            "database": f"database stopped for {self.seconds:g} s",
        }[self.action]


def kill(service: str) -> Fault:
    return Fault("kill", service)


def join(service: str) -> Fault:
    return Fault("join", service)


def leave(service: str) -> Fault:
    return Fault("leave", service)


R, M, N = SERVICES


@dataclass(frozen=True)
class Plan:
    signups: int
    publish_over_s: float
    """Signups arrive spread over this long, as forms do."""
    gap_s: float
    faults: tuple[Fault, ...]
    time_limit_s: float = 10.0
    stage_timeout_s: float = 900.0
    max_meetings: int = 3
    seed: int = 2020

    @classmethod
    def full(cls, signups: int = 5000, max_meetings: int = 1) -> Plan:
        """One meeting per company and mission by default: about 26,000 e-mails at 5,000 signups.
        Three give about 66,000, more than the local database's scans get through in an hour."""
        return cls(
            signups=signups,
            publish_over_s=150.0,
            gap_s=15.0,
            max_meetings=max_meetings,
            stage_timeout_s=3000.0,
            faults=(
                kill(R),
                join(R),
                kill(M),
                Fault("kafka"),
                kill(N),
                join(M),
                leave(R),
                Fault("database", seconds=30.0),
                kill(R),
                join(N),
                leave(M),
                kill(M),
                kill(N),
                leave(N),
                kill(R),
                kill(M),
                kill(N),
            ),
        )

    @classmethod
    def short(cls) -> Plan:
        return cls(
            signups=160,
            publish_over_s=12.0,
            gap_s=4.0,
            time_limit_s=3.0,
            stage_timeout_s=300.0,
            faults=(kill(R), join(M), kill(N), Fault("kafka"), leave(M), kill(M), Fault("database", seconds=10.0)),
        )


def population_for(plan: Plan) -> Population:
    good = max(plan.signups - 8, 10)
    lombard = round(good * 0.44)
    return generate(plan.seed, lombard, good - lombard, plan.max_meetings)


# ---------------------------------------------------------------- the mailbox


@dataclass
class Mailbox(LocalSmtpServer):
    """Counts each accepted message by its notification id (``X-Outgoing-Notification``)."""

    host: str = "127.0.0.1"
    port: int = 0
    received: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    def _handler(self) -> Any:
        return _Counting(self)

    def record(self, raw: bytes) -> None:
        headers = BytesParser(policy=email_policy.default).parsebytes(raw, headersonly=True)
        with self._lock:
            self.received[str(headers.get(NOTIFICATION_HEADER, "(none)"))] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.received)


@dataclass
class _Counting:
    box: Mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content or b""
        self.box.record(data if isinstance(data, bytes) else data.encode())
        return "250 Message accepted"


# ---------------------------------------------------------------- the cluster


@dataclass
class Cluster:
    """Kafka, the database and the services of one run, all on private ports and names."""

    cfg: infra.Config
    name: str
    smtp_port: int
    log: Callable[[str], None]

    @classmethod
    def create(cls, run_dir: Path, name: str, smtp_port: int, log: Callable[[str], None]) -> Cluster:
        base = infra.Config.from_env()
        kafka_port, controller_port, mongo_port = infra.free_port(), infra.free_port(), infra.free_port()
        cfg = dataclasses.replace(
            base,
            run_dir=run_dir,
            kafka_host="127.0.0.1",
            kafka_port=kafka_port,
            kafka_controller_port=controller_port,
            mongo_url=f"mongodb://127.0.0.1:{mongo_port}",
            mongo_url_explicit=True,
            mongo_storage="file",
            kafka_heap="512m",
            mongo_heap="768m",
            ready_timeout=max(base.ready_timeout, 180.0),
        )
        return cls(cfg, name, smtp_port, log)

    @functools.cached_property
    def link_secret(self) -> str:
        """One for the run: every slot's services name the same rooms and accept the same survey tokens."""
        return secrets.token_hex(32)

    @property
    def settings(self) -> Settings:
        return Settings().model_copy(
            update={
                "topic_prefix": self.name,
                "mongo_db": self.name,
                "kafka_bootstrap": f"127.0.0.1:{self.cfg.kafka_port}",
                "mongo_url": self.cfg.mongo_url,
                "link_secret": SecretStr(self.link_secret),
            }
        )

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.name)

    def slot(self, slot: str) -> infra.Config:
        return dataclasses.replace(self.cfg, run_dir=self.cfg.run_dir / f"services-{slot}")

    def service_env(self) -> dict[str, str]:
        return {
            "OUTGOING_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.cfg.kafka_port}",
            "OUTGOING_MONGO_URL": self.cfg.mongo_url,
            "OUTGOING_TOPIC_PREFIX": self.name,
            "OUTGOING_MONGO_DB": self.name,
            "OUTGOING_SMTP_HOST": "127.0.0.1",
            "OUTGOING_SMTP_PORT": str(self.smtp_port),
            "OUTGOING_LOG_JSON": "true",
            "OUTGOING_LINK_SECRET": self.link_secret,
        }

    def start_servers(self) -> None:
        self.cfg.run_dir.mkdir(parents=True, exist_ok=True)
        self.log(f"kafka: {infra.start_kafka(self.cfg)} on {self.cfg.kafka_port}")
        self.log(f"database: {infra.start_mongo(self.cfg)} at {redact_url(self.cfg.mongo_url)}")

    def start_services(self, names: Iterable[str], slot: str = "a") -> None:
        cfg = self.slot(slot)
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        names = list(names)
        for service in names:
            infra.spawn_service(cfg, service, env=self.service_env())
        for service in names:
            infra.wait_for_service(cfg, service)

    def kill(self, service: str, slot: str = "a") -> int | None:
        pid = infra.running_pid(self.slot(slot), service)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while infra.running_pid(self.slot(slot), service) is not None:
                time.sleep(0.05)
        return pid

    def stop_service(self, service: str, slot: str) -> None:
        infra.stop(self.slot(slot), service)

    def alive(self, service: str, slot: str = "a") -> bool:
        return infra.running_pid(self.slot(slot), service) is not None

    def stop_everything(self) -> None:
        for slot in ("b", "a"):
            infra.stop_all(self.slot(slot), list(reversed(SERVICES)), grace=20.0)
        for server in ("kafka", "mongo"):
            infra.stop(self.cfg, server, grace=30.0)


# ---------------------------------------------------------------- helpers


async def attempt(call: Callable[[], Awaitable[Any]], default: Any = None) -> Any:
    """The call's result, or ``default`` while a server is down (this suite causes that)."""
    try:
        return await asyncio.wait_for(call(), 60)
    except Exception:  # noqa: BLE001 - outages are the point here
        return default


def events_of(records: Iterable[Any]) -> list[dict[str, Any]]:
    """Records as raw JSON documents, read as a CRM would: by type, without our classes."""
    found = []
    for record in records:
        with contextlib.suppress(ValueError, TypeError):
            doc = json.loads(record.value or b"")
            if isinstance(doc, dict) and "type" in doc:
                found.append(doc)
    return found


def distinct_ids_by(events: Iterable[dict[str, Any]], kind: str, key: Callable[[dict[str, Any]], str]) -> dict[str, set[str]]:
    """For each business key (a company, an enrollment…), the distinct event ids that announced it."""
    grouped: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event["type"] == kind:
            grouped[key(event["data"])].add(event["id"])
    return grouped


def compare(label: str, expected: set[str], announced: dict[str, set[str]], problems: list[str]) -> dict[str, int]:
    """Each expected key announced by exactly one event id, and nothing else announced."""
    missing = expected - set(announced)
    extra = set(announced) - expected
    twice = {k: v for k, v in announced.items() if len(v) > 1}
    if missing:
        problems.append(f"{label}: {len(missing)} of {len(expected)} never announced, e.g. {sorted(missing)[:3]}")
    if extra:
        problems.append(f"{label}: {len(extra)} announced without being stored, e.g. {sorted(extra)[:3]}")
    if twice:
        problems.append(f"{label}: {len(twice)} announced under two or more event ids, e.g. {sorted(twice)[:3]}")
    return {"expected": len(expected), "announced": len(announced), "missing": len(missing), "extra": len(extra), "twice": len(twice)}


def parse_time(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------- the run


@dataclass
class Run:
    plan: Plan
    cluster: Cluster
    mailbox: Mailbox
    population: Population
    log: Callable[[str], None]
    stage: str = "starting"
    began: float = field(default_factory=time.monotonic)
    faults_done: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    producer: AIOKafkaProducer | None = None
    joined: set[str] = field(default_factory=set)
    read_during_check: dict[Topic, set[str]] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.cluster.settings

    def elapsed(self) -> float:
        return round(time.monotonic() - self.began, 1)

    # ------------------------------------------------------------ publishing

    async def publish(self, topic: Topic, events: Iterable[Envelope[Any]], over_s: float = 0.0) -> None:
        """Publish in order, optionally spread over ``over_s``; a send that fails in an outage is sent again."""
        assert self.producer is not None
        events = list(events)
        pause = over_s / max(len(events), 1)
        name = self.cluster.topics(topic)
        for event in events:
            await self._send(name, event)
            if pause:
                await asyncio.sleep(pause)

    async def _send(self, topic: str, event: Envelope[Any]) -> None:
        assert self.producer is not None
        headers = [("x-event-type", event.type.encode()), ("x-event-id", str(event.id).encode())]
        for tried in range(1, 31):
            try:
                await self.producer.send_and_wait(topic, event.to_bytes(), key=event.key, headers=headers)
                return
            except Exception as error:  # noqa: BLE001 - at-least-once: send again, consumers dedupe
                self.log(f"  publish to {topic} failed ({error!r}); again in 2 s (try {tried})")
                await asyncio.sleep(2)
        raise RuntimeError(f"could not publish to {topic} for a minute")

    # ------------------------------------------------------------ waiting

    async def until(
        self, label: str, measure: Callable[[], Awaitable[int]], target: int, settled: Callable[[], Awaitable[bool]] | None = None
    ) -> int:
        self.stage = label
        began = time.monotonic()
        deadline = began + self.plan.stage_timeout_s
        value = -1
        while time.monotonic() < deadline:
            value = await attempt(measure, -1)
            if value >= target and (settled is None or await attempt(settled, False)):
                self.stage_seconds[label] = round(time.monotonic() - began, 1)
                self.log(f"  {label}: {value} of {target} after {self.stage_seconds[label]:.0f} s")
                return value
            await asyncio.sleep(1.0)
        self.log(f"  problem: stage '{label}' did not finish")
        self.problems.append(f"stage '{label}' did not finish: {value} of {target} after {self.plan.stage_timeout_s:.0f} s")
        self.log(f"  {label}: STUCK at {value} of {target}")
        return value

    async def settled(self, services: Iterable[str] = SERVICES) -> bool:
        lags = await consumer_group_lags(self.settings)
        wanted = tuple(f"{self.settings.topic_prefix}.{s}{GROUP_TOPIC_SEPARATOR}" for s in services)
        mine = [lag for lag in lags if lag.group.startswith(wanted)]
        return bool(mine) and all(lag.lag == 0 for lag in mine)

    async def quiet(self) -> int:
        """1 once every group is at the end of its topics and no outbox holds an event."""
        return int(await self.settled() and await self.outboxes_empty())

    async def outboxes_empty(self) -> bool:
        """No stored event waits to be published (a kill or an outage can leave some for the stale-outbox scan)."""
        client = create_client(self.settings)
        try:
            for service in SERVICES:
                db = client[self.settings.database_for(service)]
                for name in await db.list_collection_names():
                    if await db[name].count_documents({"outbox.0": {"$exists": True}}, limit=1):
                        return False
            return True
        finally:
            await client.close()

    async def read(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """A read this run depends on: retried through outages, for as long as a stage may take."""
        deadline = time.monotonic() + self.plan.stage_timeout_s
        while True:
            try:
                return await asyncio.wait_for(call(), 60)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1.0)

    # ------------------------------------------------------------ faults

    async def play_faults(self) -> None:
        for fault in self.plan.faults:
            await asyncio.sleep(self.plan.gap_s)
            at, stage = self.elapsed(), self.stage
            self.log(f"[{at:7.1f} s] fault: {fault} (during '{stage}')")
            began = time.monotonic()
            record: dict[str, Any] = {"fault": str(fault), "at_s": at, "stage": stage}
            try:
                record |= await self.inject(fault)
            except Exception as error:  # noqa: BLE001 - a fault that could not be played is a problem, not a crash
                self.problems.append(f"fault '{fault}' could not be played: {error!r}")
            record["took_s"] = round(time.monotonic() - began, 1)
            self.faults_done.append(record)
            self.log(f"           {json.dumps({k: v for k, v in record.items() if k not in ('fault', 'at_s', 'stage')})}")

    async def inject(self, fault: Fault) -> dict[str, Any]:
        cluster = self.cluster
        match fault.action:
            case "kill":
                pid = await asyncio.to_thread(cluster.kill, fault.service)
                found = await self.committed_work_check(fault.service)
                await asyncio.sleep(2.0)
                await asyncio.to_thread(cluster.start_services, [fault.service])
                return {"pid": pid, **found}
            case "join":
                await asyncio.to_thread(cluster.start_services, [fault.service], "b")
                self.joined.add(fault.service)
                return {}
            case "leave":
                await asyncio.to_thread(cluster.stop_service, fault.service, "b")
                self.joined.discard(fault.service)
                return {}
            case "kafka":
                await asyncio.to_thread(infra.stop, cluster.cfg, "kafka")
                down = time.monotonic()
                await asyncio.sleep(3.0)
                await asyncio.to_thread(infra.start_kafka, cluster.cfg)
                return {"down_s": round(time.monotonic() - down, 1)}
            case "database":
                await asyncio.to_thread(infra.stop, cluster.cfg, "mongo")
                down = time.monotonic()
                await asyncio.sleep(fault.seconds)
                await asyncio.to_thread(infra.start_mongo, cluster.cfg)
                return {"down_s": round(time.monotonic() - down, 1)}
        raise ValueError(fault.action)

    async def committed_work_check(self, service: str) -> dict[str, Any]:
        """With ``service`` dead (and no second instance of it), every record below its
        groups' committed offsets must have its effect stored or passed on: else a commit
        ran ahead of the work, and a crash there loses it."""
        if service in self.joined:
            return {"offsets_checked": "skipped: a second instance is still working"}
        client = create_client(self.settings)
        checks: dict[str, list[tuple[Topic, Callable[[Any, list[dict[str, Any]]], Awaitable[tuple[int, list[str]]]]]]] = {
            "registration": [
                (Topic.SIGNUP_FORMS, self._routed_to(Topic.REGISTRATION_COMMANDS)),
                (Topic.REGISTRATION_COMMANDS, self._signups_applied),
            ],
            "matching": [
                (Topic.MEETING_FORMS, self._routed_to(Topic.MATCHING_COMMANDS)),
                (Topic.REGISTRATION_EVENTS, self._registrations_taken),
                (Topic.MATCHING_COMMANDS, self._mission_inputs_applied),
            ],
            "notifications": [
                (Topic.REGISTRATION_EVENTS, self._notifications_planned),
                (Topic.MATCHING_EVENTS, self._notifications_planned),
            ],
        }
        figures: dict[str, Any] = {}
        self.read_during_check = {}
        try:
            for topic, check in checks[service]:
                below = await self._records_below_commit(service, topic)
                verified, lost = await check(client, below)
                figures[f"verified_{topic.value}"] = verified
                if lost:
                    self.problems.append(
                        f"{service} committed past {len(lost)} record(s) of {topic.value} whose work is not done, e.g. {lost[:3]}"
                    )
                    figures[f"lost_{topic.value}"] = len(lost)
            return figures
        except Exception as error:  # noqa: BLE001 - a check that cannot run must not pass
            self.problems.append(f"the committed-offsets check of {service} could not run: {error!r}")
            return {**figures, "offsets_checked": f"could not check: {error!r}"}
        finally:
            await client.close()

    async def _records_below_commit(self, service: str, topic: Topic) -> list[dict[str, Any]]:
        name = self.cluster.topics(topic)
        group = f"{self.settings.topic_prefix}.{service}{GROUP_TOPIC_SEPARATOR}{name}"
        async with admin_client(self.settings, role="fault-suite") as admin:
            committed = {
                tp.partition: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items() if tp.topic == name
            }
        records = await read_topic(self.settings, name)
        return events_of(r for r in records if r.offset < committed.get(r.partition, 0))

    def _routed_to(self, target: Topic) -> Callable[[Any, list[dict[str, Any]]], Awaitable[tuple[int, list[str]]]]:
        """An intake consumer's whole work: the event passed on to the service's command topic."""

        async def check(client: Any, events: list[dict[str, Any]]) -> tuple[int, list[str]]:
            return await self._passed_on({e["id"] for e in events}, target)

        return check

    async def _passed_on(self, ids: set[str], target: Topic) -> tuple[int, list[str]]:
        if target not in self.read_during_check:  # the dead service is the topic's only writer: read it once
            self.read_during_check[target] = {e["id"] for e in events_of(await read_topic(self.settings, self.cluster.topics(target)))}
        return len(ids), sorted(ids - self.read_during_check[target])

    async def _signups_applied(self, client: Any, events: list[dict[str, Any]]) -> tuple[int, list[str]]:
        """A decision for each signup and, when accepted, its company and its enrollments."""
        ids = {e["id"] for e in events if e["type"] == "signup.submitted.v1"}
        db = client[self.settings.database_for("registration")]
        decisions = {d["_id"]: d for d in await db["signups"].find({"_id": {"$in": sorted(ids)}}).to_list()}
        lost = sorted(ids - set(decisions))
        companies = {d["_id"] for d in await db["companies"].find({}, {"_id": 1}).to_list()}
        enrolled: dict[str, set[str]] = defaultdict(set)
        for e in await db["enrollments"].find({}, {"company_id": 1, "mission_id": 1}).to_list():
            enrolled[e["company_id"]].add(e["mission_id"])
        for signup_id, decision in decisions.items():
            company = decision.get("company_id")
            if decision.get("outcome") == "rejected" or not company:
                continue
            if company not in companies or not set(decision.get("eligible_missions") or []) <= enrolled[company]:
                lost.append(f"{signup_id} (company or enrollments)")
        return len(ids), lost

    async def _registrations_taken(self, client: Any, events: list[dict[str, Any]]) -> tuple[int, list[str]]:
        """Enrollments passed on to the missions' command topic; companies in the profile read model."""
        enrollments = {e["id"] for e in events if e["type"] in ("enrollment.confirmed.v1", "enrollment.cancelled.v1")}
        checked, lost = await self._passed_on(enrollments, Topic.MATCHING_COMMANDS)
        companies = {e["data"]["company_id"] for e in events if e["type"] == "company.registered.v1"}
        db = client[self.settings.database_for("matching")]
        known = {d["_id"] for d in await db["companies"].find({"_id": {"$in": sorted(companies)}}, {"_id": 1}).to_list()}
        return checked + len(companies), lost + sorted(f"company {c}" for c in companies - known)

    async def _mission_inputs_applied(self, client: Any, events: list[dict[str, Any]]) -> tuple[int, list[str]]:
        """Requests and enrollments in their mission's state."""
        db = client[self.settings.database_for("matching")]
        states = {s["_id"]: s for s in await db["mission_states"].find({}, {"requests": 1, "participants": 1}).to_list()}
        checked, lost = 0, []
        for e in events:
            payload, state = e["data"], states.get(e.get("data", {}).get("mission_id"), {})
            if e["type"] == "meeting.requested.v1":
                checked += 1
                if payload["request_id"] not in {r.get("request_id") for r in state.get("requests", [])}:
                    lost.append(f"request {payload['request_id']}")
            elif e["type"] == "enrollment.confirmed.v1":
                checked += 1
                if payload["company_id"] not in state.get("participants", {}):
                    lost.append(f"participant {payload['mission_id']}/{payload['company_id']}")
        return checked, lost

    async def _notifications_planned(self, client: Any, events: list[dict[str, Any]]) -> tuple[int, list[str]]:
        """A notification timer for each event that causes e-mail."""
        causes = (
            "enrollment.confirmed.v1",
            "signup.rejected.v1",
            "meeting.scheduled.v1",
            "meeting.rescheduled.v1",
            "meeting.cancelled.v1",
            "followup.due.v1",
        )
        wanted = {e["id"] for e in events if e["type"] in causes and (e["type"] != "signup.rejected.v1" or e["data"].get("company_id"))}
        db = client[self.settings.database_for("notifications")]
        planned = {
            d["data"]["source_event_id"]
            for d in await db["timers"].find({"data.source_event_id": {"$in": sorted(wanted)}}, {"data.source_event_id": 1}).to_list()
        }
        return len(wanted), sorted(wanted - planned)

    # ------------------------------------------------------------ the load

    async def load(self) -> None:
        population, topics = self.population, Topic
        client = create_client(self.settings)
        try:
            reg, match, notif = (client[self.settings.database_for(s)] for s in SERVICES)
            missions = population.missions
            await self.publish(topics.MISSIONS, population.mission_events())

            async def missions_known() -> int:
                return min([await db["missions"].count_documents({}) for db in (reg, match, notif)])

            await self.until("missions known", missions_known, len(missions))
            self.stage = "signups arriving"
            await self.publish(topics.SIGNUP_FORMS, population.signups, over_s=self.plan.publish_over_s)
            await self.until(
                "signups decided",
                lambda: reg["signups"].count_documents({}),
                len(population.signups),
                settled=lambda: self.settled(["registration"]),
            )
            enrolled = await self.read(lambda: reg["enrollments"].count_documents({"status": "confirmed"}))

            async def participants() -> int:
                states = await match["mission_states"].find({}, {"participants": 1}).to_list()
                return sum(1 for s in states for p in s.get("participants", {}).values() if p.get("status") == "confirmed")

            await self.until("enrollments reach matching", participants, enrolled, settled=lambda: self.settled(["matching"]))
            self.stage = "meeting requests arriving"
            await self.publish(topics.MEETING_FORMS, population.meeting_forms(company_ids(population)))

            async def answered() -> int:
                states = await match["mission_states"].find({}, {"requests": 1}).to_list()
                return sum(1 for s in states for r in s.get("requests", []) if r.get("requester") and r.get("answer"))

            await self.until("meeting requests answered", answered, len(population.requests))
            await self.publish(
                topics.OPERATOR_COMMANDS,
                [
                    ScheduleRequested.new(
                        source="fault-suite",
                        subject=m.mission_id,
                        data=ScheduleRequest(mission_id=m.mission_id, operator=OPERATOR, time_limit_s=self.plan.time_limit_s),
                    )
                    for m in missions
                ],
            )
            await self.until(
                "agendas",
                lambda: match["mission_states"].count_documents({"summary": {"$exists": True}}),
                len(missions),
                settled=lambda: self.settled(["matching"]),
            )

            async def active_meetings() -> int:
                states = await match["mission_states"].find({}, {"agenda": 1}).to_list()
                return sum(1 for s in states for m in (s.get("agenda") or {}).values() if m.get("active"))

            active = await self.read(active_meetings)
            await self.until("follow-ups fired", lambda: match["followup_timers"].count_documents({"state": "fired"}), 3 * active)

            async def followups_on_topic() -> int:
                return len(
                    {
                        e["id"]
                        for e in events_of(await read_topic(self.settings, self.cluster.topics(topics.MATCHING_EVENTS)))
                        if e["type"] == "followup.due.v1"
                    }
                )

            await self.until("follow-ups on the topic", followups_on_topic, 3 * active)
            due = await self.read(self._followups_due)
            answers = followup_answers(population.seed, due, link_keys(self.settings))
            self.stage = "follow-up answers arriving"
            await self.publish(topics.MEETING_FORMS, answers)

            async def answers_recorded() -> int:
                states = await match["mission_states"].find({}, {"followup_answers": 1}).to_list()
                return sum(len(s.get("followup_answers") or {}) for s in states)

            await self.until("follow-up answers recorded", answers_recorded, len(answers))
            expected = await self.read(self._expected_emails)

            async def mailed() -> int:
                """Expected e-mails announced as sent, or dropped because a newer event made them moot."""
                sent, superseded = await self._sent_and_superseded(notif)
                return len(expected & (sent | superseded))

            await self.until("e-mails sent", mailed, len(expected), settled=self.settled)
            self.stage = "done"
        finally:
            await client.close()

    async def _sent_and_superseded(self, notif: Any) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        notifications = events_of(await read_topic(self.settings, self.cluster.topics(Topic.NOTIFICATION_EVENTS)))
        sent = {(e["data"]["source_event_id"], e["data"]["company_id"]) for e in notifications if e["type"] == "notification.sent.v1"}
        superseded = {(d["source_event_id"], d["company_id"]) for d in await notif["deliveries"].find({"state": "superseded"}).to_list()}
        return sent, superseded

    async def _followups_due(self) -> list[Any]:
        adapter = TypeAdapter(FollowUpDue)
        records = await read_topic(self.settings, self.cluster.topics(Topic.MATCHING_EVENTS))
        due = {}
        for record in records:
            with contextlib.suppress(ValueError):
                event = adapter.validate_json(record.value or b"")
                due[event.id] = event
        return list(due.values())

    async def _expected_emails(self) -> set[tuple[str, str]]:
        """(source event id, recipient company) of every e-mail the events on the topics ask for:
        one per enrollment, per rejection of a company with a contact (none without privacy
        consent), and per company of each meeting change and follow-up."""
        registration = events_of(await read_topic(self.settings, self.cluster.topics(Topic.REGISTRATION_EVENTS)))
        matching = events_of(await read_topic(self.settings, self.cluster.topics(Topic.MATCHING_EVENTS)))
        contacts = events_of(await read_topic(self.settings, self.cluster.topics(Topic.CONTACTS)))
        reachable = {e["data"]["company_id"] for e in contacts if e["type"] == "contact.recorded.v1"}
        expected = {(e["id"], e["data"]["company_id"]) for e in registration if e["type"] == "enrollment.confirmed.v1"}
        expected |= {
            (e["id"], e["data"]["company_id"])
            for e in registration
            if e["type"] == "signup.rejected.v1" and e["data"].get("company_id") in reachable
        }
        for e in matching:
            if e["type"] in ("meeting.scheduled.v1", "meeting.rescheduled.v1", "meeting.cancelled.v1", "followup.due.v1"):
                payload = e["data"].get("meeting", e["data"])
                expected |= {(e["id"], company) for company in payload["participants"]}
        return expected

    # ------------------------------------------------------------ counting

    async def count(self) -> None:
        """Everything afterwards, from the topics, the databases and the mailbox."""
        problems, figures = self.problems, self.figures
        topics = self.cluster.topics
        client = create_client(self.settings)
        try:
            reg, match, notif = (client[self.settings.database_for(s)] for s in SERVICES)
            registration = events_of(await read_topic(self.settings, topics(Topic.REGISTRATION_EVENTS)))
            matching = events_of(await read_topic(self.settings, topics(Topic.MATCHING_EVENTS)))
            notifications = events_of(await read_topic(self.settings, topics(Topic.NOTIFICATION_EVENTS)))

            produced = {str(e.id) for e in self.population.signups}
            decided = {d["_id"]: d for d in await reg["signups"].find({}, {"outcome": 1, "company_id": 1}).to_list()}
            if set(decided) != produced:
                problems.append(
                    f"signups: {len(produced - set(decided))} never decided, {len(set(decided) - produced)} decided that were never sent"
                )
            companies = {d["_id"] for d in await reg["companies"].find({}, {"_id": 1}).to_list()}
            wanted_companies = set(company_ids(self.population).values())
            if not wanted_companies <= companies:
                problems.append(f"companies: {len(wanted_companies - companies)} accepted companies not stored")
            figures["registration"] = {
                "signups": len(produced),
                "decided": len(decided),
                "companies": compare(
                    "companies registered",
                    companies,
                    distinct_ids_by(registration, "company.registered.v1", lambda p: p["company_id"]),
                    problems,
                ),
                "enrollments": compare(
                    "enrollments confirmed",
                    {d["_id"] for d in await reg["enrollments"].find({"status": "confirmed"}, {"_id": 1}).to_list()},
                    distinct_ids_by(registration, "enrollment.confirmed.v1", lambda p: p["enrollment_id"]),
                    problems,
                ),
                "rejections": compare(
                    "signups rejected",
                    {k for k, d in decided.items() if d.get("outcome") != "accepted"},
                    distinct_ids_by(registration, "signup.rejected.v1", lambda p: str(p["signup_id"])),
                    problems,
                ),
            }
            await self._count_matching(match, matching)
            await self._count_mail(notif, notifications)
            lags = await consumer_group_lags(self.settings)
            behind = {lag.group: lag.lag for lag in lags if lag.lag != 0}
            if behind:
                problems.append(f"consumer groups not at the end: {behind}")
            figures["groups"] = {"groups": len(lags), "behind": behind}
        finally:
            await client.close()

    async def _count_matching(self, match: Any, matching: list[dict[str, Any]]) -> None:
        problems = self.problems
        states = await match["mission_states"].find({}).to_list()
        requested = {r.data.request_id for r in self.population.requests}
        recorded = {r.get("request_id") for s in states for r in s.get("requests", []) if r.get("requester")}
        if requested - recorded:
            problems.append(f"meeting requests: {len(requested - recorded)} of {len(requested)} not recorded")
        without = [s["_id"] for s in states if "summary" not in s]
        if without or len(states) < len(self.population.missions):
            problems.append(f"agendas: missing for {without or 'some missions'}")
        active = {m["meeting_id"]: m for s in states for m in (s.get("agenda") or {}).values() if m.get("active")}
        by_company: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
        for m in active.values():
            for company in (m["lombard_id"], m["foreign_id"]):
                by_company[company].append((parse_time(m["start"]), parse_time(m["end"]), m["meeting_id"]))
        clashes = []
        for company, slots in by_company.items():
            slots.sort()
            clashes += [(company, a[2], b[2]) for a, b in pairwise(slots) if b[0] < a[1]]
        if clashes:
            problems.append(f"double booking on the agendas: {len(clashes)}, e.g. {clashes[:2]}")
        bookings = await match["bookings"].find({}).to_list()
        stray = [
            b["_id"]
            for b in bookings
            if b["meeting_id"] not in active
            or b["company_id"] not in (active[b["meeting_id"]]["lombard_id"], active[b["meeting_id"]]["foreign_id"])
        ]
        held = {(b["meeting_id"], b["company_id"]) for b in bookings}
        unbooked = [(mid, c) for mid, m in active.items() for c in (m["lombard_id"], m["foreign_id"]) if (mid, c) not in held]
        if stray or unbooked:
            problems.append(
                f"bookings and agendas disagree: {len(stray)} bookings of no active meeting, {len(unbooked)} meeting places without a booking"
            )
        latest: dict[str, dict[str, Any]] = {}
        for event in matching:
            if event["type"] in ("meeting.scheduled.v1", "meeting.rescheduled.v1", "meeting.cancelled.v1"):
                payload = event["data"].get("meeting", event["data"])
                known = latest.get(payload["meeting_id"])
                if known is None or payload["sequence"] >= known["sequence"]:
                    latest[payload["meeting_id"]] = {**payload, "type": event["type"]}
        live = {mid for mid, e in latest.items() if e["type"] != "meeting.cancelled.v1"}
        moved = [mid for mid in live & set(active) if parse_time(latest[mid]["start"]) != parse_time(active[mid]["start"])]
        if live != set(active) or moved:
            problems.append(
                f"meeting events and agendas disagree: {len(set(active) - live)} active unannounced, {len(live - set(active))} announced not active, {len(moved)} at another time"
            )
        announcements: dict[str, set[str]] = defaultdict(set)
        for event in matching:
            if event["type"] in ("meeting.scheduled.v1", "meeting.rescheduled.v1", "meeting.cancelled.v1"):
                payload = event["data"].get("meeting", event["data"])
                announcements[f"{payload['meeting_id']}#{payload['sequence']}:{event['type']}"].add(event["id"])
        twice = {k: v for k, v in announcements.items() if len(v) > 1}
        if twice:
            problems.append(f"meeting changes announced under two or more event ids: {len(twice)}, e.g. {sorted(twice)[:3]}")
        fired = await match["followup_timers"].count_documents({"state": "fired"})
        due = {e["id"] for e in matching if e["type"] == "followup.due.v1"}
        if fired != len(due):
            problems.append(f"follow-ups: {fired} timers fired, {len(due)} follow-up events")
        self.figures["matching"] = {
            "requests": len(requested),
            "recorded": len(recorded & requested),
            "active_meetings": len(active),
            "bookings": len(bookings),
            "double_bookings": len(clashes),
            "followup_timers_fired": fired,
            "followups_due": len(due),
        }

    async def _count_mail(self, notif: Any, notifications: list[dict[str, Any]]) -> None:
        """Every expected e-mail sent once (compared by source event and recipient), or dropped
        as superseded; more than once only when the service reported the send unconfirmed."""
        problems = self.problems
        received = self.mailbox.snapshot()
        expected = await self._expected_emails()
        sent, superseded = await self._sent_and_superseded(notif)
        sent_ids = {e["data"]["notification_id"] for e in notifications if e["type"] == "notification.sent.v1"}
        unconfirmed = {e["data"]["notification_id"] for e in notifications if e["type"] == "notification.unconfirmed.v1"}
        resolved = {
            e["data"]["notification_id"]: e["data"].get("resolution")
            for e in notifications
            if e["type"] == "notification.unconfirmed_resolved.v1"
        }
        failed = {e["data"]["notification_id"] for e in notifications if e["type"] == "notification.failed.v1"}
        stored_sent = {d["_id"] for d in await notif["deliveries"].find({"state": "sent"}, {"_id": 1}).to_list()}
        still_unconfirmed = [d["_id"] for d in await notif["deliveries"].find({"state": "unconfirmed"}, {"_id": 1}).to_list()]
        missing = expected - sent - superseded
        unasked = sent - expected
        twice = {nid: n for nid, n in received.items() if n > 1}
        unexplained = {nid: n for nid, n in twice.items() if nid not in unconfirmed or nid not in resolved}
        if missing:
            problems.append(f"e-mails: {len(missing)} of {len(expected)} expected never sent, e.g. {sorted(missing)[:3]}")
        if unasked:
            problems.append(f"e-mails: {len(unasked)} sent that no event asked for, e.g. {sorted(unasked)[:3]}")
        if unexplained:
            problems.append(f"e-mails sent twice without an unconfirmed report: {len(unexplained)}, e.g. {sorted(unexplained)[:3]}")
        if set(received) != stored_sent or stored_sent != sent_ids:
            problems.append(
                f"e-mails, deliveries and events disagree: {len(set(received) - stored_sent)} received not stored as sent, "
                f"{len(stored_sent - set(received))} stored as sent never received, {len(stored_sent ^ sent_ids)} differ from notification.sent.v1"
            )
        if still_unconfirmed:
            problems.append(f"unconfirmed sends left unresolved: {len(still_unconfirmed)}")
        if failed:
            problems.append(f"notifications failed: {len(failed)}")
        self.figures["mail"] = {
            "expected": len(expected),
            "sent": len(sent & expected),
            "superseded": len(superseded & expected),
            "received_distinct": len(received),
            "received_total": sum(received.values()),
            "sent_twice": len(twice),
            "unconfirmed_reported": len(unconfirmed),
            "unconfirmed_resolved": dict(Counter(resolved.values())),
            "failed": len(failed),
        }


async def run(plan: Plan, run_dir: Path, keep: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Play the plan on a private cluster; the result's ``problems`` is empty when everything held."""
    name = f"faults{datetime.now(UTC):%H%M%S}"
    run_dir = run_dir.resolve()  # noqa: ASYNC240 - once, before anything runs on the loop
    mailbox = Mailbox().start()
    cluster = Cluster.create(run_dir, name, mailbox.port, log)
    population = population_for(plan)
    suite = Run(plan, cluster, mailbox, population, log)
    log(
        f"fault suite {name}: {len(population.signups)} signups, {len(population.requests)} meeting requests, "
        f"{len(plan.faults)} faults every {plan.gap_s:g} s; logs in {run_dir}"
    )
    try:
        await asyncio.to_thread(cluster.start_servers)
        await ensure_topics(cluster.settings)
        await asyncio.to_thread(cluster.start_services, SERVICES)
        suite.began = time.monotonic()
        suite.producer = AIOKafkaProducer(
            bootstrap_servers=cluster.settings.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=60_000,
            **client_security(cluster.settings),
        )
        await suite.producer.start()
        faults = asyncio.create_task(suite.play_faults())
        await suite.load()
        await faults
        if not all(cluster.alive(s) for s in SERVICES):
            suite.problems.append(f"services not running at the end: {[s for s in SERVICES if not cluster.alive(s)]}")
        await suite.until("everything settled", suite.quiet, 1)
        await suite.count()
    finally:
        if suite.producer is not None:
            with contextlib.suppress(Exception):
                await suite.producer.stop()
        await _to_the_end(asyncio.to_thread(cluster.stop_everything))  # even when interrupted
        mailbox.stop()
        if not keep and not suite.problems:
            shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "signups": plan.signups,
        "seconds": suite.elapsed(),
        "stages_s": suite.stage_seconds,
        "faults": suite.faults_done,
        "figures": suite.figures,
        "problems": suite.problems,
        "run_dir": str(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="the short run CI makes")
    parser.add_argument("--signups", type=int, default=5000)
    parser.add_argument("--max-meetings", type=int, default=1, help="meetings per company in each mission")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (logs, data) even when everything held")
    args = parser.parse_args()
    plan = Plan.short() if args.short else Plan.full(args.signups, args.max_meetings)
    run_dir = ROOT / ".run" / "faults" / f"{datetime.now(UTC):%Y%m%d%H%M%S}"
    result = asyncio.run(run(plan, run_dir, args.keep))
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    print(
        "PASS: nothing lost, nothing sent twice unknowingly, no double booking"
        if not result["problems"]
        else "FAIL:\n  " + "\n  ".join(result["problems"])
    )
    raise SystemExit(0 if not result["problems"] else 1)


if __name__ == "__main__":
    main()
