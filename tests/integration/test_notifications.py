"""The notifications service against the real Kafka, MongoDB-wire server and an SMTP server started here.

Time is a controlled clock: reminders and retries become due when a test advances it,
never by waiting. Messages are parsed back from what the SMTP server received.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from services.notifications.app import create_app
from services.notifications.store import CONTACTS, DELIVERIES, TIMERS
from services.notifications.use_cases import DeliveryPolicy
from shared.contracts.envelope import Envelope
from shared.contracts.matching import (
    FollowUp,
    FollowUpDue,
    MeetingCancellation,
    MeetingCancelled,
    MeetingMove,
    MeetingRescheduled,
    MeetingScheduled,
)
from shared.contracts.registration import (
    CompanyErased,
    CompanyRegistered,
    Enrollment,
    EnrollmentConfirmed,
    Erasure,
    Rejection,
    SignupRejected,
    Violation,
)
from shared.contracts.topics import Topic, TopicNames
from shared.links import link_keys
from shared.messaging import DLQ_REASON, publish_event
from shared.service import Runtime
from shared.settings import Settings
from tests.factories import mission, mission_planned
from tests.mail_factories import FOREIGN, FOREIGN_MAIL, LOMBARD, LOMBARD_MAIL, START, T0, FakeClock, contact, meeting, profile
from tests.smtp_sink import SmtpSink
from tests.support import decoded, eventually, running, topic_records

pytestmark = pytest.mark.integration


async def _consumed(service: Harness, event_id: Any) -> bool:
    """The contacts consumer has committed past ``event_id``'s record."""
    from shared.kafka import admin_client
    from shared.messaging import GROUP_TOPIC_SEPARATOR

    records = await topic_records(service.settings, service.topics(Topic.CONTACTS))
    [record] = [r for r in records if r.value and json.loads(r.value)["id"] == str(event_id)]
    async with admin_client(service.settings) as admin:
        group = f"{service.runtime.group_id}{GROUP_TOPIC_SEPARATOR}{service.topics(Topic.CONTACTS)}"
        offsets = await admin.list_consumer_group_offsets(group)
    committed = next((o.offset for tp, o in offsets.items() if tp.partition == record.partition), -1)
    return committed > record.offset


async def _true(value: bool) -> bool:
    return value


