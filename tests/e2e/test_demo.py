"""`outgoing demo`, small, against the real broker and database with the services as processes.

What the summary prints must be what the system recorded: the events on the topics, the
services' own collections, and the .eml files the local SMTP server saved.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console

from deploy.local import infra
from outgoing_cli.agenda import fold_meetings
from outgoing_cli.demo.population import generate
from outgoing_cli.demo.runner import SERVICES, DemoOptions, run_demo
from outgoing_cli.kafka_read import decode, read_topic, topic_sizes
from shared.contracts.matching import FollowUpDue, MatchingEvent
from shared.contracts.notifications import NotificationEvent, NotificationSentV2
from shared.contracts.registration import CompanyRegistered, RegistrationEvent, SignupRejected
from shared.contracts.topics import DEAD_LETTER_TOPICS, Topic, TopicNames
from shared.kafka import delete_topics
from shared.mongo import create_client
from shared.settings import Settings

pytestmark = pytest.mark.integration

SIZE = {"lombard": 10, "foreign": 12, "seed": 11}


@pytest.fixture
async def demo_settings(settings: Settings) -> AsyncIterator[Settings]:
    """An environment of the demo's own making, removed afterwards."""
    name = f"{settings.topic_prefix}demo"
    demo = settings.model_copy(update={"topic_prefix": name, "mongo_db": name, "topic_partitions": 3})
    yield demo
    await delete_topics(demo, TopicNames(name).all())
    client = create_client(demo)
    for service in SERVICES:
        await client.drop_database(demo.database_for(service))
    await client.close()


async def events(settings: Settings, topic: Topic, kind) -> list:
    decoded, _ = decode(await read_topic(settings, TopicNames(settings.topic_prefix)(topic)), kind)
    return list({e.id: e for e in decoded}.values())


@pytest.mark.timeout(900)
async def test_the_demo_summary_is_what_the_system_recorded(demo_settings: Settings, real_servers: infra.Config, tmp_path: Path) -> None:
    options = DemoOptions(
        **SIZE,
        max_meetings=2,
        time_limit_s=3.0,
        stage_timeout_s=300.0,
        environment=demo_settings.topic_prefix,
        drop_previous=False,
        run_dir=tmp_path / "run",
        mail_dir=tmp_path / "mail",
    )
    cfg = real_servers
    console = Console(record=True, width=120)
    summary = await asyncio.to_thread(run_demo, options, console, cfg)
    settings = demo_settings
    population = generate(options.seed, options.lombard, options.foreign, options.max_meetings)

    client = create_client(settings)
    registration, matching, notifications = (client[settings.database_for(service)] for service in SERVICES)
    try:
        # registrations: decisions, registered companies, rejections and their reasons
        registration_events = await events(settings, Topic.REGISTRATION_EVENTS, RegistrationEvent)
        decisions = await registration["signups"].find({}).to_list()
        assert summary.signups == len(decisions) == len(population.signups)
        registered = {e.data.company_id for e in registration_events if isinstance(e, CompanyRegistered)}
        assert summary.companies_registered == len(registered) == await registration["companies"].count_documents({})
        assert summary.companies_registered == len(population.lombard) + len(population.foreign) + sum(
            b.company_registered for b in population.bad
        )
        rejected = [e for e in registration_events if isinstance(e, SignupRejected)]
        assert summary.signups_rejected == len(rejected) == sum(1 for d in decisions if d["outcome"] != "accepted") == len(population.bad)
        assert summary.rejection_reasons == {code: 1 for bad in population.bad for code in bad.reasons}

        # meetings per mission: the folded events, matching's agenda, the summary
        matching_events = await events(settings, Topic.MATCHING_EVENTS, MatchingEvent)
        on_topic = fold_meetings(matching_events)
        states = {s["_id"]: s for s in await matching["mission_states"].find({}).to_list()}
        for mission in population.missions:
            stored = sum(1 for m in states[mission.mission_id]["agenda"].values() if m["active"])
            assert (
                summary.meetings[mission.mission_id] == stored == sum(1 for m in on_topic.values() if m.mission_id == mission.mission_id)
            ), mission.mission_id
        assert summary.meetings_total > 0
        assert summary.followups_due == len([e for e in matching_events if isinstance(e, FollowUpDue)]) == 3 * summary.meetings_total
        assert summary.followup_answers == sum(len(s.get("followup_answers") or {}) for s in states.values()) > 0

        # e-mails: expected = sent events = delivery log = files saved
        sent = {
            e.data.notification_id
            for e in await events(settings, Topic.NOTIFICATION_EVENTS, NotificationEvent)
            if isinstance(e, NotificationSentV2)
        }
        files = sorted((tmp_path / "mail").glob("*.eml"))
        assert summary.emails_sent + summary.emails_superseded == summary.emails_expected
        assert summary.emails_sent == len(sent) == len(files)
        assert len(sent) == await notifications["deliveries"].count_documents({"state": "sent"})
        assert summary.emails_by_kind["meeting_invitation"] == 2 * summary.meetings_total
        assert summary.emails_by_kind.get("reminder", 0) == 0  # the 2020 meetings are past
        invitation = next(f for f in files if "-meeting_invitation-" in f.name)
        assert b"text/calendar" in invitation.read_bytes() and b"invite.ics" in invitation.read_bytes()
        assert summary.warnings == []
        assert summary.emails_by_kind["session_invitation"] == sum(
            len(d["invitees"]) for d in await registration["sessions"].find({}).to_list()
        )

        # the programme: one webinar per market, the requirement, the KPIs and the report, as the stores hold them
        programme, sessions = summary.programme, await registration["sessions"].find({}).to_list()
        assert programme.problem == "" and programme.sessions["planned"] == len(sessions) == len(population.missions)
        assert programme.sessions["attended"] == sum(sum(1 for came in d["attendance"].values() if came) for d in sessions) > 0
        uk = states["uk-2020"]
        oriented = {cid for cid, p in uk["participants"].items() if p.get("oriented_in")}
        assert {m["lombard_id"] for m in uk["agenda"].values() if m["active"]} <= oriented, "UK requires its webinar"
        involved = {cid for s in states.values() for cid, p in s["participants"].items() if p.get("status") == "confirmed"}
        assert programme.kpis == [programme.kpis[0]] and f"{len(involved)} companies involved" in programme.kpis[0]
        assert f"{len(population.missions)} missions in {len(population.missions)} markets" in programme.kpis[0]
        assert programme.report is not None and programme.report.read_text().count("<svg") == 3

        # nothing dead-lettered, nothing left running
        names = TopicNames(settings.topic_prefix)
        assert set((await topic_sizes(settings, [names(t) for t in DEAD_LETTER_TOPICS])).values()) == {0}
        demo_cfg = dataclasses.replace(cfg, run_dir=tmp_path / "run")
        assert all(infra.running_pid(demo_cfg, service) is None for service in SERVICES)
        printed = console.export_text()
        assert f"{summary.emails_sent} sent" in printed and f"{summary.meetings_total} meetings scheduled" in printed
    finally:
        await client.close()
