"""Erasure, end to end: a firm goes through the whole flow, is erased, and then its e-mail,
phone and contact name are searched for in every database and on every topic.

Found only where a documented retention bound applies (docs/security.md): the signup
forms, registration's command topic and the dead letters, each kept at most
PERSONAL_DATA_RETENTION_MS. The compacted contacts topic is searched after compaction.
The firm then signs up again, and everything works as for a new one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.contracts.matching import ScheduleRequest, ScheduleRequested
from shared.contracts.registration import CompanyRef, ErasureRequest, ErasureRequested
from shared.contracts.topics import DEAD_LETTER_TOPICS, Topic
from shared.kafka import PERSONAL_DATA_RETENTION_MS, admin_client, topic_config
from shared.settings import Settings
from tests.e2e.test_mission_flow import MISSION, SIGNED_UP_AT, Clock, Mission, three_services
from tests.factories import foreign, lombard, mission_planned, signup, valid_partita_iva
from tests.smtp_sink import SmtpSink
from tests.support import eventually, topic_records

pytestmark = pytest.mark.integration

NAME, EMAIL, PHONE = "Søren Ørsted-Bianchi", "soren.orsted@orsted-design.example", "+39 02 8765 4321"
BOUNDED = {Topic.SIGNUP_FORMS, Topic.REGISTRATION_COMMANDS, *DEAD_LETTER_TOPICS}
"""Topics that keep what was sent to them for their retention only: what an erasure cannot reach."""


def traces(blob: str) -> list[str]:
    folded = blob.casefold()
    digits = "".join(c for c in blob if c.isdigit())
    found = [what for what in (NAME, EMAIL) if what.casefold() in folded]
    return found + (["phone"] if "390287654321" in digits else [])


async def test_an_erased_firm_leaves_no_trace_but_where_retention_bounds_it_and_can_sign_up_again(settings: Settings) -> None:
    clock = Clock(SIGNED_UP_AT)
    firm = lombard(
        company_name="Ørsted Design S.r.l.",
        partita_iva=valid_partita_iva("0246813579"),
        sector="arredo_design",
        contact={"name": NAME, "email": EMAIL, "phone": PHONE, "preferred_language": "it"},
        missions=[MISSION.mission_id],
    )
    partner = foreign(sectors=["arredo_design"], missions=[MISSION.mission_id])
    with SmtpSink() as sink:
        settings = settings.model_copy(update={"smtp_port": sink.port, "schedule_time_limit_s": 5.0, "reminder_offsets_s": [86400.0]})
        async with three_services(settings, clock) as broker:
            flow = Mission(settings, broker, sink, clock)
            await flow.send(Topic.MISSIONS, mission_planned(MISSION))
            for service in ("registration", "matching", "notifications"):
                await eventually(lambda service=service: flow.db(service)["missions"].find_one({"_id": MISSION.mission_id}), 30)
            await broker.publish(
                json.dumps({"type": "signup.submitted.v1", "contact": EMAIL, "name": NAME}).encode(), flow.topics(Topic.SIGNUP_FORMS)
            )
            for applicant in (firm, partner):
                await flow.send(Topic.SIGNUP_FORMS, signup(applicant, time=SIGNED_UP_AT))
            registered = await flow.wait_events(Topic.REGISTRATION_EVENTS, "company.registered.v1", 2)
            company_id = next(e["data"]["company_id"] for e in registered if e["data"]["company_name"] == firm.company_name)
            await flow.mail(EMAIL, "Iscrizione confermata")
            order = ScheduleRequest(mission_id=MISSION.mission_id, operator="Giulia", time_limit_s=5)
            await flow.send(Topic.OPERATOR_COMMANDS, ScheduleRequested.new(source="operators", subject=MISSION.mission_id, data=order))
            await flow.mail(EMAIL, "Incontro B2B")
            clock.now = datetime(2027, 3, 24, tzinfo=UTC)
            await flow.mail(EMAIL, "L'incontro con")

            erase = ErasureRequest(company=CompanyRef(company_id=company_id), requested_by="dpo@agency.example")
            await flow.send(
                Topic.SIGNUP_FORMS, ErasureRequested.new(source="forms", subject="erase", data=erase, time=SIGNED_UP_AT + timedelta(days=1))
            )
            await flow.wait_events(Topic.REGISTRATION_EVENTS, "company.erased.v1", 1)
            await eventually(lambda: flow.db("notifications")["erasures"].find_one({"_id": company_id}), 30)
            # A signup dead-lettered before the erasure and replayed after it (`outgoing dlq replay`) brings nothing back.
            late = signup(firm, time=SIGNED_UP_AT + timedelta(hours=12))
            await flow.send(Topic.SIGNUP_FORMS, late)
            await eventually(lambda: flow.db("registration")["signups"].find_one({"_id": str(late.id)}), 60)
            await eventually(lambda: _nothing_in_the_databases(flow), 60)
            await _compact_contacts(flow)
            try:  # the log cleaner takes its turn among the tests' other compacted topics
                await eventually(lambda: _only_where_retention_bounds_it(flow), 180, interval=2.0)
            except TimeoutError:
                raise AssertionError(f"left on the topics: {await _left_on_topics(flow)}") from None
            await _bounded_topics_keep_a_week_at_most(flow)

            again = signup(firm, time=SIGNED_UP_AT + timedelta(days=7))  # after the erasure, before the mission's deadline
            await flow.send(Topic.SIGNUP_FORMS, again)
            await flow.wait_events(Topic.REGISTRATION_EVENTS, "company.registered.v1", 3)
            welcome_back = (await flow.mail(EMAIL, "Iscrizione confermata", count=2))[1]
            assert "India" in str(welcome_back["Subject"]), "a firm erased and signed up again gets e-mail again"
            await flow.client.close()


async def _nothing_in_the_databases(flow: Mission) -> bool:
    for service in ("registration", "matching", "notifications"):
        db = flow.db(service)
        for collection in await db.list_collection_names():
            found = traces(json.dumps(await db[collection].find({}).to_list(), default=str, ensure_ascii=False))
            if found:
                return False
    return True


async def _compact_contacts(flow: Mission) -> None:
    """Closes the contacts topic's segments so the log cleaner compacts them now rather than within the day
    its config allows. By size: the records carry the events' times, 2027 here, so time cannot roll them."""
    name = flow.topics(Topic.CONTACTS)
    # AlterConfigs replaces a topic's whole configuration: the topic's own, with smaller segments.
    config = topic_config(Topic.CONTACTS, flow.settings.topic_replication) | {"segment.bytes": "4096"}
    async with admin_client(flow.settings) as admin:
        [altered] = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, config)])
    assert altered.resources[0][0] == 0, altered
    for partition in range(flow.settings.topic_partitions):
        for n in range(3):
            await flow.broker.publish(None, name, key=f"roll-{partition}-{n}-".encode().ljust(2000, b"x"), partition=partition)


