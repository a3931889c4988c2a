"""Matching against the real Kafka broker and MongoDB-wire server."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import bson
import pytest

from services.matching.app import create_app
from services.matching.store import BOOKINGS, MISSION_STATES, Booking, MatchingStore
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.envelope import Envelope
from shared.contracts.matching import (
    AvailabilityChange,
    AvailabilityChanged,
    FollowUpAnswer,
    FollowUpAnswered,
    MeetingRequest,
    MeetingRequestAnswer,
    MeetingRequestAnswered,
    MeetingRequested,
    PairForbiddenByOperator,
    PairOrder,
    ScheduleRequest,
    ScheduleRequested,
    TimeSpan,
)
from shared.contracts.registration import (
    CompanyProfile,
    CompanyRegistered,
    Enrollment,
    EnrollmentCancellation,
    EnrollmentCancelled,
    EnrollmentConfirmed,
)
from shared.contracts.topics import Topic, TopicNames
from shared.links import link_keys
from shared.messaging import DLQ_ERRORS, DLQ_REASON, Contention, publish_event
from shared.service import Runtime
from shared.settings import Settings
from tests.factories import mission_planned
from tests.support import decoded, eventually, running, topic_records

pytestmark = pytest.mark.integration

BEFORE_THE_MISSIONS = datetime(2020, 9, 1, tzinfo=UTC)
"""The services' clock in these tests: no follow-up is due until a test moves it."""
INDIA = next(m for m in MISSIONS_2020 if m.mission_id == "india-2020")
MONGODB_DOCUMENT_LIMIT = 16 * 2**20


def lombard_profile(n: int, **overrides: Any) -> CompanyProfile:
    data: dict[str, Any] = {
        "company_id": f"lombard-{n:04d}",
        "role": "lombard",
        "company_name": f"Meccanica Lombarda {n}",
        "country": "IT",
        "province": "BG",
        "timezone": "Europe/Rome",
        "sectors": ["meccanica_metallurgia"],
        "products": [{"name": "CNC lathes", "hs_code": "845811"}, {"name": "milling machines", "hs_code": "845951"}],
        "offer": "precision CNC lathes and milling machines",
        "seeking": "distributors of machine tools in India",
        "languages": ["it", "en"],
        "preferred_language": "it",
    }
    data.update(overrides)
    return CompanyProfile.model_validate(data)


def foreign_profile(n: int, **overrides: Any) -> CompanyProfile:
    data: dict[str, Any] = {
        "company_id": f"foreign-{n:04d}",
        "role": "foreign",
        "company_name": f"Pune Machine Tools {n}",
        "country": "IN",
        "city": "Pune",
        "timezone": "Asia/Kolkata",
        "sectors": ["meccanica_metallurgia"],
        "products": [{"name": "lathes", "hs_code": "845811"}],
        "offer": "distributors of machine tools across India",
        "seeking": "CNC lathes and milling machines from Italy",
        "languages": ["en", "hi"],
        "preferred_language": "en",
    }
    data.update(overrides)
    return CompanyProfile.model_validate(data)


