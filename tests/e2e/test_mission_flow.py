"""A whole mission through the three services, the real broker, database and an SMTP server.

Signups become enrollments, enrollments become an agenda, the agenda becomes invitations
in each recipient's language and time zone; a change moves one meeting and replaces its
calendar entry; after the meeting the follow-up arrives; erasure forgets a company.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from services.matching.app import create_app as matching_app
from services.notifications.app import create_app as notifications_app
from services.notifications.use_cases import DeliveryPolicy
from services.registration.app import create_app as registration_app
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.envelope import Envelope
from shared.contracts.matching import (
    AvailabilityChange,
    AvailabilityChanged,
    MeetingRequest,
    MeetingRequestAnswer,
    MeetingRequestAnswered,
    MeetingRequested,
    ScheduleRequest,
    ScheduleRequested,
    TimeSpan,
)
from shared.contracts.registration import CompanyRef, ErasureRequest, ErasureRequested
from shared.contracts.topics import Topic, TopicNames
from shared.messaging import publish_event
from shared.mongo import create_client
from shared.settings import Settings
from tests.factories import foreign, lombard, mission_planned, signup, valid_partita_iva
from tests.smtp_sink import SmtpSink
from tests.support import decoded, eventually, running, topic_records

pytestmark = pytest.mark.integration

# A mission in the future, so that reminders are still ahead when the invitations go out.
MISSION = next(m for m in MISSIONS_2020 if m.mission_id == "india-2020").model_copy(
    update={
        "mission_id": "india-2027",
        "window_start": date(2027, 3, 22),
        "window_end": date(2027, 3, 23),
        "enrollment_deadline": datetime(2027, 3, 1, tzinfo=UTC),
        "max_meetings_per_company": 2,
    }
)
SIGNED_UP_AT = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Mission:
    def __init__(self, settings: Settings, broker: Any, sink: SmtpSink, clock: Clock) -> None:
        self.settings, self.broker, self.sink, self.clock = settings, broker, sink, clock
        self.topics = TopicNames(settings.topic_prefix)
        self.client = create_client(settings)

    def db(self, service: str) -> Any:
        return self.client[self.settings.database_for(service)]

    async def send(self, topic: Topic, event: Envelope[Any]) -> None:
        await publish_event(self.broker, self.topics(topic), event)

    async def events(self, topic: Topic, event_type: str) -> list[dict[str, Any]]:
        return [e for e in decoded(await topic_records(self.settings, self.topics(topic))) if e["type"] == event_type]

    async def wait_events(self, topic: Topic, event_type: str, count: int, timeout: float = 90) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = await self.events(topic, event_type)
            return found if len(found) >= count else None

        return await eventually(enough, timeout, interval=0.5)

    async def mail(self, address: str, subject_starts: str, count: int = 1) -> list[EmailMessage]:
        async def arrived() -> list[EmailMessage] | None:
            found = [m for m in self.sink.to(address) if str(m["Subject"]).startswith(subject_starts)]
            return found if len(found) >= count else None

        return await eventually(arrived, 90, interval=0.3)


@contextlib.asynccontextmanager
async def three_services(settings: Settings, clock: Clock) -> AsyncIterator[Any]:
    policy = DeliveryPolicy(wait_attempts=20, wait_backoff_s=(1.0, 2.0), send_attempts=3, send_backoff_s=(1.0, 1.0))
    registration, registration_runtime = registration_app(settings, configure_logs=False)
    matching, _ = matching_app(settings, configure_logs=False, clock=clock)
    notifications, _ = notifications_app(settings, configure_logs=False, clock=clock, poll_interval_s=0.2, policy=policy)
    async with running(registration), running(matching), running(notifications):
        yield registration_runtime.broker


def ics_event(message: EmailMessage) -> tuple[str, Any]:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    calendar = Calendar.from_ical(part.get_content())
    [event] = [c for c in calendar.walk() if c.name == "VEVENT"]
    return str(calendar["METHOD"]), event


def text_of(message: EmailMessage) -> str:
    return next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()


async def test_a_mission_from_signup_to_follow_up(settings: Settings) -> None:
    clock = Clock(SIGNED_UP_AT)
    with SmtpSink() as sink:
        settings = settings.model_copy(update={"smtp_port": sink.port, "schedule_time_limit_s": 5.0, "reminder_offsets_s": [86400.0]})
        async with three_services(settings, clock) as broker:
            flow = Mission(settings, broker, sink, clock)
            await flow.send(Topic.MISSIONS, mission_planned(MISSION))
            for service in ("registration", "matching", "notifications"):
                await eventually(lambda service=service: flow.db(service)["missions"].find_one({"_id": MISSION.mission_id}), 30)

            rossi = lombard(company_name="Rossi Meccanica S.r.l.", missions=[MISSION.mission_id])
            bianchi = lombard(
                company_name="Bianchi Utensili S.p.A.",
                partita_iva=valid_partita_iva("0987654321"),
                contact={"name": "Lucia Bianchi", "email": "lucia@bianchi.example", "preferred_language": "it"},
                missions=[MISSION.mission_id],
            )
            pune = foreign(
                company_name="Pune Lathes Ltd",
                contact={"name": "Arjun Rao", "email": "arjun@pune.example", "preferred_language": "en"},
                missions=[MISSION.mission_id],
            )
            mumbai = foreign(missions=[MISSION.mission_id])
            outsider = lombard(
                company_name="Torino Meccanica S.r.l.",
                partita_iva=valid_partita_iva("1122334455"),
                sede_legale={"city": "Torino", "province": "TO"},
                contact={"name": "Paolo Verdi", "email": "paolo@torino.example", "preferred_language": "it"},
                missions=[MISSION.mission_id],
            )
            for applicant in (rossi, bianchi, pune, mumbai, outsider):
                await flow.send(Topic.SIGNUP_FORMS, signup(applicant, time=SIGNED_UP_AT))

            # Registration decides; notifications confirms in Italian or English, and explains a rejection.
            registered = await flow.wait_events(Topic.REGISTRATION_EVENTS, "company.registered.v1", 4)
            ids = {e["data"]["company_name"]: e["data"]["company_id"] for e in registered}
            [confirmation] = await flow.mail("mario.rossi@rossi.example", "Iscrizione confermata")
            assert "India" in str(confirmation["Subject"])
            await flow.mail("priya@mmt.example", "Enrollment confirmed")
            [rejection] = await flow.mail("paolo@torino.example", "Domanda di partecipazione non accolta")
            assert "provincia lombarda" in text_of(rejection)

            # A request and its acceptance, then the operator schedules the mission.
            request = MeetingRequest(
                request_id="req-1",
                mission_id=MISSION.mission_id,
                requester_id=ids["Pune Lathes Ltd"],
                target_id=ids["Bianchi Utensili S.p.A."],
            )
            await flow.send(Topic.MEETING_FORMS, MeetingRequested.new(source="forms", subject="req-1", data=request))
            answer = MeetingRequestAnswer(
                request_id="req-1", mission_id=MISSION.mission_id, answered_by=ids["Bianchi Utensili S.p.A."], answer="accepted"
            )
            await flow.send(Topic.MEETING_FORMS, MeetingRequestAnswered.new(source="forms", subject="req-1", data=answer))
            await eventually(lambda: _request_answered(flow, ids), 60)
            schedule = ScheduleRequest(mission_id=MISSION.mission_id, operator="Giulia", time_limit_s=5)
            await flow.send(Topic.OPERATOR_COMMANDS, ScheduleRequested.new(source="operators", subject=MISSION.mission_id, data=schedule))

            [agenda] = await flow.wait_events(Topic.MATCHING_EVENTS, "agenda.published.v1", 1)
            assert agenda["data"]["meetings"] == 4 and agenda["data"]["unscheduled"] == 0
            scheduled = await flow.wait_events(Topic.MATCHING_EVENTS, "meeting.scheduled.v1", 4)
            pair = {ids["Bianchi Utensili S.p.A."], ids["Pune Lathes Ltd"]}
            accepted_meeting = next(e["data"] for e in scheduled if set(e["data"]["participants"]) == pair)

            # Each side is invited in its own language, at its own local time, with the calendar entry.
            [to_lucia] = await flow.mail("lucia@bianchi.example", "Incontro B2B con Pune Lathes Ltd")
            [to_arjun] = await flow.mail("arjun@pune.example", "B2B meeting with Bianchi Utensili S.p.A.")
            start = datetime.fromisoformat(accepted_meeting["start"])
            for message, zone in ((to_lucia, "Europe/Rome"), (to_arjun, "Asia/Kolkata")):
                method, event = ics_event(message)
                assert method == "REQUEST" and event.decoded("DTSTART") == start and int(event["SEQUENCE"]) == 0
                assert accepted_meeting["video_url"] in text_of(message)
                assert start.astimezone(ZoneInfo(zone)).strftime("%H:%M") in text_of(message)
            uid = str(ics_event(to_lucia)[1]["UID"])

            # Pune becomes unavailable at that time: only that meeting moves, and the calendar entry is replaced.
            change = AvailabilityChange(
                mission_id=MISSION.mission_id,
                company_id=ids["Pune Lathes Ltd"],
                unavailable=[TimeSpan(start=start, end=datetime.fromisoformat(accepted_meeting["end"]))],
                operator="Giulia",
            )
            await flow.send(Topic.OPERATOR_COMMANDS, AvailabilityChanged.new(source="operators", subject=MISSION.mission_id, data=change))
            [moved] = await flow.wait_events(Topic.MATCHING_EVENTS, "meeting.rescheduled.v1", 1)
            assert moved["data"]["meeting"]["meeting_id"] == accepted_meeting["meeting_id"]
            [update] = await flow.mail("lucia@bianchi.example", "Incontro spostato")
            method, event = ics_event(update)
            assert method == "REQUEST" and str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1
            assert event.decoded("DTSTART") == datetime.fromisoformat(moved["data"]["meeting"]["start"]) != start

            # A day before the moved meeting, its reminder, at the new time.
            new_start = datetime.fromisoformat(moved["data"]["meeting"]["start"])
            clock.now = new_start - timedelta(hours=23)
            reminders = await flow.mail("lucia@bianchi.example", "Promemoria")
            assert any(new_start.astimezone(ZoneInfo("Europe/Rome")).strftime("%H:%M") in text_of(r) for r in reminders)

            # After the meetings: the attendance check, with a link to the form.
            clock.now = datetime(2027, 3, 24, tzinfo=UTC)
            due = await flow.wait_events(Topic.MATCHING_EVENTS, "followup.due.v1", 4)
            assert {e["data"]["kind"] for e in due} == {"attendance"}
            check, _ = await flow.mail("lucia@bianchi.example", "L'incontro con", count=2)
            assert settings.survey_base_url in text_of(check)

            # Erasure: registration forgets the contact, notifications scrubs its addresses.
            erase = ErasureRequest(company=CompanyRef(company_id=ids["Pune Lathes Ltd"]), requested_by="dpo@agency.example")
            await flow.send(Topic.SIGNUP_FORMS, ErasureRequested.new(source="forms", subject="erase", data=erase))
            await flow.wait_events(Topic.REGISTRATION_EVENTS, "company.erased.v1", 1)

            async def scrubbed() -> bool:
                deliveries = await flow.db("notifications")["deliveries"].find({"company_id": ids["Pune Lathes Ltd"]}).to_list()
                return bool(deliveries) and all("arjun@pune.example" not in str(d) for d in deliveries)

            await eventually(scrubbed, 60)
            sent = await flow.events(Topic.NOTIFICATION_EVENTS, "notification.sent.v1")
            assert len(sent) == len(sink.messages), "every mail the server accepted is reported to the CRMs, once"
            assert all("@" not in str(e["data"]) for e in sent), "no address travels in notification events"
            await flow.client.close()


async def _request_answered(flow: Mission, ids: dict[str, str]) -> bool:
    doc = await flow.db("matching")["mission_states"].find_one({"_id": MISSION.mission_id}) or {}
    return any(r.get("answer") == "accepted" and r.get("requester") for r in doc.get("requests", []))
