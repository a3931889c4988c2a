"""Orientation sessions through registration and matching on the real Kafka broker and
database: invitations, seats and the waiting list, attendance, the mission's requirement,
and the outcomes the read model then reports."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.matching.app import create_app as matching_app
from services.registration.app import create_app as registration_app
from shared.contracts.envelope import Envelope
from shared.contracts.matching import FollowUpAnswer, FollowUpAnswered, ScheduleRequest, ScheduleRequested
from shared.contracts.sessions import (
    AttendanceReport,
    OrientationSession,
    SeatRequest,
    SessionAttendanceReported,
    SessionPlanned,
    SessionSeatReleased,
    SessionSeatRequested,
)
from shared.contracts.topics import Topic, TopicNames
from shared.links import link_keys
from shared.messaging import publish_event
from shared.settings import Settings
from tests.factories import SIGNUP_TIME, foreign, lombard, mission, mission_planned, signup, valid_partita_iva
from tests.support import decoded, eventually, running, topic_records

pytestmark = pytest.mark.integration

START = datetime(2020, 10, 6, 8, 0, tzinfo=UTC)
SESSION = OrientationSession(
    session_id="orientation-india-2020",
    title_it="Orientamento: il mercato indiano",
    title_en="Orientation: the Indian market",
    mission_id="india-2020",
    start=START,
    end=START + timedelta(minutes=90),
    capacity=1,
    link="https://webinar.example/india",
    operator="Giulia",
)


class Flow:
    def __init__(self, settings: Settings, broker: Any) -> None:
        self.settings, self.broker, self.topics = settings, broker, TopicNames(settings.topic_prefix)

    async def send(self, topic: Topic, event: Envelope[Any]) -> None:
        await publish_event(self.broker, self.topics(topic), event)

    async def events(self, prefix: str = "session.") -> list[dict[str, Any]]:
        found = decoded(await topic_records(self.settings, self.topics(Topic.REGISTRATION_EVENTS)))
        return [e for e in found if e["type"].startswith(prefix)]

    async def wait_for(self, count: int, event_type: str) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            found = [e for e in await self.events() if e["type"] == event_type]
            return found if len(found) >= count else None

        found = await eventually(enough, 60)
        assert found is not None
        return found

    async def seat(self, kind: type[Envelope[Any]], company_id: str, minutes: int) -> None:
        request = SeatRequest(session_id=SESSION.session_id, company_id=company_id)
        at = SIGNUP_TIME + timedelta(days=2, minutes=minutes)
        await self.send(Topic.SIGNUP_FORMS, kind.new(source="forms", subject=company_id, data=request, time=at))


async def test_invitations_seats_waiting_list_attendance_and_the_mission_requirement(settings: Settings) -> None:
    settings = settings.model_copy(update={"schedule_time_limit_s": 5.0})
    registration, _ = registration_app(settings, configure_logs=False)
    matching, matching_runtime = matching_app(settings, configure_logs=False, clock=lambda: datetime(2020, 9, 1, tzinfo=UTC))
    async with running(registration), running(matching):
        flow = Flow(settings, matching_runtime.broker)
        await flow.send(Topic.MISSIONS, mission_planned(mission("india-2020").model_copy(update={"orientation_required": True})))
        firms = [lombard(company_name=f"Orientata {n} S.r.l.", partita_iva=valid_partita_iva(f"0123{n:03d}001")) for n in range(3)]
        partner = foreign()
        for applicant in (*firms, partner):
            await flow.send(Topic.SIGNUP_FORMS, signup(applicant))
        registered = await eventually(lambda: _registered(flow, 4), 60)
        lombards = [registered[f.company_name] for f in firms]
        a, b, c = lombards
        planned = SessionPlanned.new(source="operators", subject=SESSION.session_id, data=SESSION, time=SIGNUP_TIME + timedelta(days=1))
        await flow.send(Topic.OPERATOR_COMMANDS, planned)
        invited = await flow.wait_for(3, "session.invited.v1")
        assert sorted(e["subject"] for e in invited) == sorted(lombards), "only the Lombard firms of the mission"
        assert all(e["data"]["required_by"] == ["india-2020"] for e in invited)

        await flow.seat(SessionSeatRequested, a, 0)
        await flow.wait_for(1, "session.seat_changed.v1")  # two firms' forms may reach the session in either order
        await flow.seat(SessionSeatRequested, b, 1)
        await flow.wait_for(2, "session.seat_changed.v1")
        await flow.seat(SessionSeatReleased, a, 2)
        seats = await flow.wait_for(4, "session.seat_changed.v1")
        assert _stories(seats) == {a: [("confirmed", False), ("released", False)], b: [("waitlisted", False), ("confirmed", True)]}
        await flow.seat(SessionSeatRequested, a, 3)
        await flow.seat(SessionSeatRequested, a, 3)  # a second press of the form's button
        seats = await flow.wait_for(5, "session.seat_changed.v1")
        assert _stories(seats)[a] == [("confirmed", False), ("released", False), ("waitlisted", False)]
        assert [e["data"]["position"] for e in seats if e["subject"] == a][-1] == 1

        report = AttendanceReport(session_id=SESSION.session_id, attended=[b], operator="Giulia")
        await flow.send(Topic.OPERATOR_COMMANDS, SessionAttendanceReported.new(source="operators", subject="x", data=report, time=START))
        attendance = {e["subject"]: e["data"] for e in await flow.wait_for(3, "session.attendance_recorded.v1")}
        assert {k: (v["attended"], v["registered"]) for k, v in attendance.items()} == {
            a: (False, False),
            b: (True, True),
            c: (False, False),
        }

        await flow.send(Topic.OPERATOR_COMMANDS, _schedule())
        meetings = await eventually(lambda: _scheduled(flow), 60)
        met = {company for m in meetings for company in m["participants"]}
        assert b in met and not {a, c} & met, "only the firm that attended its orientation is scheduled"

        view = await eventually(lambda: _outcomes(matching_runtime), 30)
        total = view["total"]
        assert sorted(total["invited"]) == sorted(lombards) and total["attended"] == [b]
        assert total["meetings_scheduled"] == len(meetings)
        lost = await _dead_letters(flow)
        assert lost == [], "nothing of the flow was dead-lettered"


def _stories(seats: list[dict[str, Any]]) -> dict[str, list[tuple[str, bool]]]:
    """Each company's seat changes in order: one company's events share a partition, so their order holds."""
    stories: dict[str, list[tuple[str, bool]]] = {}
    for event in seats:
        stories.setdefault(event["subject"], []).append((event["data"]["status"], event["data"]["promoted"]))
    return stories


def _schedule() -> ScheduleRequested:
    return ScheduleRequested.new(
        source="operators", subject="india-2020", data=ScheduleRequest(mission_id="india-2020", operator="Giulia", time_limit_s=5.0)
    )


async def _registered(flow: Flow, count: int) -> dict[str, str] | None:
    found = {e["data"]["company_name"]: e["subject"] for e in await flow.events("company.registered")}
    return found if len(found) >= count else None


async def _scheduled(flow: Flow) -> list[dict[str, Any]] | None:
    found = decoded(await topic_records(flow.settings, flow.topics(Topic.MATCHING_EVENTS)))
    if not any(e["type"] == "agenda.published.v1" for e in found):
        return None
    return [e["data"] for e in found if e["type"] == "meeting.scheduled.v1"]


async def _outcomes(runtime: Any) -> dict[str, Any] | None:
    view = await runtime.views["outcomes"]()
    found = [m for m in json.loads(json.dumps(view))["missions"] if m["mission_id"] == "india-2020"]
    return found[0] if found and found[0]["total"]["attended"] else None


async def _dead_letters(flow: Flow) -> list[str]:
    found: list[str] = []
    for topic in (Topic.REGISTRATION_DLQ, Topic.MATCHING_DLQ):
        records = await topic_records(flow.settings, flow.topics(topic))
        found.extend(dict(record.headers).get("x-dlq-reason", b"").decode() or repr(record.value[:80]) for record in records)
    return found


async def test_a_missions_report_is_published_once_the_answer_window_after_its_last_outcome_survey_passed(settings: Settings) -> None:
    """Two instances race for the timers; the report comes once, after the outcome answers, with them."""
    from tests.integration.test_matching import Harness, foreign_profile, lombard_profile

    now = [datetime(2020, 9, 1, tzinfo=UTC)]
    settings = settings.model_copy(update={"schedule_time_limit_s": 5.0, "followup_close_after_s": 3.0})
    app_a, runtime_a = matching_app(settings, configure_logs=False, clock=lambda: now[0])
    app_b, _ = matching_app(settings.model_copy(update={"instance_id": "b"}), configure_logs=False, clock=lambda: now[0])
    async with running(app_a), running(app_b):
        harness = Harness(settings, runtime_a)
        await harness.send(Topic.MISSIONS, mission_planned(mission("india-2020")))
        await eventually(lambda: runtime_a.db["missions"].count_documents({}))
        for company in [lombard_profile(1), foreign_profile(1)]:
            await harness.enroll(company)
        await harness.wait_enrolled(2)
        await harness.schedule()
        await harness.wait_for(1, "agenda.published.v1")
        [meeting] = (await harness.current_meetings()).values()
        now[0] = datetime(2021, 6, 1, tzinfo=UTC)
        await harness.wait_for(3, "followup.due.v1")
        answer = FollowUpAnswer(
            meeting_id=meeting["meeting_id"],
            mission_id="india-2020",
            company_id="lombard-0001",
            kind="outcome",
            outcome="contract_signed",
            contract_value=250000,
            currency="EUR",
            token=link_keys(settings).survey_token(meeting["meeting_id"], "lombard-0001", "outcome"),
        )
        await harness.send(Topic.MEETING_FORMS, FollowUpAnswered.new(source="forms", subject="india-2020", data=answer))

        async def recorded() -> bool:
            doc = await runtime_a.db["mission_states"].find_one({"_id": "india-2020"}) or {}
            return bool(doc.get("followup_answers"))

        await eventually(recorded)
        assert not [e for e in await harness.events() if e["type"] == "mission.report_published.v1"], "not before the window passed"
        now[0] += timedelta(seconds=5)
        [report] = await harness.wait_for(1, "mission.report_published.v1")
        total = report["data"]["total"]
        assert report["data"]["closed"] and report["subject"] == "india-2020"
        assert total["outcomes"] == {"contract_signed": 1} and total["contract_values"] == {"EUR": 250000.0}
        now[0] += timedelta(days=1)
        await asyncio.sleep(3)
        assert len([e for e in await harness.events() if e["type"] == "mission.report_published.v1"]) == 1
