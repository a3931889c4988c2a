"""Planning a mission's agenda from its state, and re-planning with as few changes as possible."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.domain.planning import MissionState, candidate_meetings, meeting_id_for, plan_agenda
from services.matching.domain.scoring import score_pairs
from shared.contracts.edition_2020 import MISSIONS_2020
from tests.unit.matching.test_scoring import profile

INDIA = next(m for m in MISSIONS_2020 if m.mission_id == "india-2020").model_copy(
    update={"max_meetings_per_company": 3, "parallel_capacity": 4}
)


def people(lombards: int, foreigns: int) -> dict[str, object]:
    companies = [profile(f"lombard-{i:04d}", "lombard") for i in range(lombards)]
    companies += [profile(f"foreign-{i:04d}", "foreign", timezone="Asia/Kolkata") for i in range(foreigns)]
    return {c.company_id: c for c in companies}


def test_proposals_are_taken_best_first_up_to_each_participants_maximum() -> None:
    state = MissionState(mission=INDIA, participants=people(2, 5))
    scored = score_pairs(
        [c for c in state.participants.values() if c.role == "lombard"], [c for c in state.participants.values() if c.role == "foreign"]
    )
    load = Counter(company for spec in candidate_meetings(state, scored) for company in spec.participants)
    assert load["lombard-0000"] == load["lombard-0001"] == 3


def test_accepted_requests_and_kept_meetings_go_before_proposals() -> None:
    state = MissionState(mission=INDIA, participants=people(1, 5), accepted=frozenset({("lombard-0000", "foreign-0004")}))
    scored = score_pairs([state.participants["lombard-0000"]], [c for c in state.participants.values() if c.role == "foreign"])
    specs = candidate_meetings(state, scored)
    assert specs[0].participants == ("lombard-0000", "foreign-0004") and specs[0].weight > max(s.weight for s in specs[1:])


def test_first_plan_schedules_everything_and_a_replan_of_the_same_state_changes_nothing() -> None:
    state = MissionState(mission=INDIA, participants=people(3, 3))
    first = plan_agenda(state, time_limit_s=5)
    assert {c.kind for c in first.changes} == {"scheduled"} and len(first.changes) == 9
    again = plan_agenda(MissionState(mission=INDIA, participants=state.participants, agenda=first.agenda), time_limit_s=5)
    assert again.changes == [] and again.schedule.moved == ()


def test_a_participant_who_leaves_has_their_meetings_cancelled_with_a_higher_sequence() -> None:
    everyone = people(2, 2)
    first = plan_agenda(MissionState(mission=INDIA, participants=everyone), time_limit_s=5)
    remaining = {k: v for k, v in everyone.items() if k != "foreign-0001"}
    second = plan_agenda(MissionState(mission=INDIA, participants=remaining, agenda=first.agenda), time_limit_s=5)
    assert sorted(c.kind for c in second.changes) == ["cancelled", "cancelled"]
    for change in second.changes:
        assert "foreign-0001" in (change.meeting.lombard_id, change.meeting.foreign_id)
        assert change.meeting.sequence == change.previous.sequence + 1 and not change.meeting.active
        assert change.reason == "a participant left the mission"


def test_unavailability_moves_only_the_meeting_that_must_move() -> None:
    everyone = people(2, 2)
    first = plan_agenda(MissionState(mission=INDIA, participants=everyone), time_limit_s=5)
    victim = next(iter(first.agenda.values()))
    blocked = {victim.foreign_id: ((victim.start, victim.end),)}
    second = plan_agenda(MissionState(mission=INDIA, participants=everyone, agenda=first.agenda, unavailable=blocked), time_limit_s=5)
    assert [(c.kind, c.meeting.meeting_id) for c in second.changes] == [("rescheduled", victim.meeting_id)]
    assert second.changes[0].meeting.sequence == 1 and second.changes[0].meeting.start != victim.start


def test_meetings_elsewhere_block_the_same_time_here() -> None:
    everyone = people(1, 1)
    slots_taken = plan_agenda(MissionState(mission=INDIA, participants=everyone), time_limit_s=5)
    [placed] = slots_taken.agenda.values()
    busy = {"lombard-0000": ((placed.start, placed.end),)}
    again = plan_agenda(MissionState(mission=INDIA, participants=everyone, busy_elsewhere=busy), time_limit_s=5)
    [moved] = again.agenda.values()
    assert moved.start >= placed.end or moved.end <= placed.start


def test_meeting_ids_are_stable_per_pair_and_mission() -> None:
    assert meeting_id_for("india-2020", "a", "b") == meeting_id_for("india-2020", "a", "b") != meeting_id_for("india-2020", "b", "a")


@settings(max_examples=10, deadline=None)
@given(lombards=st.integers(1, 4), foreigns=st.integers(1, 4), leaving=st.integers(0, 7))
def test_replanning_never_double_books_and_keeps_what_it_can(lombards: int, foreigns: int, leaving: int) -> None:
    everyone = people(lombards, foreigns)
    first = plan_agenda(MissionState(mission=INDIA, participants=everyone), time_limit_s=3)
    gone = sorted(everyone)[leaving % len(everyone)]
    remaining = {k: v for k, v in everyone.items() if k != gone}
    second = plan_agenda(MissionState(mission=INDIA, participants=remaining, agenda=first.agenda), time_limit_s=3)
    active = [p for p in second.agenda.values() if p.active]
    seen = Counter((company, p.start) for p in active for company in (p.lombard_id, p.foreign_id))
    assert all(n == 1 for n in seen.values())
    assert all(gone not in (p.lombard_id, p.foreign_id) for p in active)
    kept = [p for p in first.agenda.values() if gone not in (p.lombard_id, p.foreign_id)]
    assert all(second.agenda[p.meeting_id].start == p.start for p in kept), "a meeting moved that did not have to"
    assert all(p.end - p.start == timedelta(minutes=INDIA.meeting_minutes) for p in active)