class Harness:
    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.topics = TopicNames(settings.topic_prefix)
        self.db = runtime.db

    async def send(self, topic: Topic, event: Envelope[Any]) -> None:
        await publish_event(self.runtime.broker, self.topics(topic), event)

    async def events(self, topic: Topic = Topic.MATCHING_EVENTS) -> list[dict[str, Any]]:
        return decoded(await topic_records(self.settings, self.topics(topic)))

    async def wait_for(
        self, count: int, event_type: str, topic: Topic = Topic.MATCHING_EVENTS, timeout: float = 90
    ) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = [e for e in await self.events(topic) if e["type"] == event_type]
            return found if len(found) >= count else None

        return await eventually(enough, timeout, interval=0.5)

    async def enroll(self, profile: CompanyProfile, mission_id: str = "india-2020") -> None:
        await self.send(Topic.REGISTRATION_EVENTS, CompanyRegistered.new(source="registration", subject=profile.company_id, data=profile))
        enrollment = Enrollment(
            enrollment_id=f"{profile.company_id}:{mission_id}", company_id=profile.company_id, mission_id=mission_id, role=profile.role
        )
        await self.send(Topic.REGISTRATION_EVENTS, EnrollmentConfirmed.new(source="registration", subject=mission_id, data=enrollment))

    async def participants(self, mission_id: str = "india-2020") -> dict[str, Any]:
        doc = await self.db[MISSION_STATES].find_one({"_id": mission_id}) or {}
        return doc.get("participants", {})

    async def wait_enrolled(self, count: int, mission_id: str = "india-2020") -> None:
        async def enrolled() -> bool:
            return sum(1 for p in (await self.participants(mission_id)).values() if p.get("status") == "confirmed") >= count

        await eventually(enrolled, 60)

    async def schedule(self, mission_id: str = "india-2020", time_limit_s: float = 10.0) -> ScheduleRequested:
        command = ScheduleRequested.new(
            source="operators",
            subject=mission_id,
            data=ScheduleRequest(mission_id=mission_id, operator="Giulia", time_limit_s=time_limit_s),
        )
        await self.send(Topic.OPERATOR_COMMANDS, command)
        return command

    async def current_meetings(self) -> dict[str, dict[str, Any]]:
        """Latest state of every meeting as the events tell it: what a CRM would rebuild."""
        latest: dict[str, dict[str, Any]] = {}
        for event in await self.events():
            if event["type"] in ("meeting.scheduled.v1", "meeting.rescheduled.v1", "meeting.cancelled.v1"):
                payload = event["data"]
                meeting = payload.get("meeting", payload)
                known = latest.get(meeting["meeting_id"])
                if known is None or meeting["sequence"] > known["sequence"]:
                    latest[meeting["meeting_id"]] = {**meeting, "cancelled": event["type"] == "meeting.cancelled.v1"}
        return {k: v for k, v in latest.items() if not v["cancelled"]}


@pytest.fixture
async def service(settings: Settings):
    settings = settings.model_copy(update={"followup_satisfaction_after_s": 7 * 86400.0, "schedule_time_limit_s": 10.0})
    app, runtime = create_app(settings, configure_logs=False, clock=lambda: BEFORE_THE_MISSIONS)
    async with running(app):
        harness = Harness(settings, runtime)
        await harness.send(Topic.MISSIONS, mission_planned(INDIA))
        await eventually(lambda: runtime.db["missions"].count_documents({}))
        yield harness


def assert_no_double_booking(meetings: dict[str, dict[str, Any]]) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    for meeting in meetings.values():
        for company in meeting["participants"]:
            seen[(company, meeting["start"])] += 1
    assert all(n == 1 for n in seen.values()), f"double booked: {[k for k, n in seen.items() if n > 1]}"


