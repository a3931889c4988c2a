"""Matching's use cases against the store in memory: what the mission decides, books and publishes."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matching.domain.planning import Change
from services.matching.store import MissionStateTooLarge
from services.matching.use_cases import Matching, MatchingConfig
from shared.aggregate import Refused
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.envelope import Envelope
from shared.contracts.internal import ParticipantProfileReady
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
from shared.contracts.registration import CompanyRegistered, Enrollment, EnrollmentCancellation, EnrollmentCancelled, EnrollmentConfirmed
from shared.messaging import Contention
from tests.factories import TEST_LINKS, mission_planned
from tests.unit.matching.fakes import FakeMatchingStore
from tests.unit.matching.test_scoring import profile

MISSION = "india-2020"
LOMBARDS = [profile(f"lombard-{i:04d}", "lombard") for i in range(3)]
FOREIGNS = [profile(f"foreign-{i:04d}", "foreign") for i in range(3)]
T0 = datetime(2020, 10, 1, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.synced: list[tuple[str, list[Change]]] = []
        self.replans: list[ParticipantProfileReady] = []
        self.links: dict[str, dict[str, str]] = {}
        self.relabelled: list[list[str]] = []

    async def sync(self, mission_id: str, changes: list[Change], links: Mapping[str, dict[str, str]]) -> None:
        self.synced.append((mission_id, changes))
        self.links = {m: dict(ids) for m, ids in links.items()}

    async def relabel(self, meeting_ids: list[str], links: Mapping[str, dict[str, str]]) -> None:
        self.relabelled.append(list(meeting_ids))
        self.links = {m: dict(ids) for m, ids in links.items()}

    async def replan(self, ready: ParticipantProfileReady) -> None:
        self.replans.append(ready)


async def fresh(with_profiles: bool = True) -> tuple[Matching, FakeMatchingStore, Recorder]:
    store, recorder = FakeMatchingStore(), Recorder()
    matching = Matching(
        store,
        MatchingConfig(video_base_url="https://meet.example/outgoing", links=TEST_LINKS),
        sync_followups=recorder.sync,
        relabel_followups=recorder.relabel,
        request_replan=recorder.replan,
    )
    definition = next(m for m in MISSIONS_2020 if m.mission_id == MISSION)
    await matching.plan_mission(mission_planned(definition))
    for company in (*LOMBARDS, *FOREIGNS):
        if with_profiles:
            await store.save_profile(company, T0)
        await matching.handle(enrolled(company.company_id, company.role))
    return matching, store, recorder


def enrolled(company_id: str, role: Any) -> EnrollmentConfirmed:
    payload = Enrollment(enrollment_id=f"{company_id}:{MISSION}", company_id=company_id, mission_id=MISSION, role=role)
    return EnrollmentConfirmed.new(source="registration", subject=MISSION, data=payload, time=T0)


def schedule(time_limit_s: float = 2.0) -> ScheduleRequested:
    return ScheduleRequested.new(
        source="operators", subject=MISSION, data=ScheduleRequest(mission_id=MISSION, operator="op", time_limit_s=time_limit_s)
    )


def types(store: FakeMatchingStore) -> list[str]:
    return [r.event.type for r in store.published if r.event is not None]


def events_of(store: FakeMatchingStore, event_type: str) -> list[Envelope[Any]]:
    return [r.event for r in store.published if r.event is not None and r.event.type == event_type]


async def test_nothing_is_planned_or_booked_before_the_operator_asks() -> None:
    _, store, recorder = await fresh()
    assert store.published == [] and store.booked == {} and recorder.synced == []
    mission = await store.missions.get(MISSION)
    assert mission is not None and sorted(mission.enrolled()) == sorted(c.company_id for c in (*LOMBARDS, *FOREIGNS))


async def test_scheduling_books_every_meeting_once_and_publishes_each_with_the_summary_last() -> None:
    matching, store, recorder = await fresh()
    await matching.handle(schedule())
    scheduled = events_of(store, "meeting.scheduled.v1")
    assert scheduled and types(store)[-1] == "agenda.published.v1"
    [summary] = events_of(store, "agenda.published.v1")
    assert summary.data.meetings == len(scheduled)
    assert {d["meeting_id"] for d in store.booked.values()} == {e.data.meeting_id for e in scheduled}
    assert len(recorder.synced) == 1 and len(recorder.synced[0][1]) == len(scheduled)
    for event in scheduled:
        assert {t.timezone for t in event.data.local_times} == {"Europe/Rome", "Asia/Kolkata"}


async def test_a_redelivered_command_publishes_nothing_new_and_redoes_its_side_effects() -> None:
    matching, store, recorder = await fresh()
    command = schedule()
    await matching.handle(command)
    published, booked = list(store.published), dict(store.booked)
    store.booked.clear()  # as if the crash came between the state's save and the bookings
    await matching.handle(command)
    assert store.published == published
    assert store.booked == booked
    assert len(recorder.synced) == 2 and {c.meeting.meeting_id for c in recorder.synced[1][1]} == {
        c.meeting.meeting_id for c in recorder.synced[0][1]
    }


async def test_a_cancelled_enrollment_cancels_its_meetings_and_frees_their_bookings() -> None:
    matching, store, _ = await fresh()
    await matching.handle(schedule())
    leaving = LOMBARDS[0].company_id
    theirs = {e.data.meeting_id for e in events_of(store, "meeting.scheduled.v1") if leaving in e.data.participants}
    assert theirs
    payload = EnrollmentCancellation(enrollment_id=f"{leaving}:{MISSION}", company_id=leaving, mission_id=MISSION, reason="withdrawn")
    await matching.handle(EnrollmentCancelled.new(source="registration", subject=MISSION, data=payload))
    assert {e.data.meeting_id for e in events_of(store, "meeting.cancelled.v1")} == theirs
    assert not any(d["company_id"] == leaving for d in store.booked.values())


async def test_an_accepted_request_is_on_the_agenda() -> None:
    matching, store, _ = await fresh()
    lombard, partner = LOMBARDS[2].company_id, FOREIGNS[1].company_id
    request = MeetingRequest(request_id="r1", mission_id=MISSION, requester_id=lombard, target_id=partner)
    await matching.handle(MeetingRequested.new(source="forms", subject=MISSION, data=request))
    answer = MeetingRequestAnswer(request_id="r1", mission_id=MISSION, answered_by=partner, answer="accepted")
    await matching.handle(MeetingRequestAnswered.new(source="forms", subject=MISSION, data=answer))
    await matching.handle(schedule())
    assert any(set(e.data.participants) == {lombard, partner} for e in events_of(store, "meeting.scheduled.v1"))


async def test_an_answer_from_the_wrong_company_is_refused_and_changes_nothing() -> None:
    matching, store, _ = await fresh()
    request = MeetingRequest(request_id="r1", mission_id=MISSION, requester_id=LOMBARDS[0].company_id, target_id=FOREIGNS[0].company_id)
    await matching.handle(MeetingRequested.new(source="forms", subject=MISSION, data=request))
    before = store.missions.docs[MISSION]["version"]  # type: ignore[attr-defined]
    answer = MeetingRequestAnswer(request_id="r1", mission_id=MISSION, answered_by=FOREIGNS[1].company_id, answer="accepted")
    with pytest.raises(Refused):
        await matching.handle(MeetingRequestAnswered.new(source="forms", subject=MISSION, data=answer))
    assert store.missions.docs[MISSION]["version"] == before  # type: ignore[attr-defined]


async def test_a_participant_without_a_profile_waits_and_is_planned_once_it_arrives() -> None:
    matching, store, recorder = await fresh(with_profiles=False)
    for company in (*LOMBARDS, *FOREIGNS[1:]):
        await store.save_profile(company, T0)
    await matching.handle(schedule())
    mission = await store.missions.get(MISSION)
    assert mission is not None and mission.awaiting_profile == [FOREIGNS[0].company_id]
    await matching.record_company(CompanyRegistered.new(source="registration", subject=FOREIGNS[0].company_id, data=FOREIGNS[0]))
    [ready] = recorder.replans
    await matching.handle(ready)
    mission = await store.missions.get(MISSION)
    assert mission is not None and mission.awaiting_profile == []
    assert any(FOREIGNS[0].company_id in e.data.participants for e in events_of(store, "meeting.scheduled.v1"))


async def test_a_plan_that_would_not_fit_one_document_is_refused_before_anything_is_booked() -> None:
    matching, store, _ = await fresh()
    store.missions.max_bytes = 20_000  # type: ignore[attr-defined]
    with pytest.raises(MissionStateTooLarge, match="split the mission"):
        await matching.handle(schedule())
    assert store.booked == {} and store.published == []


async def test_a_mission_another_writer_changed_meanwhile_is_a_contention_and_nothing_is_published() -> None:
    matching, store, _ = await fresh()
    store.missions.interfere(MISSION)  # type: ignore[attr-defined]
    with pytest.raises(Contention):
        await matching.handle(schedule())
    assert store.published == []


async def test_without_its_definition_a_mission_is_not_planned_and_nothing_is_booked() -> None:
    matching, store, _ = await fresh()
    store.catalogue.clear()
    await matching.handle(schedule())
    assert store.published == [] and store.booked == {}
    mission = await store.missions.get(MISSION)
    assert mission is not None and mission.scheduled


# ---------------------------------------------------------------- replays of whole histories


def _history(draw: Any) -> list[Envelope[Any]]:
    companies = [*LOMBARDS, *FOREIGNS]
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["enroll", "cancel", "request", "accept", "decline", "busy", "schedule"]),
                st.integers(0, 2),
                st.integers(0, 2),
            ),
            min_size=1,
            max_size=10,
        )
    )
    history: list[Envelope[Any]] = []
    for n, (action, i, j) in enumerate(steps):
        lombard, partner = LOMBARDS[i].company_id, FOREIGNS[j].company_id
        if action == "enroll":
            company = companies[(i * 3 + j) % len(companies)]
            history.append(enrolled(company.company_id, company.role))
        elif action == "cancel":
            payload = EnrollmentCancellation(
                enrollment_id=f"{lombard}:{MISSION}", company_id=lombard, mission_id=MISSION, reason="withdrawn"
            )
            history.append(EnrollmentCancelled.new(source="registration", subject=MISSION, data=payload))
        elif action == "request":
            request = MeetingRequest(request_id=f"r{i}{j}", mission_id=MISSION, requester_id=lombard, target_id=partner)
            history.append(MeetingRequested.new(source="forms", subject=MISSION, data=request))
        elif action in ("accept", "decline"):
            answer = MeetingRequestAnswer(
                request_id=f"r{i}{j}", mission_id=MISSION, answered_by=partner, answer="accepted" if action == "accept" else "declined"
            )
            history.append(MeetingRequestAnswered.new(source="forms", subject=MISSION, data=answer))
        elif action == "busy":
            start = datetime(2020, 10, 19 + n % 5, 4, tzinfo=UTC)
            change = AvailabilityChange(
                mission_id=MISSION, company_id=partner, unavailable=[TimeSpan(start=start, end=start + timedelta(hours=3))], operator="op"
            )
            history.append(AvailabilityChanged.new(source="operators", subject=MISSION, data=change))
        else:
            history.append(schedule(time_limit_s=1.0))
    return history


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
async def test_replaying_any_history_or_any_command_in_it_changes_nothing(data: st.DataObject) -> None:
    history = _history(data.draw)
    matching, store, _ = await fresh()
    for event in history:
        await matching.handle(event)
    published, booked = list(store.published), dict(store.booked)
    state = copy.deepcopy(store.missions.docs)  # type: ignore[attr-defined]
    for event in data.draw(st.lists(st.sampled_from(history), max_size=len(history)) | st.just(history)):
        await matching.handle(event)
    assert store.published == published
    assert store.booked == booked
    assert store.missions.docs == state  # type: ignore[attr-defined]


async def test_what_the_document_already_holds_counts_towards_the_limit_too() -> None:
    matching, store, _ = await fresh()
    store.missions.docs[MISSION]["history"] = "x" * 30_000  # type: ignore[attr-defined]  # a field the model does not write
    store.missions.max_bytes = 32_000  # type: ignore[attr-defined]
    with pytest.raises(MissionStateTooLarge):
        await matching.handle(schedule())
    assert store.booked == {} and store.published == []
