"""The reference CRM consumer (examples/reference_crm) against the three services, the real broker and database.

Signups and a schedule fill its SQLite; its links (companies, enrollments, meetings) come
back in later events as ``external_ids``, follow-ups included; an erasure empties its contact;
a second instance replaying everything into the same file changes nothing.

The external-id checks (links consumed, never dead-lettered, echoed in later events) are
collected and asserted last, so that when they fail the erasure and replay checks still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from examples.reference_crm.consumer import Config, ReferenceCrm
from shared.contracts.crm import CompanyLinked, EnrollmentLinked, MeetingLinked
from shared.contracts.matching import AvailabilityChange, AvailabilityChanged, ScheduleRequest, ScheduleRequested, TimeSpan
from shared.contracts.registration import CompanyRef, ErasureRequest, ErasureRequested, Signup, SignupUpdated
from shared.contracts.topics import Topic, TopicNames
from shared.kafka import admin_client
from shared.messaging import DLQ_REASON, DLQ_SOURCE_TOPIC
from shared.settings import Settings
from tests.contract_audit import audit_topics
from tests.e2e.test_mission_flow import MISSION, SIGNED_UP_AT, Clock, three_services
from tests.e2e.test_mission_flow import Mission as Flow
from tests.factories import foreign, lombard, mission_planned, signup, valid_partita_iva
from tests.smtp_sink import SmtpSink
from tests.support import eventually, topic_records

pytestmark = pytest.mark.integration

SYSTEM = "reference-crm"
LINKS = 12
"""One per company, enrollment and meeting: 4 of each."""
AFTER_THE_MEETINGS = datetime(2027, 3, 24, tzinfo=UTC)
"""The day after the mission's window: every meeting's attendance check is due, no later survey."""
APPLICANTS = {
    "Rossi Meccanica S.r.l.": lombard(company_name="Rossi Meccanica S.r.l.", missions=[MISSION.mission_id]),
    "Bianchi Utensili S.p.A.": lombard(
        company_name="Bianchi Utensili S.p.A.",
        partita_iva=valid_partita_iva("0987654321"),
        contact={"name": "Lucia Bianchi", "email": "lucia@bianchi.example", "preferred_language": "it"},
        missions=[MISSION.mission_id],
    ),
    "Pune Lathes Ltd": foreign(
        company_name="Pune Lathes Ltd",
        contact={"name": "Arjun Rao", "email": "arjun@pune.example", "preferred_language": "en"},
        missions=[MISSION.mission_id],
    ),
    "Mumbai Machine Tools Pvt Ltd": foreign(missions=[MISSION.mission_id]),
}


@contextlib.asynccontextmanager
async def reference_crm(settings: Settings, db: Path, group: str | None = None) -> AsyncIterator[ReferenceCrm]:
    """The consumer as an asyncio task, as ``python -m examples.reference_crm`` runs it."""
    crm = ReferenceCrm(Config(bootstrap=settings.kafka_bootstrap, prefix=settings.topic_prefix, db=db, system=SYSTEM, group=group))
    task = asyncio.create_task(crm.run())
    try:
        yield crm
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def sql(db: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return connection.execute(query, args).fetchall()


def dump(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return list(connection.iterdump())


async def settled(crm: ReferenceCrm, timeout: float = 30) -> None:
    await eventually(crm.settled, timeout, interval=0.3)


async def group_caught_up(settings: Settings, group: str, topic: str) -> bool:
    """Whether ``group`` committed every record now on ``topic``: Outgoing's services consumed it."""
    async with admin_client(settings, role="test") as admin:
        committed = await admin.list_consumer_group_offsets(group)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(settings.topic_partitions)])
    finally:
        await consumer.stop()
    return all(end == 0 or (tp in committed and committed[tp].offset >= end) for tp, end in ends.items())