async def test_a_mission_is_matched_scheduled_and_explained(service: Harness) -> None:
    lombards = [lombard_profile(i) for i in range(1, 4)]
    foreigns = [foreign_profile(i) for i in range(1, 4)] + [
        foreign_profile(
            9,
            company_name="Chennai Textiles",
            sectors=["sistema_moda"],
            products=[],
            offer="cotton fabrics",
            seeking="fashion",
            languages=["ta"],
        )
    ]
    for company in lombards + foreigns:
        await service.enroll(company)
    await service.wait_enrolled(7)
    accepted = MeetingRequested.new(
        source="forms",
        subject="r1",
        data=MeetingRequest(request_id="r1", mission_id="india-2020", requester_id="foreign-0009", target_id="lombard-0001"),
    )
    declined = MeetingRequested.new(
        source="forms",
        subject="r2",
        data=MeetingRequest(request_id="r2", mission_id="india-2020", requester_id="lombard-0002", target_id="foreign-0002"),
    )
    await service.send(Topic.MEETING_FORMS, accepted)
    await service.send(Topic.MEETING_FORMS, declined)
    await service.send(
        Topic.MEETING_FORMS,
        MeetingRequestAnswered.new(
            source="forms",
            subject="r1",
            data=MeetingRequestAnswer(request_id="r1", mission_id="india-2020", answered_by="lombard-0001", answer="accepted"),
        ),
    )
    await service.send(
        Topic.MEETING_FORMS,
        MeetingRequestAnswered.new(
            source="forms",
            subject="r2",
            data=MeetingRequestAnswer(request_id="r2", mission_id="india-2020", answered_by="foreign-0002", answer="declined"),
        ),
    )
    await eventually(lambda: _answers(service, 2))
    command = await service.schedule()

    [agenda] = await service.wait_for(1, "agenda.published.v1")
    summary = agenda["data"]
    assert agenda["subject"] == "india-2020" and agenda.get("causationid") == str(command.id)
    assert summary["status"] in ("optimal", "feasible") and summary["unscheduled"] == 0
    meetings = await service.current_meetings()
    assert len(meetings) == summary["meetings"] > 0
    pairs = {tuple(m["participants"]) for m in meetings.values()}
    assert ("lombard-0001", "foreign-0009") in pairs, "an accepted request must be placed even with a weak profile fit"
    assert ("lombard-0002", "foreign-0002") not in pairs, "a declined pair is never proposed or scheduled"
    assert_no_double_booking(meetings)
    assert sum(summary["breaks"].values()) == summary["total_breaks"]

    for meeting in meetings.values():
        start = datetime.fromisoformat(meeting["start"])
        rome, kolkata = meeting["local_times"]
        assert rome["timezone"] == "Europe/Rome" and kolkata["timezone"] == "Asia/Kolkata"
        assert datetime.fromisoformat(rome["start_local"]) == start == datetime.fromisoformat(kolkata["start_local"])
        assert datetime.fromisoformat(rome["start_local"]).utcoffset() in (timedelta(hours=1), timedelta(hours=2))
        assert datetime.fromisoformat(kolkata["start_local"]).utcoffset() == timedelta(hours=5, minutes=30)
        local_rome = start.astimezone(ZoneInfo("Europe/Rome")).time()
        assert INDIA.lombard_hours.start <= local_rome and start.astimezone(ZoneInfo("Asia/Kolkata")).time() >= INDIA.foreign_hours.start
        assert meeting["video_url"].startswith("https://") and meeting["sequence"] == 0

    proposed = await service.wait_for(7, "matches.proposed.v1")
    by_company = {e["data"]["company_id"]: e["data"]["proposals"] for e in proposed}
    first = by_company["lombard-0001"]
    assert any(p["partner_id"] == "foreign-0009" and p["requested"] == "by_partner" for p in first)
    top = next(p for p in first if p["partner_id"] == "foreign-0001")
    assert "same sector: meccanica_metallurgia" in top["reasons"] and "both speak English" in top["reasons"]
    assert all(p["partner_id"] != "foreign-0002" for p in by_company["lombard-0002"])

    booked = {(d["company_id"], d["meeting_id"]) for d in await service.db[BOOKINGS].find({"mission_id": "india-2020"}).to_list()}
    assert booked == {(company, m["meeting_id"]) for m in meetings.values() for company in m["participants"]}

    # Replaying the operator's command changes nothing and emits nothing. A second command
    # for the same mission, behind it in the same partition, proves the replay was handled.
    caused = [e["id"] for e in await service.events() if e.get("causationid") == str(command.id)]
    await service.send(Topic.OPERATOR_COMMANDS, command)
    await service.schedule()
    await service.wait_for(2, "agenda.published.v1")
    assert [e["id"] for e in await service.events() if e.get("causationid") == str(command.id)] == caused
    assert (await service.db[MISSION_STATES].find_one({"_id": "india-2020"}))["agenda_version"] == 2


async def _answers(service: Harness, count: int) -> bool:
    doc = await service.db[MISSION_STATES].find_one({"_id": "india-2020"}) or {}
    return sum(1 for r in doc.get("requests", []) if r.get("answer")) >= count