async def _only_where_retention_bounds_it(flow: Mission) -> bool:
    return not await _left_on_topics(flow)


async def _left_on_topics(flow: Mission) -> list[tuple[str, int, list[str]]]:
    left: list[tuple[str, int, list[str]]] = []
    for topic in (t for t in Topic if t not in BOUNDED):
        records = await topic_records(flow.settings, flow.topics(topic))
        found = [(topic.value, r.offset, traces(r.value.decode(errors="replace"))) for r in records if r.value is not None]
        left.extend(f for f in found if f[2])
    return left


async def _bounded_topics_keep_a_week_at_most(flow: Mission) -> None:
    names = [flow.topics(t) for t in BOUNDED]
    async with admin_client(flow.settings) as admin:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    retention: dict[str, int] = {}
    for response in described:
        for resource in response.resources:
            retention[resource[3]] = next(int(c[1]) for c in resource[4] if c[0] == "retention.ms")
    assert retention == dict.fromkeys(names, PERSONAL_DATA_RETENTION_MS)
    found = [
        t
        for t in BOUNDED
        if any(r.value and traces(r.value.decode(errors="replace")) for r in await topic_records(flow.settings, flow.topics(t)))
    ]
    assert Topic.SIGNUP_FORMS in found, "the forms still hold the signup, for a week at most: the bound is real, not vacuous"