async def links_accepted(flow: Flow, problems: list[str]) -> None:
    """Both services consumed the CRM's links, and none of them was dead-lettered."""
    links = flow.topics(Topic.CRM_LINKS)
    for service in ("registration", "matching"):
        group = f"{flow.settings.topic_prefix}.{service}/{links}"
        try:
            await eventually(lambda group=group: group_caught_up(flow.settings, group, links), 20, interval=0.5)
        except TimeoutError:
            problems.append(f"{service} did not consume {links} within 20 s (group {group})")
    for dlq in (Topic.REGISTRATION_DLQ, Topic.MATCHING_DLQ):
        for r in await topic_records(flow.settings, flow.topics(dlq)):
            headers = {name: value.decode(errors="replace") for name, value in r.headers}
            if headers.get(DLQ_SOURCE_TOPIC) == links or b"external_id_set.v1" in (r.value or b""):
                # a link refused by the service that owns it is dead-lettered from its command topic, not from crm.links
                problems.append(f"dead-lettered on {dlq.value}: {headers.get(DLQ_REASON)} {headers.get('x-dlq-errors', '')[:600]}")


def check_links(records: list[Any], registered: list[dict[str, Any]], confirmed: list[dict[str, Any]], db: Path) -> None:
    """One valid link per company, enrollment and meeting, exactly as Outgoing's contracts want them."""
    kinds = {
        "company.external_id_set.v1": CompanyLinked,
        "enrollment.external_id_set.v1": EnrollmentLinked,
        "meeting.external_id_set.v1": MeetingLinked,
    }
    parsed = [kinds[json.loads(r.value)["type"]].model_validate_json(r.value) for r in records]
    companies = [link for link in parsed if isinstance(link, CompanyLinked)]
    enrollments = [link for link in parsed if isinstance(link, EnrollmentLinked)]
    meetings = [link for link in parsed if isinstance(link, MeetingLinked)]
    assert {(c.data.company_id, c.data.external_id) for c in companies} == set(sql(db, "SELECT company_id, external_id FROM companies"))
    assert {(e.data.company_id, e.data.mission_id, e.data.external_id) for e in enrollments} == set(
        sql(db, "SELECT company_id, mission_id, external_id FROM enrollments")
    )
    assert {(m.data.meeting_id, m.data.external_id) for m in meetings} == set(sql(db, "SELECT meeting_id, external_id FROM meetings"))
    for links, events in ((companies, registered), (enrollments, confirmed)):
        causes = {e["data"]["company_id"]: e for e in events}
        for link in links:
            cause = causes[link.data.company_id]
            assert (str(link.causation_id), str(link.correlation_id)) == (cause["id"], cause["correlationid"]), link.type
    assert all(e.subject == e.data.company_id for e in enrollments), "keyed by company id, not by mission id"
    assert all(m.subject == MISSION.mission_id for m in meetings)
    for r, link in zip(records, parsed, strict=True):
        assert link.source == "/crm/reference" and link.data.system == SYSTEM
        assert r.key.decode() == link.subject, "keyed like Outgoing's own events about it"
        assert dict(r.headers)["content-type"].startswith(b"application/cloudevents+json")


async def until_rows(db: Path, expected: list[tuple[Any, ...]], query: str, *args: Any, timeout: float = 30) -> None:
    async def match() -> bool:
        return sql(db, query, *args) == expected

    await eventually(match, timeout)