async def test_late_enrollment_cancellation_and_availability_change_move_as_little_as_possible(service: Harness) -> None:
    for company in [lombard_profile(i) for i in range(1, 4)] + [foreign_profile(i) for i in range(1, 4)]:
        await service.enroll(company)
    await service.wait_enrolled(6)
    await service.schedule()
    await service.wait_for(1, "agenda.published.v1")
    first = await service.current_meetings()
    assert len(first) == 9

    # A late enrollment adds meetings without moving any confirmed one.
    await service.enroll(foreign_profile(4))
    [_, late] = await service.wait_for(2, "agenda.published.v1")
    assert late["data"]["moved"] == 0
    second = await service.current_meetings()
    assert len(second) == 12
    assert all(second[mid]["start"] == m["start"] for mid, m in first.items())
    assert not [e for e in await service.events() if e["type"] == "meeting.rescheduled.v1"]

    # The partner becomes unavailable at one meeting's time: that meeting moves, and only it.
    victim = next(m for m in second.values() if "foreign-0004" in m["participants"])
    span = TimeSpan(start=datetime.fromisoformat(victim["start"]), end=datetime.fromisoformat(victim["end"]))
    await service.send(
        Topic.OPERATOR_COMMANDS,
        AvailabilityChanged.new(
            source="operators",
            subject="x",
            data=AvailabilityChange(mission_id="india-2020", company_id="foreign-0004", unavailable=[span], operator="Giulia"),
        ),
    )
    [moved] = await service.wait_for(1, "meeting.rescheduled.v1")
    assert moved["data"]["meeting"]["meeting_id"] == victim["meeting_id"]
    assert moved["data"]["meeting"]["sequence"] == 1 and moved["data"]["previous_start"] == victim["start"]
    assert moved["data"]["meeting"]["start"] != victim["start"]
    assert moved["data"]["reason"] == "a participant became unavailable at the original time"
    third = await service.current_meetings()
    assert_no_double_booking(third)
    assert sum(1 for mid in second if third[mid]["start"] != second[mid]["start"]) == 1

    # A cancelled enrollment cancels that company's meetings and nothing else.
    cancellation = EnrollmentCancellation(
        enrollment_id="lombard-0003:india-2020", company_id="lombard-0003", mission_id="india-2020", reason="withdrawn"
    )
    await service.send(Topic.REGISTRATION_EVENTS, EnrollmentCancelled.new(source="registration", subject="india-2020", data=cancellation))
    cancelled = await service.wait_for(4, "meeting.cancelled.v1")
    assert all("lombard-0003" in e["data"]["participants"] for e in cancelled)
    assert all(e["data"]["reason"] == "a participant left the mission" for e in cancelled)
    final = await service.current_meetings()
    assert len(final) == 8 and all("lombard-0003" not in m["participants"] for m in final.values())
    assert await service.db[BOOKINGS].count_documents({"company_id": "lombard-0003"}) == 0


async def test_an_operator_forbidding_a_scheduled_pair_cancels_its_meeting(service: Harness) -> None:
    for company in [lombard_profile(1), foreign_profile(1), foreign_profile(2)]:
        await service.enroll(company)
    await service.wait_enrolled(3)
    await service.schedule()
    await service.wait_for(1, "agenda.published.v1")
    order = PairOrder(
        mission_id="india-2020", lombard_id="lombard-0001", foreign_id="foreign-0001", operator="Giulia", reason="conflict of interest"
    )
    await service.send(Topic.OPERATOR_COMMANDS, PairForbiddenByOperator.new(source="operators", subject="india-2020", data=order))
    [cancelled] = await service.wait_for(1, "meeting.cancelled.v1")
    assert cancelled["data"]["participants"] == ["lombard-0001", "foreign-0001"]
    assert cancelled["data"]["sequence"] == 1
    assert cancelled["data"]["reason"] == "the pair was excluded by the mission's operators"


