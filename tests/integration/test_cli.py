"""The operator's `outgoing` commands against the real Kafka broker, one topic prefix per test."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from typer.testing import CliRunner, Result

from outgoing_cli.dlq import REPLAYED_FROM
from outgoing_cli.kafka_read import GroupLag, consumer_group_lags, topic_sizes
from outgoing_cli.main import app
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.envelope import Envelope
from shared.contracts.matching import ScheduleRequest, ScheduleRequested
from shared.contracts.topics import Topic, TopicNames
from shared.kafka import delete_topics
from shared.messaging import (
    DLQ_ERRORS,
    DLQ_REASON,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TOPIC,
    DLQ_TIME,
    GROUP_TOPIC_SEPARATOR,
)
from shared.settings import Settings
from tests.factories import foreign, lombard, mission, signup
from tests.support import read_topic
from tests.unit.cli.builders import (
    LOMBARD,
    OTHER,
    PARTNER,
    agenda_published,
    cancelled,
    meeting,
    registered,
    rescheduled,
    scheduled,
    utc,
)

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def wide_consoles() -> None:
    """The CLI's consoles are made at import, when COLUMNS may not be set yet (e.g. in an
    xdist worker that imported them while collecting): give them the width COLUMNS says."""
    from outgoing_cli import console

    console.out.width = console.err.width = 250


async def invoke(settings: Settings, *args: str) -> Result:
    """Run the command as an operator would, in a thread: it runs its own event loop."""
    env = {
        "OUTGOING_TOPIC_PREFIX": settings.topic_prefix,
        "OUTGOING_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "OUTGOING_MONGO_URL": settings.mongo_url,
        "OUTGOING_MONGO_DB": settings.mongo_db,
        "COLUMNS": "250",
    }
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result.stdout


def row(output: str, *needles: str) -> list[str]:
    """The cells of the one table row containing every needle."""
    [line] = [line for line in output.splitlines() if all(n in line for n in needles)]
    return [cell.strip() for cell in line.split("│")[1:-1]]


async def send(
    settings: Settings, topic: Topic, items: list[Envelope[Any]] | list[tuple[bytes, bytes, list[tuple[str, bytes]], int | None]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for item in items:
            if isinstance(item, Envelope):
                await producer.send_and_wait(TopicNames(settings.topic_prefix)(topic), item.to_bytes(), key=item.key)
            else:
                value, key, headers, partition = item
                await producer.send_and_wait(TopicNames(settings.topic_prefix)(topic), value, key=key, headers=headers, partition=partition)
    finally:
        await producer.stop()


# ---------------------------------------------------------------- emit


async def test_emit_publishes_every_line_keyed_by_subject(settings: Settings, tmp_path) -> None:
    names = TopicNames(settings.topic_prefix)
    events = [
        signup(lombard()),
        signup(foreign()),
        ScheduleRequested.new(source="ops", subject="india-2020", data=ScheduleRequest(mission_id="india-2020", operator="Anna")),
    ]
    lines = [e.model_dump_json() for e in events]
    path = tmp_path / "forms.jsonl"
    path.write_text("\n".join(lines) + "\n")

    output = ok(await invoke(settings, "emit", str(path)))

    assert "published 3 events" in output
    assert row(output, names(Topic.SIGNUP_FORMS)) == [names(Topic.SIGNUP_FORMS), "2"]
    signups = await read_topic(settings, names(Topic.SIGNUP_FORMS), 2)
    assert sorted((r.key, r.value) for r in signups) == sorted(
        (e.key, line.encode()) for e, line in zip(events[:2], lines[:2], strict=True)
    )
    assert {dict(r.headers)["x-event-id"].decode() for r in signups} == {str(e.id) for e in events[:2]}
    [command] = await read_topic(settings, names(Topic.OPERATOR_COMMANDS), 1)
    assert (command.key, json.loads(command.value)["id"]) == (b"india-2020", str(events[2].id))


async def test_emit_with_one_bad_line_publishes_nothing(settings: Settings, tmp_path) -> None:
    broken = json.loads(signup(foreign()).model_dump_json())
    del broken["data"]["applicant"]["timezone"]
    path = tmp_path / "forms.jsonl"
    path.write_text("\n".join([signup(lombard()).model_dump_json(), json.dumps(broken), signup(foreign()).model_dump_json()]) + "\n")

    result = await invoke(settings, "emit", str(path))

    assert result.exit_code == 1
    assert "line 2: signup.submitted.v1 does not match its contract: data.applicant.foreign.timezone: Field required" in result.stderr
    assert "nothing was published" in result.stderr
    names = TopicNames(settings.topic_prefix)
    assert await topic_sizes(settings, [names(Topic.SIGNUP_FORMS)]) == {names(Topic.SIGNUP_FORMS): 0}


# ---------------------------------------------------------------- topics and missions


async def test_topics_create_lists_what_it_created_and_what_was_there(settings: Settings, unique_name: str) -> None:
    output = ok(await invoke(settings, "topics", "create"))
    assert f"0 created, {len(Topic)} already there" in output
    assert row(output, f"{settings.topic_prefix}.missions.catalogue") == [
        f"{settings.topic_prefix}.missions.catalogue",
        "compact",
        "already there",
    ]

    fresh = settings.model_copy(update={"topic_prefix": f"{unique_name}x"})
    try:
        output = ok(await invoke(fresh, "topics", "create", "--partitions", "1"))
        assert f"{len(Topic)} created, 0 already there" in output
        assert row(output, f"{fresh.topic_prefix}.forms.signups")[-1] == "created"
    finally:
        await delete_topics(fresh, TopicNames(fresh.topic_prefix).all())


async def test_plan_the_2020_edition_then_list_the_catalogue(settings: Settings, tmp_path) -> None:
    names = TopicNames(settings.topic_prefix)
    ok(await invoke(settings, "mission", "plan", "--edition-2020"))
    records = await read_topic(settings, names(Topic.MISSIONS), 5)
    assert sorted(r.key for r in records) == sorted(m.mission_id.encode() for m in MISSIONS_2020)

    cancelled_uk = json.loads(mission("uk-2020").model_dump_json()) | {"status": "cancelled"}
    path = tmp_path / "uk.json"
    path.write_text(json.dumps(cancelled_uk))
    ok(await invoke(settings, "mission", "plan", "--file", str(path)))

    output = ok(await invoke(settings, "mission", "list"))
    assert "5 missions" in output
    for m in MISSIONS_2020:
        assert m.mission_id in output
    india = row(output, "india-2020")
    assert india[1] == "India (IN)" and "Asia/Kolkata" in india[4] and india[-1] == "planned"
    assert row(output, "uk-2020")[-1] == "cancelled"
    assert row(output, "canada-2020")[7] == "2020-11-02 23:59 CET"


async def test_schedule_publishes_the_operators_command_keyed_by_mission(settings: Settings) -> None:
    names = TopicNames(settings.topic_prefix)
    refused = await invoke(settings, "mission", "schedule", "india-2020", "--operator", "Anna Bianchi")
    assert refused.exit_code == 1 and "not in the catalogue" in refused.stderr

    ok(await invoke(settings, "mission", "plan", "--edition-2020"))
    ok(await invoke(settings, "mission", "schedule", "india-2020", "--operator", "Anna Bianchi", "--time-limit", "12", "--fairness", "5"))

    [record] = await read_topic(settings, names(Topic.OPERATOR_COMMANDS), 1)
    event = ScheduleRequested.model_validate_json(record.value)
    assert record.key == b"india-2020"
    assert event.data == ScheduleRequest(mission_id="india-2020", operator="Anna Bianchi", time_limit_s=12.0, fairness=5)


# ---------------------------------------------------------------- agenda


async def test_agenda_folds_meeting_events_and_shows_local_times(settings: Settings) -> None:
    m1 = meeting("canada-2020:m-0001", utc(2020, 10, 30, 14, 0))
    m1_moved = meeting(m1.meeting_id, utc(2020, 11, 2, 15, 0), sequence=1)
    m2 = meeting("canada-2020:m-0002", utc(2020, 11, 2, 14, 0), lombard=OTHER)
    m3 = meeting("canada-2020:m-0003", utc(2020, 11, 3, 14, 0))
    elsewhere = meeting("india-2020:m-0001", utc(2020, 10, 20, 9, 0), mission="india-2020", partner_zone="Asia/Kolkata")
    await send(
        settings,
        Topic.MATCHING_EVENTS,
        [
            scheduled(m1),
            scheduled(m2),
            scheduled(m3),
            scheduled(elsewhere),
            rescheduled(m1_moved, m1),
            cancelled(m3, 1),
            agenda_published(1, {LOMBARD: 4, OTHER: 0}),
            agenda_published(2, {LOMBARD: 1, OTHER: 0, PARTNER: 2}),
        ],
    )
    await send(
        settings,
        Topic.REGISTRATION_EVENTS,
        [registered(LOMBARD, "Rossi Meccanica S.r.l."), registered(PARTNER, "Toronto Tools Inc.", role="foreign")],
    )

    output = ok(await invoke(settings, "mission", "agenda", "canada-2020"))

    assert "version 2" in output and "2 meetings" in output
    assert row(output, m1.meeting_id) == [
        f"Rossi Meccanica S.r.l. ({LOMBARD})",
        "Mon 2020-11-02 16:00–16:30 CET",
        f"Toronto Tools Inc. ({PARTNER})",
        "Mon 2020-11-02 10:00–10:30 EST",
        m1.meeting_id,
    ]
    assert row(output, m2.meeting_id)[:2] == [OTHER, "Mon 2020-11-02 15:00–15:30 CET"]
    assert m3.meeting_id not in output and elsewhere.meeting_id not in output
    breaks = output.split("breaks per participant")[1]
    assert [row(breaks, c)[-1] for c in (LOMBARD, OTHER, PARTNER)] == ["1", "0", "2"]

    output = ok(await invoke(settings, "mission", "agenda", "canada-2020", "--company", OTHER, "--tz", "Asia/Kolkata"))
    assert row(output, m2.meeting_id) == ["Mon 2020-11-02 19:30–20:00 IST", OTHER, f"Toronto Tools Inc. ({PARTNER})", m2.meeting_id]
    assert m1.meeting_id not in output and "1 meetings" in output


# ---------------------------------------------------------------- dead letters and status


def dead_letter_headers(settings: Settings, source_offset: int) -> list[tuple[str, bytes]]:
    return [
        (DLQ_REASON, b"invalid"),
        (DLQ_ERRORS, b'[{"loc": "data.applicant", "type": "missing", "msg": "Field required"}]'),
        (DLQ_SOURCE_TOPIC, TopicNames(settings.topic_prefix)(Topic.SIGNUP_FORMS).encode()),
        (DLQ_SOURCE_PARTITION, b"0"),
        (DLQ_SOURCE_OFFSET, str(source_offset).encode()),
        (DLQ_TIME, b"2020-09-15T10:00:05+00:00"),
    ]


async def test_dlq_list_show_and_replay(settings: Settings) -> None:
    names = TopicNames(settings.topic_prefix)
    personal = signup(lombard()).to_bytes()
    garbage = b"{not json, call +39 02 1234 5678"
    await send(
        settings,
        Topic.REGISTRATION_DLQ,
        [
            (personal, b"Rossi Meccanica S.r.l.", dead_letter_headers(settings, 7), 1),
            (garbage, b"raw", dead_letter_headers(settings, 8), 1),
        ],
    )

    listed = ok(await invoke(settings, "dlq", "list"))
    assert row(listed, names(Topic.REGISTRATION_DLQ))[-1] == "2"
    assert row(listed, names(Topic.MATCHING_DLQ))[-1] == "0"
    assert row(listed, "signup.submitted.v1")[:6] == [
        "registration",
        "1",
        "0",
        "invalid",
        f"{names(Topic.SIGNUP_FORMS)}[0]@7",
        "signup.submitted.v1",
    ]

    shown = ok(await invoke(settings, "dlq", "show", "registration", "0", "--partition", "1"))
    assert f"value ({len(personal)} bytes, personal data redacted" in shown
    assert "mario.rossi@rossi.example" not in shown and "Mario Rossi" not in shown
    assert row(shown, DLQ_SOURCE_OFFSET)[1] == "7" and "Field required" in shown
    revealed = ok(await invoke(settings, "dlq", "show", "registration", "1", "--partition", "1", "--reveal"))
    assert garbage.decode() in revealed
    missing = await invoke(settings, "dlq", "show", "registration", "5", "--partition", "1")
    assert missing.exit_code == 1 and "no record at offset 5 of partition 1" in missing.stderr

    replayed = ok(await invoke(settings, "dlq", "replay", "registration", "--offset", "0", "--partition", "1"))
    assert "1 records replayed" in replayed
    [back] = await read_topic(settings, names(Topic.SIGNUP_FORMS), 1)
    assert (back.key, back.value) == (b"Rossi Meccanica S.r.l.", personal)
    assert dict(back.headers)[REPLAYED_FROM] == f"{names(Topic.REGISTRATION_DLQ)}:1:0".encode()

    nothing = await invoke(settings, "dlq", "replay", "registration", "--offset", "0", "--offset", "9", "--partition", "1")
    assert nothing.exit_code == 1 and "1:9" in nothing.stderr and "nothing was replayed" in nothing.stderr
    ok(await invoke(settings, "dlq", "replay", "registration", "--all"))
    assert (await topic_sizes(settings, [names(Topic.SIGNUP_FORMS)]))[names(Topic.SIGNUP_FORMS)] == 3


async def test_status_shows_consumer_group_lag_and_dlq_sizes(settings: Settings) -> None:
    names = TopicNames(settings.topic_prefix)
    topic = names(Topic.SIGNUP_FORMS)
    group = f"{settings.topic_prefix}.tester{GROUP_TOPIC_SEPARATOR}{topic}"
    partition = 1
    await send(settings, Topic.SIGNUP_FORMS, [(f"record {n}".encode(), b"same-key", [], partition) for n in range(5)])
    await send(settings, Topic.MATCHING_DLQ, [(b"{}", b"k", dead_letter_headers(settings, 0), None)])

    committer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign([TopicPartition(topic, partition)])
        await committer.commit({TopicPartition(topic, partition): 2})
    finally:
        await committer.stop()

    assert await consumer_group_lags(settings) == [GroupLag(group, (topic,), 3)]
    output = ok(await invoke(settings, "dev", "status"))
    assert row(output, group) == [group, topic, "3"]
    assert row(output, names(Topic.MATCHING_DLQ)) == [names(Topic.MATCHING_DLQ), "1"]
    assert row(output, names(Topic.REGISTRATION_DLQ)) == [names(Topic.REGISTRATION_DLQ), "0"]
    assert row(output, "kafka")[1].endswith("answering")