class Harness:
    def __init__(self, settings: Settings, runtime: Runtime, sink: SmtpSink, clock: FakeClock) -> None:
        self.settings, self.runtime, self.sink, self.clock = settings, runtime, sink, clock
        self.topics = TopicNames(settings.topic_prefix)
        self.db = runtime.db

    async def send(self, topic: Topic, event: Envelope[Any]) -> None:
        await publish_event(self.runtime.broker, self.topics(topic), event)

    async def send_raw(self, topic: Topic, value: bytes | None, key: bytes) -> None:
        await self.runtime.broker.publish(value, self.topics(topic), key=key)

    async def outcomes(self) -> list[dict[str, Any]]:
        return decoded(await topic_records(self.settings, self.topics(Topic.NOTIFICATION_EVENTS)))

    async def wait_outcomes(self, count: int, event_type: str = "notification.sent.v1", timeout: float = 40) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = [e for e in await self.outcomes() if e["type"] == event_type]
            return found if len(found) >= count else None

        return await eventually(enough, timeout, interval=0.5)

    async def wait_db(self, collection: str, query: dict[str, Any], count: int = 1) -> None:
        async def enough() -> bool:
            return await self.db[collection].count_documents(query) >= count

        await eventually(enough, 40)

    async def settle_runner(self) -> None:
        """Two more complete polls of the timer runner: one began after this call, so whatever
        was due by now has been fired (or deliberately held back)."""
        runner = self.runtime.components["timer_runner"]
        target = runner.polls + 2
        await eventually(lambda: _true(runner.polls >= target), 30, interval=0.05)

    async def setup_companies(
        self, lombard_name: str = "Rossi Meccanica S.r.l.", foreign_name: str = "Mumbai Machine Tools Pvt Ltd"
    ) -> None:
        await self.send(Topic.MISSIONS, mission_planned(mission("india-2020")))
        for company_profile in (profile(LOMBARD, "lombard", lombard_name), profile(FOREIGN, "foreign", foreign_name)):
            await self.send(
                Topic.REGISTRATION_EVENTS,
                CompanyRegistered.new(
                    source="registration", subject=company_profile.company_id, data=company_profile, time=T0 - timedelta(days=30)
                ),
            )
        await self.send(Topic.CONTACTS, contact(LOMBARD, "Mario Rossi", LOMBARD_MAIL, "it"))
        await self.send(Topic.CONTACTS, contact(FOREIGN, "Priya Shah", FOREIGN_MAIL, "en"))
        await self.wait_db(CONTACTS, {}, 2)
        await self.wait_db("companies", {}, 2)
        await self.wait_db("missions", {}, 1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def sink() -> Any:
    with SmtpSink() as running_sink:
        yield running_sink


@pytest.fixture
def mail_settings(settings: Settings, sink: SmtpSink) -> Settings:
    return settings.model_copy(update={"smtp_port": sink.port, "smtp_timeout_s": 5.0, "reminder_offsets_s": [86400.0, 3600.0]})


POLICY = DeliveryPolicy(wait_attempts=4, wait_backoff_s=(60.0, 60.0), send_attempts=3, send_backoff_s=(30.0, 30.0))


@pytest.fixture
async def service(mail_settings: Settings, sink: SmtpSink, clock: FakeClock) -> AsyncIterator[Harness]:
    app, runtime = create_app(mail_settings, configure_logs=False, clock=clock, poll_interval_s=0.2, policy=POLICY)
    async with running(app):
        yield Harness(mail_settings, runtime, sink, clock)


def calendar_of(message: EmailMessage) -> tuple[str, Calendar]:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, "exactly one text/calendar part"
    part = parts[0]
    return part.get_param("method"), Calendar.from_ical(part.get_content())


def bodies(message: EmailMessage) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def event_of(calendar: Calendar) -> Any:
    [event] = calendar.walk("VEVENT")
    return event


# ---------------------------------------------------------------- meetings


async def test_invitation_update_and_cancellation_replace_one_calendar_entry(service: Harness) -> None:
    await service.setup_companies()
    scheduled = MeetingScheduled.new(source="matching", subject="india-2020", data=meeting(), time=T0)
    await service.send(Topic.MATCHING_EVENTS, scheduled)
    await service.sink.wait_for(2)

    [to_lombard] = service.sink.to(LOMBARD_MAIL)
    [to_foreign] = service.sink.to(FOREIGN_MAIL)
    assert to_lombard["To"].addresses[0].addr_spec == LOMBARD_MAIL and to_lombard["To"].addresses[0].display_name == "Mario Rossi"
    assert to_lombard["From"].addresses[0].addr_spec == "missions@outgoing.example"
    assert (
        to_lombard["Subject"]
        == "Incontro B2B con Mumbai Machine Tools Pvt Ltd: lunedì 26 ottobre 2020, 10:00–10:30 (Europe/Rome, CET, UTC+01:00)"
    )
    assert (
        to_foreign["Subject"]
        == "B2B meeting with Rossi Meccanica S.r.l.: Monday 26 October 2020, 14:30–15:00 (Asia/Kolkata, IST, UTC+05:30)"
    )
    assert to_lombard["Content-Language"] == "it" and to_foreign["Content-Language"] == "en"
    assert to_lombard.get_content_type() == "multipart/mixed"
    text, html = bodies(to_lombard)
    assert (
        "Gentile Mario Rossi" in text
        and "10:00–10:30 (Europe/Rome" in text
        and "https://meet.outgoing.example/room/india-2020-m0001" in text
    )
    assert "2020-10-26 09:00–09:30 UTC" in text and "missione India" in text
    assert "<strong>Mumbai Machine Tools Pvt Ltd</strong>" in html
    foreign_text, _ = bodies(to_foreign)
    assert "Dear Priya Shah" in foreign_text and "14:30–15:00 (Asia/Kolkata" in foreign_text
    for message, partner_contact in ((to_lombard, ("Priya", FOREIGN_MAIL)), (to_foreign, ("Mario", LOMBARD_MAIL))):
        raw = message.as_string()
        assert all(personal not in raw for personal in partner_contact), "the partner's contact must never be shown"

    method, calendar = calendar_of(to_foreign)
    invite = event_of(calendar)
    assert method == "REQUEST" and calendar["METHOD"] == "REQUEST"
    assert str(invite["UID"]) == "india-2020-m0001@meetings.outgoing" and int(invite["SEQUENCE"]) == 0
    assert invite.decoded("DTSTART") == START and invite.decoded("DTEND") == START + timedelta(minutes=30)
    assert invite.decoded("DTSTART").astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:%M") == "14:30"
    assert str(invite["ORGANIZER"]) == "mailto:missions@outgoing.example"
    assert str(invite["ATTENDEE"]) == f"mailto:{FOREIGN_MAIL}" and invite["ATTENDEE"].params["CN"] == "Priya Shah"
    assert str(invite["STATUS"]) == "CONFIRMED" and str(invite["LOCATION"]) == "https://meet.outgoing.example/room/india-2020-m0001"

    moved_to = START + timedelta(days=1, hours=1)
    move = MeetingMove(
        meeting=meeting(moved_to, sequence=1), previous_start=START, previous_end=START + timedelta(minutes=30), reason="Partner travelling"
    )
    service.clock.advance(minutes=5)
    await service.send(
        Topic.MATCHING_EVENTS, MeetingRescheduled.new(source="matching", subject="india-2020", data=move, time=service.clock())
    )
    await service.sink.wait_for(4)
    update = service.sink.to(FOREIGN_MAIL)[1]
    method, calendar = calendar_of(update)
    updated = event_of(calendar)
    assert method == "REQUEST" and str(updated["UID"]) == str(invite["UID"]) and int(updated["SEQUENCE"]) == 1
    assert updated.decoded("DTSTART") == moved_to
    assert "Previous time: Monday 26 October 2020, 14:30–15:00" in bodies(update)[0] and "Partner travelling" in bodies(update)[0]
    assert service.sink.to(LOMBARD_MAIL)[1]["Subject"].startswith(
        "Incontro spostato: Mumbai Machine Tools Pvt Ltd, martedì 27 ottobre 2020, 11:00–11:30"
    )

    cancellation = MeetingCancellation(
        meeting_id="india-2020-m0001",
        mission_id="india-2020",
        participants=[LOMBARD, FOREIGN],
        start=moved_to,
        end=moved_to + timedelta(minutes=30),
        sequence=2,
        reason="Withdrawn",
    )
    service.clock.advance(minutes=5)
    await service.send(
        Topic.MATCHING_EVENTS, MeetingCancelled.new(source="matching", subject="india-2020", data=cancellation, time=service.clock())
    )
    await service.sink.wait_for(6)
    cancel = service.sink.to(LOMBARD_MAIL)[2]
    method, calendar = calendar_of(cancel)
    cancelled = event_of(calendar)
    assert method == "CANCEL" and calendar["METHOD"] == "CANCEL" and str(cancelled["STATUS"]) == "CANCELLED"
    assert str(cancelled["UID"]) == str(invite["UID"]) and int(cancelled["SEQUENCE"]) == 2
    assert "annullato" in bodies(cancel)[0]

    sent = await service.wait_outcomes(6)
    assert Counter(e["data"]["kind"] for e in sent) == {"meeting_invitation": 2, "meeting_update": 2, "meeting_cancellation": 2}
    raw_events = json.dumps(await service.outcomes())
    assert LOMBARD_MAIL not in raw_events and FOREIGN_MAIL not in raw_events and "Mario" not in raw_events
    assert {e["subject"] for e in sent} == {LOMBARD, FOREIGN}

    service.clock.advance(days=10)  # past every reminder time: the cancelled meeting's reminders never fire
    await service.settle_runner()
    assert len(service.sink.messages) == 6


async def test_reminders_fire_24h_and_1h_before_and_follow_a_move(service: Harness) -> None:
    await service.setup_companies()
    await service.send(Topic.MATCHING_EVENTS, MeetingScheduled.new(source="matching", subject="india-2020", data=meeting(), time=T0))
    await service.sink.wait_for(2)

    service.clock.now = START - timedelta(hours=24, seconds=1)
    await service.settle_runner()
    assert len(service.sink.messages) == 2, "no reminder before its time"
    service.clock.now = START - timedelta(hours=24)
    reminders = (await service.sink.wait_for(4))[2:]
    assert sorted(m["Subject"] for m in reminders) == [
        "Promemoria: incontro con Mumbai Machine Tools Pvt Ltd tra 24 ore",
        "Reminder: meeting with Rossi Meccanica S.r.l. in 24 hours",
    ]
    assert all(not [p for p in m.walk() if p.get_content_type() == "text/calendar"] for m in reminders), "reminders carry no calendar entry"

    moved_to = START + timedelta(days=2)
    move = MeetingMove(meeting=meeting(moved_to, sequence=1), previous_start=START, previous_end=START + timedelta(minutes=30), reason="")
    await service.send(
        Topic.MATCHING_EVENTS, MeetingRescheduled.new(source="matching", subject="india-2020", data=move, time=service.clock.now)
    )
    await service.sink.wait_for(6)  # the two updates
    service.clock.now = START - timedelta(hours=1)
    await service.settle_runner()
    assert len(service.sink.messages) == 6, "the old 1-hour reminder moved with the meeting"
    service.clock.now = moved_to - timedelta(hours=24)
    await service.sink.wait_for(8)
    service.clock.now = moved_to - timedelta(hours=1)
    messages = await service.sink.wait_for(10)
    assert sorted(m["Subject"] for m in messages[8:]) == [
        "Promemoria: incontro con Mumbai Machine Tools Pvt Ltd tra 1 ora",
        "Reminder: meeting with Rossi Meccanica S.r.l. in 1 hour",
    ]
    assert "Wednesday 28 October 2020, 14:30–15:00 (Asia/Kolkata" in bodies(service.sink.to(FOREIGN_MAIL)[-1])[0]
    service.clock.now = moved_to + timedelta(days=1)
    await service.settle_runner()
    assert len(service.sink.messages) == 10
    assert Counter(e["data"]["kind"] for e in await service.wait_outcomes(10)) == {
        "meeting_invitation": 2,
        "meeting_update": 2,
        "reminder": 6,
    }


async def test_followups_link_to_the_form_when_due(service: Harness) -> None:
    await service.setup_companies()
    due = START + timedelta(days=7)
    followup = FollowUp(
        meeting_id="india-2020-m0001",
        mission_id="india-2020",
        kind="satisfaction",
        participants=[LOMBARD, FOREIGN],
        meeting_start=START,
        meeting_end=START + timedelta(minutes=30),
        due_at=due,
    )
    await service.send(Topic.MATCHING_EVENTS, FollowUpDue.new(source="matching", subject="india-2020", data=followup, time=T0))
    await service.settle_runner()
    assert service.sink.messages == []
    service.clock.now = due
    await service.sink.wait_for(2)
    text, html = bodies(service.sink.to(LOMBARD_MAIL)[0])
    token = link_keys(service.settings).survey_token("india-2020-m0001", LOMBARD, "satisfaction")
    link = f"https://forms.outgoing.example/followup/india-2020-m0001/rossi-meccanica-0001/satisfaction?token={token}"
    assert link in text and f'href="{link}"' in html, "the link carries the token that lets the answer in"
    assert service.sink.to(FOREIGN_MAIL)[0]["Subject"] == "How was your meeting with Rossi Meccanica S.r.l.?"


# ---------------------------------------------------------------- registration outcomes, language, ordering


async def test_confirmation_and_rejection_in_each_language_even_when_the_contact_comes_later(service: Harness) -> None:
    await service.setup_companies()
    confirmed = EnrollmentConfirmed.new(
        source="registration",
        subject="india-2020",
        data=Enrollment(enrollment_id="e1", company_id=LOMBARD, mission_id="india-2020", role="lombard"),
        time=T0,
    )
    await service.send(Topic.REGISTRATION_EVENTS, confirmed)
    [confirmation] = await service.sink.wait_for(1)
    assert confirmation["Subject"] == "Iscrizione confermata: missione India"
    assert "Rossi Meccanica S.r.l." in bodies(confirmation)[0] and "lunedì 19 ottobre 2020" in bodies(confirmation)[0]

    late = "late-company-0003"
    violations = [Violation(code="site.not_in_lombardy", message_it="La sede non è in Lombardia", message_en="The site is not in Lombardy")]
    rejected = SignupRejected.new(
        source="registration",
        subject=late,
        data=Rejection(signup_id=uuid4(), company_id=late, role="lombard", violations=violations, preferred_language="it"),
        time=T0,
    )
    await service.send(Topic.REGISTRATION_EVENTS, rejected)
    await service.wait_db(TIMERS, {"_id": {"$regex": "^signup_rejection"}, "attempt": {"$gte": 1}})
    assert len(service.sink.messages) == 1, "no contact yet: it waits"
    # The contact chose English although the company is Lombard.
    await service.send(Topic.CONTACTS, contact(late, "Anna Neri", "anna@late.example", "it", chosen="en"))
    await service.wait_db(CONTACTS, {"_id": late})
    service.clock.advance(minutes=2)
    [rejection] = await service.sink.wait_for(1, address="anna@late.example")
    assert rejection["Subject"] == "Your application was not accepted"
    assert "- The site is not in Lombardy" in bodies(rejection)[0] and "Lombardia" not in bodies(rejection)[0]
    await service.wait_db(DELIVERIES, {"_id": {"$regex": "^signup_rejection"}, "state": "sent"})  # recorded just after the server accepted


async def test_a_recipient_never_known_is_reported_as_failed(service: Harness) -> None:
    await service.setup_companies()
    ghost = "ghost-company-0004"
    await service.send(
        Topic.REGISTRATION_EVENTS,
        EnrollmentConfirmed.new(
            source="registration",
            subject="india-2020",
            data=Enrollment(enrollment_id="e2", company_id=ghost, mission_id="india-2020", role="foreign"),
            time=T0,
        ),
    )
    for _ in range(POLICY.wait_attempts + 1):
        await service.settle_runner()
        service.clock.advance(minutes=2)
    [failed] = await service.wait_outcomes(1, "notification.failed.v1")
    assert failed["data"]["reason"] == "no_contact" and failed["data"]["company_id"] == ghost and failed["data"]["attempts"] == 0
    assert service.sink.messages == []


# ---------------------------------------------------------------- at most once


async def test_nothing_is_sent_twice_after_a_restart_and_redelivery(mail_settings: Settings, sink: SmtpSink, clock: FakeClock) -> None:
    scheduled = MeetingScheduled.new(source="matching", subject="india-2020", data=meeting(), time=T0)
    confirmed = EnrollmentConfirmed.new(
        source="registration",
        subject="india-2020",
        data=Enrollment(enrollment_id="e1", company_id=FOREIGN, mission_id="india-2020", role="foreign"),
        time=T0,
    )
    app, runtime = create_app(mail_settings, configure_logs=False, clock=clock, poll_interval_s=0.2, policy=POLICY)
    async with running(app):
        first = Harness(mail_settings, runtime, sink, clock)
        await first.setup_companies()
        await first.send(Topic.MATCHING_EVENTS, scheduled)
        await first.send(Topic.REGISTRATION_EVENTS, confirmed)
        await sink.wait_for(3)
        await first.wait_outcomes(3)

    fresh_group = mail_settings.model_copy(update={"instance_id": "second"})
    app, runtime = create_app(fresh_group, configure_logs=False, clock=clock, poll_interval_s=0.2, policy=POLICY)
    async with running(app):
        second = Harness(fresh_group, runtime, sink, clock)
        for _ in range(2):
            await second.send(Topic.MATCHING_EVENTS, scheduled)
            await second.send(Topic.REGISTRATION_EVENTS, confirmed)
        await second.send(
            Topic.REGISTRATION_EVENTS,
            EnrollmentConfirmed.new(
                source="registration",
                subject="india-2020",
                data=Enrollment(enrollment_id="e9", company_id=LOMBARD, mission_id="india-2020", role="lombard"),
                time=T0,
            ),
        )
        await sink.wait_for(4)  # the sentinel: everything sent before it was handled
        await second.settle_runner()
        assert len(sink.messages) == 4
        assert Counter(m["Subject"].split(":")[0] for m in sink.messages) == {
            "Incontro B2B con Mumbai Machine Tools Pvt Ltd": 1,
            "B2B meeting with Rossi Meccanica S.r.l.": 1,
            "Enrollment confirmed": 1,
            "Iscrizione confermata": 1,
        }
        sent = await second.wait_outcomes(4)
        assert len({e["id"] for e in sent}) == 4


def _confirmation() -> EnrollmentConfirmed:
    return EnrollmentConfirmed.new(
        source="registration",
        subject="india-2020",
        data=Enrollment(enrollment_id="e1", company_id=LOMBARD, mission_id="india-2020", role="lombard"),
        time=T0,
    )


def _killed_after_the_server_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.notifications import smtp

    real_send = smtp.SmtpMailer.send
    crashes = {"left": 1}

    async def accepted_then_killed(self: Any, message: Any) -> None:
        await real_send(self, message)
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("process killed before recording 'sent'")

    monkeypatch.setattr(smtp.SmtpMailer, "send", accepted_then_killed)


async def test_a_send_whose_process_died_is_resent_by_policy_and_says_so(service: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """An enrollment confirmation's policy is resend: the same Message-ID again, and two events that say what happened."""
    _killed_after_the_server_accepted(monkeypatch)
    await service.setup_companies()
    await service.send(Topic.REGISTRATION_EVENTS, _confirmation())
    await service.sink.wait_for(1)
    await service.wait_db(DELIVERIES, {"state": "sending"})
    service.clock.advance(minutes=10)  # the lease of the "dead" owner expires; another firing finds the intent
    [sent] = await service.wait_outcomes(1)
    first, second = await service.sink.wait_for(2)
    assert first["Message-ID"] == second["Message-ID"], "a resend keeps its Message-ID, which mail systems deduplicate on"
    events = await service.outcomes()
    [noticed] = [e for e in events if e["type"] == "notification.unconfirmed.v1"]
    [resolved] = [e for e in events if e["type"] == "notification.unconfirmed_resolved.v1"]
    assert (
        noticed["data"]["policy"] == "resend" and noticed["data"]["attempt"] == 1 and noticed["data"]["message_id"] == first["Message-ID"]
    )
    assert (resolved["data"]["resolution"], resolved["data"]["by"]) == ("resent", "policy")
    assert sent["data"]["attempts"] == 2 and LOMBARD_MAIL not in json.dumps(events)
    [delivery] = await service.db[DELIVERIES].find({}).to_list()
    assert [a["state"] for a in delivery["attempt_log"]] == ["unconfirmed_resent", "sent"]


async def test_a_held_unconfirmed_send_waits_for_the_operator_who_resolves_it_over_kafka(
    mail_settings: Settings, sink: SmtpSink, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _killed_after_the_server_accepted(monkeypatch)
    held = DeliveryPolicy(**{**POLICY.__dict__, "unconfirmed": (("enrollment_confirmation", "hold"),)})
    app, runtime = create_app(mail_settings, configure_logs=False, clock=clock, poll_interval_s=0.2, policy=held)
    async with running(app):
        service = Harness(mail_settings, runtime, sink, clock)
        await service.setup_companies()
        await service.send(Topic.REGISTRATION_EVENTS, _confirmation())
        await service.sink.wait_for(1)
        await service.wait_db(DELIVERIES, {"state": "sending"})
        service.clock.advance(minutes=10)
        [noticed] = await service.wait_outcomes(1, "notification.unconfirmed.v1")
        await service.settle_runner()
        assert noticed["data"]["policy"] == "hold" and len(service.sink.messages) == 1, "held: not resent"
        assert (await service.db[DELIVERIES].find_one({}))["state"] == "unconfirmed"

        from outgoing_cli import console
        from tests.integration.test_cli import invoke, ok

        console.out.width = console.err.width = 250
        nid = noticed["data"]["notification_id"]
        assert nid in ok(await invoke(service.settings, "mail", "unconfirmed", "list"))
        ok(
            await invoke(
                service.settings,
                "mail",
                "unconfirmed",
                "delivered",
                nid,
                "--operator",
                "anna.bianchi",
                "--reason",
                "found in the relay log",
            )
        )
        [resolved] = await service.wait_outcomes(1, "notification.unconfirmed_resolved.v1")
        assert (resolved["data"]["resolution"], resolved["data"]["by"], resolved["data"]["operator"]) == (
            "delivered",
            "operator",
            "anna.bianchi",
        )
        [sent] = await service.wait_outcomes(1)
        assert sent["data"]["kind"] == "enrollment_confirmation" and len(service.sink.messages) == 1
        assert nid not in ok(await invoke(service.settings, "mail", "unconfirmed", "list")), "resolved: no longer listed"


async def test_a_connection_lost_after_data_is_an_unconfirmed_send_not_a_plain_retry(service: Harness) -> None:
    """The server queued the message but its answer never arrived: retrying it as a temporary
    failure would send a duplicate without anyone knowing; now it is reported and resolved by policy."""
    await service.setup_companies()
    service.sink.drop_connection_after_data(1)
    await service.send(Topic.REGISTRATION_EVENTS, _confirmation())
    [sent] = await service.wait_outcomes(1)
    events = await service.outcomes()
    assert [e["type"] for e in events if "unconfirmed" in e["type"] and e["type"].endswith(".v1")] == [
        "notification.unconfirmed.v1",
        "notification.unconfirmed_resolved.v1",
    ]
    assert [e["type"] for e in events if "unconfirmed" in e["type"] and e["type"].endswith(".v2")] == [
        "notification.unconfirmed.v2",
        "notification.unconfirmed_resolved.v2",
    ], "both versions, while v1 is kept"
    assert len(service.sink.messages) == 2 and sent["data"]["attempts"] == 2


# ---------------------------------------------------------------- failures


async def test_temporary_failures_are_retried_and_permanent_ones_reported(service: Harness) -> None:
    await service.setup_companies()
    service.sink.fail_next(2, 451)
    service.sink.fail_recipient(FOREIGN_MAIL, 550)
    await service.send(
        Topic.REGISTRATION_EVENTS,
        EnrollmentConfirmed.new(
            source="registration",
            subject="india-2020",
            data=Enrollment(enrollment_id="e1", company_id=LOMBARD, mission_id="india-2020", role="lombard"),
            time=T0,
        ),
    )
    await service.send(
        Topic.REGISTRATION_EVENTS,
        EnrollmentConfirmed.new(
            source="registration",
            subject="india-2020",
            data=Enrollment(enrollment_id="e2", company_id=FOREIGN, mission_id="india-2020", role="foreign"),
            time=T0,
        ),
    )
    [failed] = await service.wait_outcomes(1, "notification.failed.v1")
    assert (
        failed["data"]["reason"] == "permanent_smtp_error"
        and failed["data"]["smtp_code"] == 550
        and failed["data"]["company_id"] == FOREIGN
    )
    assert FOREIGN_MAIL not in json.dumps(failed), "the server's reply quoted the address"
    assert "@" not in failed["data"]["detail"] and "Recipient address rejected" in failed["data"]["detail"]
    stored = await service.db[DELIVERIES].find_one({"company_id": FOREIGN})
    replies = [stored.get("detail"), stored.get("last_error"), *(a.get("detail") for a in stored["attempt_log"])]
    assert FOREIGN_MAIL not in json.dumps(replies).lower(), "stored replies keep no address (the recipient field does, until erasure)"
    await service.wait_db(DELIVERIES, {"attempt_log.state": "temporary"}, 1)
    for _ in range(3):
        service.clock.advance(seconds=31)
        await service.settle_runner()
    [delivered] = await service.sink.wait_for(1)
    assert delivered["Subject"] == "Iscrizione confermata: missione India"
    [sent] = await service.wait_outcomes(1)
    assert sent["data"]["attempts"] == 3 and sent["data"]["company_id"] == LOMBARD
    log = (await service.db[DELIVERIES].find_one({"company_id": LOMBARD}))["attempt_log"]
    assert [(a["n"], a["state"], a.get("code")) for a in log] == [(1, "temporary", 451), (2, "temporary", 451), (3, "sent", None)]
    assert [a["state"] for a in (await service.db[DELIVERIES].find_one({"company_id": FOREIGN}))["attempt_log"]] == ["permanent"]
    assert service.sink.refused == 2


# ---------------------------------------------------------------- bad input


async def test_injection_attempts_never_reach_the_mail_server_raw(service: Harness) -> None:
    tricky = 'Evil <script>alert("x")</script>, Rossi; C:\\temp'
    await service.setup_companies(foreign_name=tricky)
    await service.send(Topic.MATCHING_EVENTS, MeetingScheduled.new(source="matching", subject="india-2020", data=meeting(), time=T0))
    [invitation] = await service.sink.wait_for(1, address=LOMBARD_MAIL)
    text, html = bodies(invitation)
    assert "<script>" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert tricky in text and tricky in invitation["Subject"]
    ics = next(p for p in invitation.walk() if p.get_content_type() == "text/calendar").get_content()
    unfolded = ics.replace("\r\n ", "")
    assert "Rossi\\; C:\\\\temp" in unfolded and "\\," in unfolded, "commas, semicolons and backslashes escaped in the .ics"
    assert str(event_of(Calendar.from_ical(ics))["SUMMARY"]) == f"Incontro B2B Outgoing con {tricky} (India)"

    # A line break in a company name is refused by the contract itself: it never reaches a template.
    injected = json.loads(
        CompanyRegistered.new(
            source="registration", subject="injected-co-0005", data=profile("injected-co-0005", "foreign", "Acme"), time=T0
        ).model_dump_json()
    )
    injected["data"]["company_name"] = "Acme\r\nBcc: victim@evil.example"
    await service.send_raw(Topic.REGISTRATION_EVENTS, json.dumps(injected).encode(), b"injected-co-0005")

    bad_zone = json.loads(
        MeetingScheduled.new(
            source="matching", subject="india-2020", data=meeting(meeting_id="india-2020-m0003"), time=T0
        ).model_dump_json()
    )
    bad_zone["data"]["local_times"][0]["timezone"] = "Mars/Olympus_Mons"
    bad_address = json.loads(contact(LOMBARD, "Mario Rossi", LOMBARD_MAIL, "it").model_dump_json())
    bad_address["data"]["contact"]["email"] = "mario@@rossi"
    await service.send_raw(Topic.MATCHING_EVENTS, json.dumps(bad_zone).encode(), b"india-2020")
    await service.send_raw(Topic.CONTACTS, json.dumps(bad_address).encode(), LOMBARD.encode())
    # A fuzzer find: a tombstone whose key is not a company id was a handler error, retried before it was dead-lettered.
    await service.send_raw(Topic.CONTACTS, None, b"\xa9~nn")

    async def dead_letters() -> list[Any] | None:
        found = await topic_records(service.settings, service.topics(Topic.NOTIFICATIONS_DLQ))
        return found if len(found) >= 4 else None

    dead = await eventually(dead_letters, 40)
    assert sorted({k: v.decode() for k, v in r.headers}[DLQ_REASON] for r in dead) == ["invalid"] * 4
    assert await service.db["companies"].find_one({"_id": "injected-co-0005"}) is None
    assert all("victim" not in m.as_string() for m in service.sink.messages)
    assert (await service.db[CONTACTS].find_one({"_id": LOMBARD}))["email"] == LOMBARD_MAIL


# ---------------------------------------------------------------- erasure


async def test_erasure_cancels_pending_notifications_and_scrubs_addresses(service: Harness) -> None:
    await service.setup_companies()
    await service.send(Topic.MATCHING_EVENTS, MeetingScheduled.new(source="matching", subject="india-2020", data=meeting(), time=T0))
    await service.sink.wait_for(2)
    await service.wait_db(DELIVERIES, {"state": "sent"}, 2)
    # A delivery is recorded as sent a moment before its timer is marked fired; erasing in
    # between cancels that timer instead (the e-mail went out either way).
    await service.wait_db(TIMERS, {"group": FOREIGN, "state": "fired"}, 1)

    quoting = {"last_error": "451 4.2.1 mailbox of Priya Shah busy", "attempt_log.$[].detail": "451 4.2.1 Priya Shah is over quota"}
    await service.db[DELIVERIES].update_many({"company_id": FOREIGN}, {"$set": quoting})  # replies that name the person
    erased = CompanyErased.new(source="registration", subject=FOREIGN, data=Erasure(company_id=FOREIGN), time=T0 + timedelta(hours=1))
    await service.send(Topic.REGISTRATION_EVENTS, erased)
    await service.wait_db("erasures", {"_id": FOREIGN})
    await service.send_raw(Topic.CONTACTS, None, FOREIGN.encode())

    timers = await service.db[TIMERS].find({"group": FOREIGN}).to_list()
    assert timers and not [t for t in timers if t["state"] == "pending"], "what had not fired yet is cancelled"
    assert {t["state"] for t in timers} == {"fired", "cancelled"}
    assert await service.db[CONTACTS].find_one({"_id": FOREIGN}) is None
    assert await service.db["companies"].find_one({"_id": FOREIGN}) is None
    stored = json.dumps(await service.db[DELIVERIES].find({}).to_list(), default=str)
    assert FOREIGN_MAIL not in stored and LOMBARD_MAIL in stored
    assert "Priya" not in json.dumps(await service.db[DELIVERIES].find({"company_id": FOREIGN}).to_list(), default=str)
    assert await service.db[DELIVERIES].count_documents({"company_id": FOREIGN, "state": "sent"}) == 1, "the count stays"

    late_contact = contact(FOREIGN, "Priya Shah", FOREIGN_MAIL, "en")  # a record from before the erasure, delivered late
    await service.send(Topic.CONTACTS, late_contact)
    # A contact sent after it on the same partition (same key) proves the late one was handled.
    marker = contact(FOREIGN, "Priya Shah", FOREIGN_MAIL, "en")
    await service.send(Topic.CONTACTS, marker)
    await eventually(lambda: _consumed(service, marker.id), 30)
    service.clock.now = START - timedelta(hours=1)
    await service.sink.wait_for(4)  # the Lombard side's two reminders still go out
    await service.settle_runner()
    assert [m["Subject"] for m in service.sink.to(FOREIGN_MAIL)][1:] == [], "nothing more for the erased company"
    assert await service.db[CONTACTS].find_one({"_id": FOREIGN}) is None
    assert "la controparte" in service.sink.to(LOMBARD_MAIL)[-1]["Subject"]


async def test_outcome_events_a_crash_left_in_a_delivery_are_published_by_the_stale_outbox_scan(
    mail_settings: Settings, sink: SmtpSink, clock: FakeClock
) -> None:
    from shared.contracts.notifications import Delivery, NotificationSent
    from shared.outbox import pending

    payload = Delivery(
        notification_id="n-left-behind",
        kind="enrollment_confirmation",
        company_id=LOMBARD,
        source_event_id=uuid4(),
        language="it",
        attempts=1,
    )
    left = NotificationSent.new(source="notifications", subject=LOMBARD, data=payload)
    entry = {**pending(Topic.NOTIFICATION_EVENTS, left, key=LOMBARD), "at": datetime.now(UTC) - timedelta(minutes=5)}
    scanning = mail_settings.model_copy(update={"outbox_grace_s": 0.5, "outbox_scan_interval_s": 0.3})
    app, runtime = create_app(scanning, configure_logs=False, clock=clock, poll_interval_s=0.2, policy=POLICY)
    async with running(app):
        await runtime.db[DELIVERIES].insert_one({"_id": "n-left-behind", "state": "sent", "company_id": LOMBARD, "outbox": [entry]})
        harness = Harness(scanning, runtime, sink, clock)
        [published] = await harness.wait_outcomes(1)
        assert published["id"] == str(left.id)
        await harness.wait_db(DELIVERIES, {"_id": "n-left-behind", "outbox.0": {"$exists": False}})