async def test_follow_ups_fire_once_after_each_meeting(settings: Settings) -> None:
    """A clock set past the meetings makes every attendance check due at once; two instances race for them."""
    now = [BEFORE_THE_MISSIONS]
    settings = settings.model_copy(
        update={"schedule_time_limit_s": 5.0, "followup_satisfaction_after_s": 7 * 86400.0, "followup_outcome_after_s": 90 * 86400.0}
    )
    app_a, runtime_a = create_app(settings, configure_logs=False, clock=lambda: now[0])
    app_b, runtime_b = create_app(
        settings.model_copy(update={"instance_id": settings.instance_id + "-b"}), configure_logs=False, clock=lambda: now[0]
    )
    async with running(app_a), running(app_b):
        harness = Harness(settings, runtime_a)
        await harness.send(Topic.MISSIONS, mission_planned(INDIA))
        await eventually(lambda: runtime_a.db["missions"].count_documents({}))
        for company in [lombard_profile(1), foreign_profile(1), foreign_profile(2)]:
            await harness.enroll(company)
        await harness.wait_enrolled(3)
        await harness.schedule()
        await harness.wait_for(1, "agenda.published.v1")
        meetings = await harness.current_meetings()
        assert len(meetings) == 2
        runners = [runtime_a.components["timer_runner"], runtime_b.components["timer_runner"]]
        await _whole_polls(runners)
        assert not [e for e in await harness.events() if e["type"] == "followup.due.v1"], "nothing is due before the meetings"

        now[0] = datetime(2020, 11, 15, tzinfo=UTC)
        due = await harness.wait_for(4, "followup.due.v1")
        await _whole_polls(runners)
        due = [e for e in await harness.events() if e["type"] == "followup.due.v1"]
        kinds = Counter((e["data"]["meeting_id"], e["data"]["kind"]) for e in due)
        assert set(kinds) == {(mid, kind) for mid in meetings for kind in ("attendance", "satisfaction")}
        assert all(n == 1 for n in kinds.values()), f"a follow-up fired twice: {kinds}"
        for event in due:
            payload = event["data"]
            end = datetime.fromisoformat(meetings[payload["meeting_id"]]["end"])
            expected = end if payload["kind"] == "attendance" else end + timedelta(days=7)
            assert datetime.fromisoformat(payload["due_at"]) == expected and event["subject"] == "india-2020"

        meeting_id, keys = next(iter(meetings)), link_keys(settings)
        answer = FollowUpAnswer(
            meeting_id=meeting_id, mission_id="india-2020", company_id="lombard-0001", kind="satisfaction", satisfaction=5
        )
        guessed = answer.model_copy(update={"token": keys.survey_token(meeting_id, "foreign-0001", "satisfaction")})
        for forged in (answer, guessed):  # no token; another company's token
            await harness.send(Topic.MEETING_FORMS, FollowUpAnswered.new(source="forms", subject="x", data=forged))
        refused = await eventually(lambda: _dead_letters(harness, 2), 30)
        assert all(b"token" in dict(r.headers)[DLQ_ERRORS] for r in refused), [dict(r.headers) for r in refused]
        signed = answer.model_copy(update={"token": keys.survey_token(meeting_id, "lombard-0001", "satisfaction")})
        await harness.send(Topic.MEETING_FORMS, FollowUpAnswered.new(source="forms", subject="x", data=signed))

        async def recorded() -> bool:
            doc = await harness.db[MISSION_STATES].find_one({"_id": "india-2020"}) or {}
            return bool(doc.get("followup_answers"))

        await eventually(recorded)


async def _dead_letters(harness: Harness, count: int) -> list[Any] | None:
    found = await topic_records(harness.settings, harness.topics(Topic.MATCHING_DLQ))
    return found if len(found) >= count else None


async def _whole_polls(runners: list[Any]) -> None:
    """Two more polls of every runner: one began after this call, so all that was due has fired."""
    targets = [r.polls + 2 for r in runners]

    async def done() -> bool:
        return all(r.polls >= t for r, t in zip(runners, targets, strict=True))

    await eventually(done, 30, interval=0.05)


async def test_invalid_requests_are_dead_lettered_with_a_reason(service: Harness) -> None:
    bad = b'{"id": "not-a-uuid", "type": "meeting.requested.v1"}'
    await service.runtime.broker.publish(bad, service.topics(Topic.MEETING_FORMS), key=b"k")
    [record] = await _dlq(service, 1)
    assert record.value == bad and dict(record.headers)[DLQ_REASON] == b"invalid"