async def sign_up_and_schedule(flow: Flow, db: Path) -> dict[str, str]:
    await flow.send(Topic.MISSIONS, mission_planned(MISSION))
    for service in ("registration", "matching"):
        await eventually(lambda service=service: flow.db(service)["missions"].find_one({"_id": MISSION.mission_id}), 30)
    for applicant in APPLICANTS.values():
        await flow.send(Topic.SIGNUP_FORMS, signup(applicant, time=SIGNED_UP_AT))

    await until_rows(db, [(4,)], "SELECT count(*) FROM enrollments WHERE status = 'confirmed'")
    await until_rows(db, [(4,)], "SELECT count(*) FROM contacts")
    rows = sql(db, "SELECT name, company_id, role, country, status FROM companies ORDER BY name")
    assert [(name, role, country, status) for name, _, role, country, status in rows] == [
        ("Bianchi Utensili S.p.A.", "lombard", "IT", "active"),
        ("Mumbai Machine Tools Pvt Ltd", "foreign", "IN", "active"),
        ("Pune Lathes Ltd", "foreign", "IN", "active"),
        ("Rossi Meccanica S.r.l.", "lombard", "IT", "active"),
    ]
    schedule = ScheduleRequest(mission_id=MISSION.mission_id, operator="Giulia", time_limit_s=5)
    await flow.send(Topic.OPERATOR_COMMANDS, ScheduleRequested.new(source="operators", subject=MISSION.mission_id, data=schedule))
    await until_rows(db, [(4,)], "SELECT count(*) FROM meetings WHERE status = 'scheduled' AND sequence = 0", timeout=60)
    return {name: company_id for name, company_id, *_ in rows}


@dataclass
class Scene:
    """What the phases of the test share: the running flow, the CRM's file, and what went wrong with external ids."""

    flow: Flow
    db: Path
    ids: dict[str, str]
    problems: list[str] = field(default_factory=list)

    def crm_id(self, company_id: str) -> str:
        [(external_id,)] = sql(self.db, "SELECT external_id FROM companies WHERE company_id = ?", company_id)
        return str(external_id)

    def expect_ids(self, what: str, actual: Any, external_id: str) -> None:
        if actual != {SYSTEM: external_id}:
            self.problems.append(f"{what}: external_ids {actual!r}, expected {{{SYSTEM!r}: {external_id!r}}}")


async def check_the_update(scene: Scene) -> None:
    """A changed signup: company.updated carries the CRM's id."""
    rossi = APPLICANTS["Rossi Meccanica S.r.l."]
    changed = Signup(applicant=rossi.model_copy(update={"offer": "CNC lathes and grinding machines"}))
    update = SignupUpdated.new(source="forms", subject="rossi", data=changed, time=SIGNED_UP_AT + timedelta(hours=1))
    await scene.flow.send(Topic.SIGNUP_FORMS, update)
    crm_id = scene.crm_id(scene.ids["Rossi Meccanica S.r.l."])

    async def offer_changed() -> list[dict[str, Any]] | None:
        found = await scene.flow.events(Topic.REGISTRATION_EVENTS, "company.updated.v1")
        return [e for e in found if e["data"]["changed_fields"] == ["offer"]] or None

    [updated] = await eventually(offer_changed, 30, interval=0.5)
    scene.expect_ids("company.updated.v1", updated["data"]["profile"].get("external_ids"), crm_id)
    confirmations = [
        e["data"]["profile"]
        for e in await scene.flow.events(Topic.REGISTRATION_EVENTS, "company.updated.v1")
        if e["data"]["changed_fields"] == ["external_ids"]
    ]
    if sorted(c["company_id"] for c in confirmations) != sorted(scene.ids.values()):
        scene.problems.append(f"each company link should be confirmed by one company.updated.v1: {confirmations}")


