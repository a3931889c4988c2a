"""A mission's outcomes from a scenario whose every figure is counted by hand below, and
the orientation requirement as the mission's writer applies it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.matching.domain.mission import Mission, Participant, Request
from services.matching.domain.outcomes import SurveyDelays, mission_outcomes
from services.matching.domain.planning import Placed
from services.matching.use_cases import Matching, MatchingConfig, session_notes
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.internal import MissionReportDue, ReportDue
from shared.contracts.sessions import Attendance, OrientationSession, SessionAttendanceRecorded
from tests.factories import TEST_LINKS, mission_planned
from tests.unit.matching.fakes import FakeMatchingStore
from tests.unit.matching.test_scoring import profile
from tests.unit.matching.test_use_cases import enrolled, events_of, schedule

INDIA = next(m for m in MISSIONS_2020 if m.mission_id == "india-2020")
DAY = datetime(2020, 10, 20, 8, 0, tzinfo=UTC)
DELAYS = SurveyDelays(satisfaction=timedelta(days=7), outcome=timedelta(days=90), close_after=timedelta(days=30))

PROFILES = {
    "lomb-0001": profile("lomb-0001", "lombard", sectors=["chimica"]),
    "lomb-0002": profile("lomb-0002", "lombard", sectors=["arredo_design", "chimica"]),
    "lomb-0003": profile("lomb-0003", "lombard", sectors=["chimica"]),
    "fore-0001": profile("fore-0001", "foreign", sectors=["chimica"]),
    "fore-0002": profile("fore-0002", "foreign", sectors=["arredo_design"]),
}


def placed(meeting: str, lombard: str, foreign: str, hour: int, active: bool = True) -> Placed:
    start = DAY + timedelta(hours=hour)
    return Placed(meeting, lombard, foreign, f"s{hour}", start, start + timedelta(minutes=30), 0, active)


def answer(meeting: str, company: str, kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return f"{meeting}|{company}|{kind}", {"meeting_id": meeting, "mission_id": "india-2020", "company_id": company, "kind": kind, **fields}


def scenario() -> Mission:
    """Three Lombard firms (l-3 cancelled), two partners; four meetings (m4 cancelled)."""
    participants = {
        "lomb-0001": Participant("lombard", "confirmed", invited=True, oriented_in=("s-a",)),
        "lomb-0002": Participant("lombard", "confirmed", invited=True),
        "lomb-0003": Participant("lombard", "cancelled", invited=True, oriented_in=("s-a",)),
        "fore-0001": Participant("foreign", "confirmed"),
        "fore-0002": Participant("foreign", "confirmed"),
    }
    requests = [
        Request("r1", "lomb-0001", "fore-0001", "accepted"),
        Request("r2", "fore-0002", "lomb-0002", "declined"),
        Request("r3", "lomb-0001", "fore-0002"),
    ]
    agenda = {
        "meeting-1": placed("meeting-1", "lomb-0001", "fore-0001", 0),
        "meeting-2": placed("meeting-2", "lomb-0001", "fore-0002", 1),
        "meeting-3": placed("meeting-3", "lomb-0002", "fore-0001", 2),
        "meeting-4": placed("meeting-4", "lomb-0002", "fore-0002", 3, active=False),
    }
    answers = dict(
        [
            answer("meeting-1", "lomb-0001", "attendance", attended=True),
            answer("meeting-1", "fore-0001", "attendance", attended=True),
            answer("meeting-2", "lomb-0001", "attendance", attended=True),
            answer("meeting-2", "fore-0002", "attendance", attended=False),
            answer("meeting-3", "lomb-0002", "attendance", attended=False),
            answer("meeting-1", "lomb-0001", "satisfaction", satisfaction=5),
            answer("meeting-1", "fore-0001", "satisfaction", satisfaction=4),
            answer("meeting-2", "lomb-0001", "satisfaction", satisfaction=2),
            answer("meeting-3", "fore-0001", "satisfaction", satisfaction=4),
            answer("meeting-1", "lomb-0001", "outcome", outcome="contract_signed", contract_value=12000.5, currency="EUR"),
            answer("meeting-1", "fore-0001", "outcome", contract_signed=True, contract_value=1000, currency="USD"),
            answer("meeting-2", "lomb-0001", "outcome", under_negotiation=True, contract_signed=False),
            answer("meeting-3", "lomb-0002", "outcome", contract_signed=False, under_negotiation=False),
            answer("meeting-4", "lomb-0002", "outcome", outcome="contract_signed", contract_value=5, currency="EUR"),
        ]
    )
    return Mission(id="india-2020", participants=participants, requests=requests, agenda=agenda, followup_answers=answers)


def test_every_figure_of_the_scenario_matches_the_count_by_hand() -> None:
    as_of = DAY + timedelta(days=100)  # satisfaction and outcome surveys have both fallen due
    outcomes = mission_outcomes(scenario(), INDIA, PROFILES, as_of, DELAYS)
    total = outcomes.total
    assert (outcomes.edition, outcomes.market, outcomes.country, outcomes.closed) == (2020, "India", "IN", False)
    assert total.lombard == ["lomb-0001", "lomb-0002"] and total.foreign == ["fore-0001", "fore-0002"], "l-3 cancelled"
    assert total.invited == ["lomb-0001", "lomb-0002", "lomb-0003"] and total.attended == ["lomb-0001", "lomb-0003"]
    assert total.meetings_requested == 3, "r1, r2 and r3: declined or not, each was requested"
    assert total.meetings_scheduled == 3, "m4 was cancelled"
    assert (total.meetings_held, total.meetings_no_show, total.contradictory) == (1, 1, ["meeting-2"]), (
        "m1 both yes; m3 one no; m2 yes and no"
    )
    assert total.satisfaction == {"5": 1, "4": 2, "2": 1}
    assert total.satisfaction_surveys == 6, "three meetings, two companies each"
    assert total.outcomes == {"contract_signed": 1, "negotiation": 1, "no_further_contact": 1}, "per meeting; m4: not on the agenda"
    assert total.outcome_surveys == 6
    assert total.contract_values == {"EUR": 12000.5, "USD": 1000.0}
    chimica, arredo = outcomes.by_sector["chimica"], outcomes.by_sector["arredo_design"]
    assert chimica.lombard == ["lomb-0001"] and arredo.lombard == ["lomb-0002"], "a company counts under its first sector"
    assert (chimica.meetings_scheduled, arredo.meetings_scheduled) == (2, 1), "a meeting counts under its Lombard firm's sector"
    assert chimica.meetings_requested == 2 and arredo.meetings_requested == 1, "r2 was asked by the partner of l-2"
    assert arredo.meetings_no_show == 1 and chimica.meetings_held == 1


def test_surveys_count_only_once_due_and_the_report_closes_after_the_answer_window() -> None:
    early = mission_outcomes(scenario(), INDIA, PROFILES, DAY + timedelta(days=8), DELAYS)
    assert (early.total.satisfaction_surveys, early.total.outcome_surveys, early.closed) == (6, 0, False)
    late = mission_outcomes(scenario(), INDIA, PROFILES, DAY + timedelta(days=121), DELAYS)
    assert late.closed


def test_sectors_add_up_to_the_total() -> None:
    outcomes = mission_outcomes(scenario(), INDIA, PROFILES, DAY + timedelta(days=100), DELAYS)
    for field in ("meetings_requested", "meetings_scheduled", "meetings_held", "meetings_no_show", "satisfaction_surveys"):
        assert sum(getattr(f, field) for f in outcomes.by_sector.values()) == getattr(outcomes.total, field), field


# ---------------------------------------------------------------- the requirement, in the mission's writer

LOMBARDS = [profile(f"lombard-{i:04d}", "lombard") for i in range(2)]
FOREIGNS = [profile(f"foreign-{i:04d}", "foreign") for i in range(2)]
T0 = datetime(2020, 10, 1, tzinfo=UTC)


def attended(company_id: str, yes: bool, at: datetime) -> SessionAttendanceRecorded:
    session = OrientationSession(
        session_id="orientation-india",
        title_it="Orientamento",
        title_en="Orientation",
        mission_id="india-2020",
        start=T0,
        end=T0 + timedelta(hours=1),
        capacity=10,
        link="https://webinar.example/x",
        operator="op",
    )
    data = Attendance(session=session, sequence=0, company_id=company_id, missions=["india-2020"], attended=yes, registered=True)
    return SessionAttendanceRecorded.new(source="registration", subject=company_id, data=data, time=at)


async def test_a_mission_that_requires_orientation_schedules_a_lombard_firm_only_once_it_attended() -> None:
    store = FakeMatchingStore()
    matching = Matching(store, MatchingConfig(video_base_url="https://meet.example/o", links=TEST_LINKS, surveys=DELAYS))
    await matching.plan_mission(mission_planned(INDIA.model_copy(update={"orientation_required": True})))
    await matching.handle(mission_planned(INDIA.model_copy(update={"orientation_required": True})))
    for company in (*LOMBARDS, *FOREIGNS):
        await store.save_profile(company, T0)
        await matching.handle(enrolled(company.company_id, company.role))
    oriented, missed = LOMBARDS[0].company_id, LOMBARDS[1].company_id
    for note in session_notes(attended(oriented, True, T0 + timedelta(hours=2))):
        await matching.handle(note)
    await matching.handle(schedule())
    met = {c for e in events_of(store, "meeting.scheduled.v1") for c in e.data.participants}
    assert oriented in met and missed not in met
    mission = await store.missions.get("india-2020")
    assert mission is not None and mission.awaiting_profile == [], "left out for orientation, not for want of a profile"
    for note in session_notes(attended(missed, True, T0 + timedelta(hours=3))):
        await matching.handle(note)
    met = {c for e in events_of(store, "meeting.scheduled.v1") for c in e.data.participants}
    assert missed in met, "attending re-plans the agenda with the company"


async def test_the_report_is_published_once_when_its_timer_fires() -> None:
    store = FakeMatchingStore()
    now = [T0]
    matching = Matching(
        store, MatchingConfig(video_base_url="https://meet.example/o", links=TEST_LINKS, surveys=DELAYS), clock=lambda: now[0]
    )
    await matching.plan_mission(mission_planned(INDIA))
    for company in (*LOMBARDS, *FOREIGNS):
        await store.save_profile(company, T0)
        await matching.handle(enrolled(company.company_id, company.role))
    await matching.handle(schedule())

    def due(n: int) -> MissionReportDue:
        return MissionReportDue.new(source="timers", subject="india-2020", data=ReportDue(mission_id="india-2020"), time=now[0])

    now[0] = datetime(2021, 6, 1, tzinfo=UTC)
    again = due(2)
    await matching.publish_report(again)
    await matching.publish_report(again)
    await matching.publish_report(due(3))
    [report] = events_of(store, "mission.report_published.v1")
    assert report.data.closed and report.data.total.meetings_scheduled == len(events_of(store, "meeting.scheduled.v1"))


def test_a_contract_both_sides_report_is_one_contract_and_the_furthest_outcome_wins() -> None:
    mission = scenario()
    mission.followup_answers = dict(
        [
            answer("meeting-1", "lomb-0001", "outcome", outcome="contract_signed", contract_value=100, currency="EUR"),
            answer("meeting-1", "fore-0001", "outcome", outcome="contract_signed", contract_value=150, currency="EUR"),
            answer("meeting-2", "lomb-0001", "outcome", outcome="no_further_contact"),
            answer("meeting-2", "fore-0002", "outcome", outcome="negotiation"),
        ]
    )
    total = mission_outcomes(mission, INDIA, PROFILES, DAY + timedelta(days=100), DELAYS).total
    assert total.outcomes == {"contract_signed": 1, "negotiation": 1}
    assert total.contract_values == {"EUR": 150.0}


async def test_a_survey_answer_is_recorded_only_with_its_links_token() -> None:
    import pytest

    from shared.aggregate import Refused
    from shared.contracts.matching import FollowUpAnswer, FollowUpAnswered

    store = FakeMatchingStore()
    matching = Matching(store, MatchingConfig(video_base_url="https://meet.example/o", links=TEST_LINKS, surveys=DELAYS))
    await matching.plan_mission(mission_planned(INDIA))
    answer = FollowUpAnswer(meeting_id="india-2020:abcdef12", mission_id="india-2020", company_id=LOMBARDS[0].company_id, kind="outcome")

    def sent(token: str | None) -> FollowUpAnswered:
        return FollowUpAnswered.new(source="forms", subject="india-2020", data=answer.model_copy(update={"token": token}))

    for forged in (None, "x" * 22, TEST_LINKS.survey_token(answer.meeting_id, FOREIGNS[0].company_id, "outcome")):
        with pytest.raises(Refused, match="token"):
            await matching.handle(sent(forged))
    await matching.handle(sent(TEST_LINKS.survey_token(answer.meeting_id, answer.company_id, "outcome")))
    mission = await store.missions.get("india-2020")
    assert mission is not None and len(mission.followup_answers) == 1
    assert "token" not in next(iter(mission.followup_answers.values())), "a credential is not kept"


def test_only_a_first_invitation_or_an_attendance_reaches_the_missions() -> None:
    from shared.contracts.sessions import Invitation, SessionInvited

    session = attended(LOMBARDS[0].company_id, True, T0).data.session
    facts = {"session": session, "company_id": LOMBARDS[0].company_id, "missions": ["india-2020", "russia-2020"]}

    def invited(sequence: int, status: str = "planned") -> SessionInvited:
        data = Invitation(**{**facts, "session": session.model_copy(update={"status": status})}, sequence=sequence)
        return SessionInvited.new(source="registration", subject=LOMBARDS[0].company_id, data=data, time=T0)

    assert [n.data.mission_id for n in session_notes(invited(0))] == ["india-2020", "russia-2020"]
    assert session_notes(invited(1)) == [] and session_notes(invited(1, "cancelled")) == []
    assert [n.data.attended for n in session_notes(attended(LOMBARDS[0].company_id, False, T0))] == [False]