async def test_a_plan_whose_state_would_pass_the_document_limit_is_refused_before_booking_anyone(service: Harness) -> None:
    """MongoDB holds at most 16 MiB in one document: roughly 10,000 meetings of one mission.
    A plan that would pass it is dead-lettered with the reason, and neither its bookings nor
    its state are written. Before, the bookings went in first and MongoDB refused the state
    after them (mongo-java-server, which has no such limit, stored it)."""
    for n in (1, 2):
        await service.enroll(lombard_profile(n))
        await service.enroll(foreign_profile(n))
    await service.wait_enrolled(4)
    states = service.db[MISSION_STATES]
    stored = len(bson.encode(await states.find_one({"_id": "india-2020"}), codec_options=states.codec_options))
    room = MONGODB_DOCUMENT_LIMIT - stored - 200
    await states.update_one({"_id": "india-2020"}, {"$set": {"history": "x" * room}})
    before = await states.find_one({"_id": "india-2020"}, {"version": 1})

    command = await service.schedule(time_limit_s=2)

    [record] = await _dlq(service, 1)
    headers = dict(record.headers)
    assert headers[DLQ_REASON] == b"rejected", headers
    assert str(command.id).encode() in record.value
    assert b"MiB a MongoDB document may hold" in headers[DLQ_ERRORS] and b"(0 meetings" not in headers[DLQ_ERRORS], headers[DLQ_ERRORS]
    assert await service.db[BOOKINGS].count_documents({"mission_id": "india-2020"}) == 0
    after = await states.find_one({"_id": "india-2020"}, {"version": 1, "agenda": 1})
    assert after["version"] == before["version"] and not after.get("agenda")


async def _dlq(service: Harness, count: int) -> list[Any]:
    async def enough() -> list[Any] | None:
        records = await topic_records(service.settings, service.topics(Topic.MATCHING_DLQ))
        return records if len(records) >= count else None

    return await eventually(enough)


async def test_the_database_forbids_booking_a_company_twice_at_the_same_time(settings: Settings) -> None:
    """Two writers (two missions, or two instances during a rebalance) racing for one company and time."""
    app, runtime = create_app(settings, configure_logs=False)
    async with running(app):
        store = MatchingStore(runtime.db)
        start = datetime(2020, 10, 19, 8, 0, tzinfo=UTC)
        end = start + timedelta(minutes=30)
        await store.reconcile_bookings("india-2020", [Booking("lombard-0001", start, end, "india-2020", "india-2020:aaaaaaaaaaaa")])
        with pytest.raises(Contention):
            await store.reconcile_bookings("russia-2020", [Booking("lombard-0001", start, end, "russia-2020", "russia-2020:bbbbbbbbbbbb")])
        results = await asyncio.gather(
            *(store.reconcile_bookings(f"m-{i}", [Booking("lombard-0002", start, end, f"m-{i}", f"m-{i}:cccccccccccc")]) for i in range(6)),
            return_exceptions=True,
        )
        assert sum(1 for r in results if r is None) == 1 and all(isinstance(r, Contention) for r in results if r is not None)
        assert len({d["meeting_id"] for d in await runtime.db[BOOKINGS].find({"company_id": "lombard-0002"}).to_list()}) == 1

        # Grids of different missions need not share starts: any overlap collides.
        offset = start + timedelta(minutes=20)
        with pytest.raises(Contention):
            await store.reconcile_bookings(
                "uk-2020", [Booking("lombard-0001", offset, offset + timedelta(minutes=20), "uk-2020", "uk-2020:dddddddddddd")]
            )
        await store.reconcile_bookings(
            "uk-2020", [Booking("lombard-0001", end, end + timedelta(minutes=20), "uk-2020", "uk-2020:dddddddddddd")]
        )


async def _at_least(count: Any, n: int) -> bool:
    return await count >= n