async def check_the_move(scene: Scene) -> None:
    """A participant becomes unavailable: the moved meeting carries the CRM's id, and the CRM moves it."""
    pune = scene.ids["Pune Lathes Ltd"]
    query = "SELECT meeting_id, external_id, start_utc, end_utc FROM meetings WHERE participants LIKE ? LIMIT 1"
    [(meeting_id, external_id, start, end)] = sql(scene.db, query, f"%{pune}%")
    change = AvailabilityChange(
        mission_id=MISSION.mission_id,
        company_id=pune,
        unavailable=[TimeSpan(start=datetime.fromisoformat(start), end=datetime.fromisoformat(end))],
        operator="Giulia",
    )
    await scene.flow.send(Topic.OPERATOR_COMMANDS, AvailabilityChanged.new(source="operators", subject=MISSION.mission_id, data=change))
    [moved] = await scene.flow.wait_events(Topic.MATCHING_EVENTS, "meeting.rescheduled.v1", 1, timeout=60)
    assert moved["data"]["meeting"]["meeting_id"] == meeting_id
    scene.expect_ids("meeting.rescheduled.v1", moved["data"]["meeting"].get("external_ids"), external_id)
    await until_rows(scene.db, [("rescheduled", 1)], "SELECT status, sequence FROM meetings WHERE meeting_id = ?", meeting_id)

    async def updates_sent() -> list[dict[str, Any]] | None:
        found = await scene.flow.events(Topic.NOTIFICATION_EVENTS, "notification.sent.v1")
        updates = [e["data"] for e in found if e["data"]["kind"] == "meeting_update" and e["data"]["meeting_id"] == meeting_id]
        return updates if len(updates) == 2 else None

    try:
        updates = await eventually(updates_sent, 30, interval=0.5)
    except TimeoutError:
        scene.problems.append(f"no notification.sent.v1 for the update of {meeting_id} to both sides within 30 s")
        return
    for sent in updates:
        scene.expect_ids("notification.sent.v1 (meeting)", sent.get("meeting_external_ids"), external_id)
        scene.expect_ids("notification.sent.v1 (company)", sent.get("external_ids"), scene.crm_id(sent["company_id"]))


async def check_the_erasure(scene: Scene) -> None:
    """The CRM forgets the contact and marks the company erased; company.erased names the CRM's id."""
    pune, db = scene.ids["Pune Lathes Ltd"], scene.db
    erase = ErasureRequest(company=CompanyRef(company_id=pune), requested_by="dpo@agency.example")
    await scene.flow.send(Topic.SIGNUP_FORMS, ErasureRequested.new(source="forms", subject="erase", data=erase))
    [erased] = await scene.flow.wait_events(Topic.REGISTRATION_EVENTS, "company.erased.v1", 1, timeout=30)
    scene.expect_ids("company.erased.v1", erased["data"].get("external_ids"), scene.crm_id(pune))
    await until_rows(
        db, [(None, "erased", scene.crm_id(pune))], "SELECT name, status, external_id FROM companies WHERE company_id = ?", pune
    )
    assert sql(db, "SELECT * FROM contacts WHERE company_id = ?", pune) == []
    await until_rows(db, [("cancelled", "erased")], "SELECT status, reason FROM enrollments WHERE company_id = ?", pune)
    # The enrollment's cancellation names the CRM's id for the enrollment.
    cancellations = await scene.flow.wait_events(Topic.REGISTRATION_EVENTS, "enrollment.cancelled.v1", 1, timeout=30)
    [cancelled] = [e for e in cancellations if e["data"]["company_id"] == pune]
    [(enrollment_id,)] = sql(db, "SELECT external_id FROM enrollments WHERE company_id = ?", pune)
    scene.expect_ids("enrollment.cancelled.v1", cancelled["data"].get("external_ids"), enrollment_id)


async def check_the_followups(scene: Scene) -> None:
    """After the meetings: each attendance check names the CRM's id for its meeting. The ids reached
    the follow-up timers with the links; the moved meeting's timer, rescheduled since, keeps it."""
    meetings = dict(sql(scene.db, "SELECT meeting_id, external_id FROM meetings"))
    scene.flow.clock.now = AFTER_THE_MEETINGS
    try:
        due = await scene.flow.wait_events(Topic.MATCHING_EVENTS, "followup.due.v1", len(meetings), timeout=30)
    except TimeoutError:
        fired = await scene.flow.events(Topic.MATCHING_EVENTS, "followup.due.v1")
        scene.problems.append(f"{len(fired)} of {len(meetings)} attendance checks due within 30 s")
        return
    assert {e["data"]["meeting_id"] for e in due} == set(meetings)
    assert {e["data"]["kind"] for e in due} == {"attendance"}
    for e in due:
        meeting_id = e["data"]["meeting_id"]
        scene.expect_ids(f"followup.due.v1 for {meeting_id}", e["data"].get("external_ids"), meetings[meeting_id])


