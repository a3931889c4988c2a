"""Session e-mails (training and orientation webinars) through the real Kafka, MongoDB-wire server and SMTP.

Registration's session events are published on its events topic; the messages are read
back from the SMTP server with Python's email package and their calendar files with
icalendar. Time is a controlled clock: reminders fall due when a test moves it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.notifications.app import create_app
from shared.contracts.envelope import Envelope
from shared.contracts.topics import Topic
from shared.settings import Settings
from tests.integration.test_notifications import POLICY, Harness, bodies, calendar_of, event_of
from tests.mail_factories import FOREIGN, FOREIGN_MAIL, LOMBARD, LOMBARD_MAIL, T0, FakeClock
from tests.session_mail_factories import (
    LINK,
    MOVED_TO,
    SESSION_ID,
    SESSION_START,
    TITLE_EN,
    TITLE_IT,
    attendance,
    invited,
    orientation,
    seat,
)
from tests.smtp_sink import SmtpSink
from tests.support import running

pytestmark = pytest.mark.integration

ROME, KOLKATA = ZoneInfo("Europe/Rome"), ZoneInfo("Asia/Kolkata")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def sink() -> Any:
    with SmtpSink() as running_sink:
        yield running_sink


@pytest.fixture
async def service(settings: Settings, sink: SmtpSink, clock: FakeClock) -> AsyncIterator[Harness]:
    mail_settings = settings.model_copy(update={"smtp_port": sink.port, "smtp_timeout_s": 5.0, "reminder_offsets_s": [86400.0, 3600.0]})
    app, runtime = create_app(mail_settings, configure_logs=False, clock=clock, poll_interval_s=0.2, policy=POLICY)
    async with running(app):
        yield Harness(mail_settings, runtime, sink, clock)


async def publish(service: Harness, *events: Envelope[Any]) -> None:
    for event in events:
        await service.send(Topic.REGISTRATION_EVENTS, event)


def uid(company_id: str) -> str:
    return f"{SESSION_ID}.{company_id}@sessions.outgoing"


async def test_invitations_seats_reminders_and_a_missed_session_each_in_the_companys_language_and_zone(service: Harness) -> None:
    await service.setup_companies()
    invitations = (invited(LOMBARD), invited(FOREIGN, required_by=()))
    await publish(service, *invitations)
    [to_lombard] = await service.sink.wait_for(1, address=LOMBARD_MAIL)
    [to_foreign] = await service.sink.wait_for(1, address=FOREIGN_MAIL)

    # Europe/Rome is still on summer time on 23 October 2020; Asia/Kolkata has none.
    assert to_lombard["Subject"] == f"Invito: {TITLE_IT}, venerdì 23 ottobre 2020, 10:00–11:00 (Europe/Rome, CEST, UTC+02:00)"
    assert to_foreign["Subject"] == f"Invitation: {TITLE_EN}, Friday 23 October 2020, 13:30–14:30 (Asia/Kolkata, IST, UTC+05:30)"
    assert (to_lombard["Content-Language"], to_foreign["Content-Language"]) == ("it", "en")
    text, html = bodies(to_lombard)
    assert "Gentile Mario Rossi" in text and "2020-10-23 08:00–09:00 UTC" in text and LINK in text
    assert "della missione India (india-2020)" in text and f"<strong>{TITLE_IT}</strong>" in html
    for message, company, zone, local in ((to_lombard, LOMBARD, ROME, "10:00+0200"), (to_foreign, FOREIGN, KOLKATA, "13:30+0530")):
        method, calendar = calendar_of(message)
        event = event_of(calendar)
        assert method == "REQUEST" and str(calendar["METHOD"]) == "REQUEST"
        assert str(event["UID"]) == uid(company) and int(event["SEQUENCE"]) == 0
        assert event.decoded("DTSTART") == SESSION_START and event.decoded("DTEND") == SESSION_START + timedelta(hours=1)
        assert event.decoded("DTSTART").astimezone(zone).strftime("%H:%M%z") == local
        assert str(event["SUMMARY"]) == (TITLE_IT if company == LOMBARD else TITLE_EN)
        assert next(p for p in message.iter_attachments() if p.get_filename() == "invite.ics").get_content_type() == "application/ics"

    seats = (seat(LOMBARD, "confirmed"), seat(FOREIGN, "confirmed", promoted=True))
    await publish(service, *seats)
    await service.sink.wait_for(2, address=LOMBARD_MAIL)
    [_, promoted] = await service.sink.wait_for(2, address=FOREIGN_MAIL)
    assert promoted["Subject"] == f"A seat came free: {TITLE_EN}"
    service.clock.advance(hours=1)
    release = seat(FOREIGN, "released", time=service.clock(), reason="company")
    await publish(service, release)
    [*_, released] = await service.sink.wait_for(3, address=FOREIGN_MAIL)
    assert released["Subject"] == f"Seat released: {TITLE_EN}" and "has been released, as you asked" in bodies(released)[0]

    service.clock.now = SESSION_START - timedelta(hours=24)
    [*_, day_before] = await service.sink.wait_for(3, address=LOMBARD_MAIL)
    service.clock.now = SESSION_START - timedelta(hours=1)
    [*_, hour_before] = await service.sink.wait_for(4, address=LOMBARD_MAIL)
    assert [day_before["Subject"], hour_before["Subject"]] == [f"Promemoria: {TITLE_IT} tra 24 ore", f"Promemoria: {TITLE_IT} tra 1 ora"]
    assert "venerdì 23 ottobre 2020, 10:00–11:00 (Europe/Rome, CEST, UTC+02:00)" in bodies(hour_before)[0]
    await service.settle_runner()
    assert len(service.sink.to(FOREIGN_MAIL)) == 3, "no reminder for the seat released"

    service.clock.now = SESSION_START + timedelta(hours=3)
    reports = (attendance(LOMBARD, attended=False), attendance(FOREIGN, attended=True))
    await publish(service, *reports)
    [*_, missed] = await service.sink.wait_for(5, address=LOMBARD_MAIL)
    assert missed["Subject"] == f"Sessione di orientamento non frequentata: {TITLE_IT}"
    text = bodies(missed)[0]
    assert "La missione India (india-2020) richiede la sessione di orientamento prima che i suoi incontri B2B siano programmati" in text
    assert "si iscriva a un'altra sessione di orientamento della missione" in text and "risponda a questa e-mail" in text
    assert "venerdì 23 ottobre 2020, 10:00–11:00" in text

    sent = await service.wait_outcomes(8, "notification.sent.v2")
    assert Counter(e["data"]["kind"] for e in sent) == {
        "session_invitation": 2,
        "session_seat": 3,
        "session_reminder": 2,
        "session_missed": 1,
    }
    assert {e["data"]["mission_id"] for e in sent} == {"india-2020"}
    v1 = [e for e in await service.outcomes() if e["type"].endswith(".v1")]
    assert v1 == [], "v1's kind is a closed enum: session mail has v2 outcome events only"

    # Every event again, then one new invitation per company on the same partitions: once
    # those two arrive, the replays before them were handled, and they sent nothing.
    await publish(service, *invitations, *seats, release, *reports)
    sentinels = [invited(company, session=orientation(session_id="orientation-india-2020-bis")) for company in (LOMBARD, FOREIGN)]
    await publish(service, *sentinels)
    await service.sink.wait_for(10)
    await service.settle_runner()
    assert len(service.sink.messages) == 10


async def test_a_session_moved_across_the_dst_change_then_cancelled_keeps_one_calendar_entry(service: Harness) -> None:
    await service.setup_companies()
    await publish(service, invited(LOMBARD), seat(LOMBARD, "confirmed"))
    await service.sink.wait_for(2, address=LOMBARD_MAIL)

    service.clock.advance(hours=1)
    moved = orientation(MOVED_TO)
    await publish(service, invited(LOMBARD, 1, moved, time=service.clock()))
    [*_, update] = await service.sink.wait_for(3, address=LOMBARD_MAIL)
    # Rome left summer time on 25 October: the same 10:00 is now an hour later in UTC.
    assert update["Subject"] == f"Sessione modificata: {TITLE_IT}, martedì 27 ottobre 2020, 10:00–11:00 (Europe/Rome, CET, UTC+01:00)"
    assert "Orario precedente: venerdì 23 ottobre 2020, 10:00–11:00 (Europe/Rome, CEST, UTC+02:00)" in bodies(update)[0]
    method, calendar = calendar_of(update)
    event = event_of(calendar)
    assert (method, str(event["UID"]), int(event["SEQUENCE"])) == ("REQUEST", uid(LOMBARD), 1)
    assert event.decoded("DTSTART") == MOVED_TO and event.decoded("DTSTART").astimezone(ROME).strftime("%H:%M%z") == "10:00+0100"

    service.clock.now = SESSION_START  # past both reminder times of the old date
    await service.settle_runner()
    assert len(service.sink.to(LOMBARD_MAIL)) == 3, "the reminders moved with the session"
    service.clock.now = MOVED_TO - timedelta(hours=24)
    [*_, reminder] = await service.sink.wait_for(4, address=LOMBARD_MAIL)
    assert reminder["Subject"] == f"Promemoria: {TITLE_IT} tra 24 ore" and "martedì 27 ottobre 2020, 10:00–11:00" in bodies(reminder)[0]

    cancelled = orientation(MOVED_TO, status="cancelled")
    at = service.clock()
    await publish(
        service,
        invited(LOMBARD, 2, cancelled, time=at),
        seat(LOMBARD, "released", 2, cancelled, time=at, reason="session_cancelled"),
    )
    [*_, cancellation] = await service.sink.wait_for(5, address=LOMBARD_MAIL)
    assert cancellation["Subject"] == f"Sessione annullata: {TITLE_IT}, martedì 27 ottobre 2020, 10:00–11:00 (Europe/Rome, CET, UTC+01:00)"
    method, calendar = calendar_of(cancellation)
    event = event_of(calendar)
    assert (method, str(calendar["METHOD"]), str(event["STATUS"])) == ("CANCEL", "CANCEL", "CANCELLED")
    assert (str(event["UID"]), int(event["SEQUENCE"])) == (uid(LOMBARD), 2)

    service.clock.now = MOVED_TO + timedelta(hours=1)  # past the 1-hour reminder of the cancelled session
    await service.settle_runner()
    assert [m["Subject"].split(":")[0] for m in service.sink.to(LOMBARD_MAIL)] == [
        "Invito",
        "Posto confermato",
        "Sessione modificata",
        "Promemoria",
        "Sessione annullata",
    ], "no seat e-mail beside the cancellation, no reminder after it"