async def test_a_company_in_two_missions_at_once_is_never_booked_twice(service: Harness) -> None:
    """India and Russia ran over the same days in 2020; one Lombard firm can join both."""
    russia = next(m for m in MISSIONS_2020 if m.mission_id == "russia-2020").model_copy(
        update={"max_meetings_per_company": 8, "window_end": INDIA.window_start}
    )
    india_one_day = INDIA.model_copy(update={"window_end": INDIA.window_start})
    await service.send(Topic.MISSIONS, mission_planned(india_one_day))
    await service.send(Topic.MISSIONS, mission_planned(russia))
    await eventually(lambda: _at_least(service.runtime.db["missions"].count_documents({}), 2), timeout=30)
    both = lombard_profile(1, sectors=["meccanica_metallurgia"], languages=["it", "en", "ru"])
    await service.enroll(both, "india-2020")
    await service.enroll(both, "russia-2020")
    for n in range(1, 7):
        await service.enroll(foreign_profile(n), "india-2020")
        moscow = foreign_profile(
            n + 10, company_name=f"Moskva Stanki {n}", country="RU", city="Moscow", timezone="Europe/Moscow", languages=["ru", "en"]
        )
        await service.enroll(moscow, "russia-2020")
    await service.wait_enrolled(7, "india-2020")
    await service.wait_enrolled(7, "russia-2020")
    await service.schedule("india-2020", time_limit_s=5)
    await service.schedule("russia-2020", time_limit_s=5)

    async def both_published() -> bool:  # not just two agendas: one mission may publish twice
        return {e["subject"] for e in await service.events() if e["type"] == "agenda.published.v1"} >= {"india-2020", "russia-2020"}

    await eventually(both_published, 90, interval=0.5)
    meetings = await service.current_meetings()
    mine = [m for m in meetings.values() if both.company_id in m["participants"]]
    assert {m["mission_id"] for m in mine} == {"india-2020", "russia-2020"}
    spans = sorted((datetime.fromisoformat(m["start"]), datetime.fromisoformat(m["end"])) for m in mine)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans)), "the same firm was booked twice at one time"


async def test_an_enrollment_that_overtakes_its_profile_is_planned_once_the_profile_arrives(service: Harness) -> None:
    """Profiles and enrollments travel on different partitions: either may come first, and nothing waits on the other."""
    for company in [lombard_profile(1), lombard_profile(2), foreign_profile(1)]:
        await service.enroll(company)
    await service.wait_enrolled(3)
    await service.schedule()
    await service.wait_for(1, "agenda.published.v1")

    late = foreign_profile(7)
    enrollment = Enrollment(
        enrollment_id=f"{late.company_id}:india-2020", company_id=late.company_id, mission_id="india-2020", role="foreign"
    )
    await service.send(Topic.REGISTRATION_EVENTS, EnrollmentConfirmed.new(source="registration", subject="india-2020", data=enrollment))
    await service.wait_enrolled(4)
    await service.wait_for(2, "agenda.published.v1")
    assert not [m for m in (await service.current_meetings()).values() if late.company_id in m["participants"]]

    await service.send(Topic.REGISTRATION_EVENTS, CompanyRegistered.new(source="registration", subject=late.company_id, data=late))
    await service.wait_for(3, "agenda.published.v1")
    meetings = await service.current_meetings()
    assert len([m for m in meetings.values() if late.company_id in m["participants"]]) == 2
    doc = await service.db[MISSION_STATES].find_one({"_id": "india-2020"})
    assert doc["awaiting_profile"] == []


async def test_cancelling_a_mission_cancels_its_whole_agenda(service: Harness) -> None:
    for company in [lombard_profile(1), foreign_profile(1), foreign_profile(2)]:
        await service.enroll(company)
    await service.wait_enrolled(3)
    await service.schedule()
    await service.wait_for(1, "agenda.published.v1")
    assert len(await service.current_meetings()) == 2

    await service.send(Topic.MISSIONS, mission_planned(INDIA.model_copy(update={"status": "cancelled"})))
    cancelled = await service.wait_for(2, "meeting.cancelled.v1")
    assert {e["data"]["reason"] for e in cancelled} == {"the mission was cancelled"}
    assert await service.current_meetings() == {}
    assert await service.db[BOOKINGS].count_documents({"mission_id": "india-2020"}) == 0