async def test_the_reference_crm_follows_a_mission(settings: Settings, tmp_path: Path) -> None:
    db, clock = tmp_path / "crm.sqlite", Clock(SIGNED_UP_AT)
    links_topic = TopicNames(settings.topic_prefix)(Topic.CRM_LINKS)
    with SmtpSink() as sink:
        # Timer runners poll every second: the follow-ups fire soon after the clock passes the meetings.
        settings = settings.model_copy(update={"smtp_port": sink.port, "schedule_time_limit_s": 5.0, "timer_max_idle_s": 1.0})
        async with three_services(settings, clock) as broker, reference_crm(settings, db) as crm:
            scene = Scene(Flow(settings, broker, sink, clock), db, {})
            scene.ids = await sign_up_and_schedule(scene.flow, db)
            assert sql(db, "SELECT mission_id, status FROM missions") == [(MISSION.mission_id, "planned")]
            assert sql(db, "SELECT DISTINCT mission_id FROM enrollments") == [(MISSION.mission_id,)]

            # The CRM's ids go back to Outgoing, once per company, enrollment and meeting, and are accepted.
            await settled(crm)
            links = await topic_records(settings, links_topic)
            assert len(links) == LINKS
            registered = await scene.flow.events(Topic.REGISTRATION_EVENTS, "company.registered.v1")
            check_links(links, registered, await scene.flow.events(Topic.REGISTRATION_EVENTS, "enrollment.confirmed.v1"), db)
            await links_accepted(scene.flow, scene.problems)

            await check_the_update(scene)
            await check_the_move(scene)
            await check_the_followups(scene)
            await check_the_erasure(scene)
            await scene.flow.client.close()
        # The services are stopped: nothing new arrives. The CRM, restarted in its group, finishes what is on the topics.
        async with reference_crm(settings, db) as crm:
            await settled(crm)
        before = dump(db)

    # A second instance, in a fresh group, replays every record into a copy of the file that forgot its positions:
    # only the event ids recognise the replays, and nothing changes, nothing is sent.
    copy = tmp_path / "replayed.sqlite"
    shutil.copy(db, copy)
    with contextlib.closing(sqlite3.connect(copy)) as connection, connection:
        connection.execute("DELETE FROM positions")
    async with reference_crm(settings, copy, group=f"{settings.topic_prefix}.reference-crm-replay") as replay:
        await settled(replay)
    assert sorted(dump(copy)) == sorted(before)
    db = copy
    assert len(await topic_records(settings, links_topic)) == LINKS
    assert sql(db, "SELECT * FROM skipped") == []
    assert not scene.problems, "external ids:\n" + "\n".join(scene.problems)
    await every_record_keeps_the_contract(settings)


async def every_record_keeps_the_contract(settings: Settings) -> None:
    """Every record this mission left on every topic, read as a CRM reads it, keeps the contract."""
    audit = await audit_topics(settings)
    assert not audit.problems, f"{len(audit.problems)} of {audit.records} records break the contract:\n" + "\n".join(audit.problems[:30])
    expected = {
        "mission.planned.v1",
        "signup.submitted.v1",
        "signup.updated.v1",
        "erasure.requested.v1",
        "company.registered.v1",
        "company.updated.v1",
        "company.erased.v1",
        "contact.recorded.v1",
        "tombstone:registration.contacts",
        "enrollment.confirmed.v1",
        "enrollment.cancelled.v1",
        "matches.proposed.v1",
        "meeting.scheduled.v1",
        "meeting.rescheduled.v1",
        "agenda.published.v1",
        "notification.sent.v1",
        "company.external_id_set.v1",
        "enrollment.external_id_set.v1",
        "meeting.external_id_set.v1",
        "followup.due.v1",
    }
    assert expected <= set(audit.seen), f"never seen: {sorted(expected - set(audit.seen))}"
