"""A CRM's ids for meetings: kept by the mission, carried by every later event about the meeting."""

from __future__ import annotations

import pytest

from shared.aggregate import Refused
from shared.contracts.crm import MeetingLink, MeetingLinked
from shared.contracts.registration import EnrollmentCancellation, EnrollmentCancelled
from tests.unit.matching.test_use_cases import LOMBARDS, MISSION, events_of, fresh, schedule


def link(meeting_id: str, external_id: str | None, system: str = "reference-crm") -> MeetingLinked:
    data = MeetingLink(mission_id=MISSION, meeting_id=meeting_id, system=system, external_id=external_id)
    return MeetingLinked.new(source="/crm/reference", subject=MISSION, data=data)


async def test_a_linked_meeting_carries_its_ids_on_its_cancellation_and_in_its_follow_ups() -> None:
    matching, store, recorder = await fresh()
    await matching.handle(schedule())
    leaving = LOMBARDS[0].company_id
    [meeting, *_] = [e.data for e in events_of(store, "meeting.scheduled.v1") if leaving in e.data.participants]
    assert meeting.external_ids == {}
    published, synced = len(store.published), len(recorder.synced)
    linked = link(meeting.meeting_id, "MTG-0001")
    await matching.handle(linked)
    assert len(store.published) == published, "a link publishes nothing by itself"
    assert recorder.links[meeting.meeting_id] == {"reference-crm": "MTG-0001"}
    assert recorder.relabelled == [[meeting.meeting_id]], "its follow-up timers get the id"
    await matching.handle(linked)  # redelivered, or sent again by a CRM after a crash
    assert recorder.relabelled == [[meeting.meeting_id]] * 2
    assert len(recorder.synced) == synced, "a link never re-syncs the agenda's timers: that would re-arm purged ones"

    payload = EnrollmentCancellation(enrollment_id=f"{leaving}:{MISSION}", company_id=leaving, mission_id=MISSION, reason="withdrawn")
    await matching.handle(EnrollmentCancelled.new(source="/outgoing/registration", subject=MISSION, data=payload))
    cancelled = {e.data.meeting_id: e.data for e in events_of(store, "meeting.cancelled.v1")}
    assert cancelled[meeting.meeting_id].external_ids == {"reference-crm": "MTG-0001"}
    assert all(c.external_ids == {} for mid, c in cancelled.items() if mid != meeting.meeting_id)


async def test_a_replayed_link_changes_nothing_and_null_removes_the_id() -> None:
    matching, store, _ = await fresh()
    await matching.handle(schedule())
    meeting_id = events_of(store, "meeting.scheduled.v1")[0].data.meeting_id
    first = link(meeting_id, "MTG-1")
    await matching.handle(first)
    before = await store.missions.get(MISSION)
    await matching.handle(first)
    after = await store.missions.get(MISSION)
    assert before is not None and after is not None and after.version == before.version
    await matching.handle(link(meeting_id, "OTHER-7", system="other-crm"))
    await matching.handle(link(meeting_id, None))
    mission = await store.missions.get(MISSION)
    assert mission is not None and mission.meeting_links == {meeting_id: {"other-crm": "OTHER-7"}}
    await matching.handle(link(meeting_id, None, system="other-crm"))
    mission = await store.missions.get(MISSION)
    assert mission is not None and mission.meeting_links == {}


async def test_a_link_to_a_meeting_never_on_the_agenda_is_refused() -> None:
    matching, _, _ = await fresh()
    await matching.handle(schedule())
    with pytest.raises(Refused, match="never on the agenda"):
        await matching.handle(link(f"{MISSION}:no-such-meeting", "MTG-404"))


async def test_no_more_than_eight_crms_may_name_one_meeting() -> None:
    matching, store, _ = await fresh()
    await matching.handle(schedule())
    meeting_id = events_of(store, "meeting.scheduled.v1")[0].data.meeting_id
    for n in range(8):
        await matching.handle(link(meeting_id, f"id-{n}", system=f"crm-{n}"))
    with pytest.raises(Refused, match="at most 8"):
        await matching.handle(link(meeting_id, "id-9", system="crm-9"))
    await matching.handle(link(meeting_id, "id-0b", system="crm-0"))
