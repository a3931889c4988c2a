"""The reference CRM consumer (examples/reference_crm) on crafted records: no broker, no servers.

Events are built with Outgoing's own contracts, so the consumer reads exactly what the
services publish; the links it produces are validated with them, so Outgoing would accept them.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from examples.reference_crm import links
from examples.reference_crm.events import Record, parse
from examples.reference_crm.handlers import Crm
from examples.reference_crm.store import Store
from shared.contracts.crm import CompanyLinked, EnrollmentLinked, MeetingLinked
from shared.contracts.envelope import CONTENT_TYPE, Envelope
from shared.contracts.matching import (
    FollowUpAnswer,
    FollowUpAnswered,
    Meeting,
    MeetingCancellation,
    MeetingCancelled,
    MeetingMove,
    MeetingRescheduled,
    MeetingScheduled,
)
from shared.contracts.registration import (
    CompanyErased,
    CompanyProfile,
    CompanyRegistered,
    ContactDetails,
    ContactDetailsRecorded,
    Enrollment,
    EnrollmentCancellation,
    EnrollmentCancelled,
    EnrollmentConfirmed,
    Erasure,
)

PREFIX = "t1"
EVENTS, CONTACTS, MATCHING, FORMS = (
    f"{PREFIX}.{t}" for t in ("registration.events", "registration.contacts", "matching.events", "forms.meetings")
)
COMPANY = "rossi-meccanica-0123456789"
PARTNER = "mumbai-tools-in-0001"
MISSION = "india-2027"
MEETING = f"{MISSION}:{COMPANY}:{PARTNER}"
ENROLLMENT = f"{COMPANY}:{MISSION}"
START = datetime(2027, 3, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def crm(tmp_path: Path) -> Crm:
    return Crm(Store(tmp_path / "crm.sqlite"), prefix=PREFIX, system="reference-crm")


def record(topic: str, offset: int, event: Envelope[Any] | None, key: str = COMPANY, value: bytes | None = None) -> Record:
    if event is None:
        return Record(topic, 0, offset, key.encode(), value, ())
    return Record(topic, 0, offset, event.key, event.to_bytes(), (("content-type", CONTENT_TYPE.encode()),))


def feed(crm: Crm, *records: Record) -> None:
    with crm.store.transaction():
        for r in records:
            crm.apply(r)


def rows(crm: Crm, sql: str) -> list[tuple[Any, ...]]:
    return crm.store.db.execute(sql).fetchall()


def registered(company_id: str = COMPANY, **overrides: Any) -> CompanyRegistered:
    profile = {
        "company_id": company_id,
        "role": "lombard",
        "company_name": "Rossi Meccanica S.r.l.",
        "country": "IT",
        "timezone": "Europe/Rome",
        "sectors": ["meccanica_metallurgia"],
        "languages": ["it"],
        "preferred_language": "it",
        **overrides,
    }
    event: CompanyRegistered = CompanyRegistered.new(
        source="/outgoing/registration", subject=company_id, data=CompanyProfile.model_validate(profile)
    )
    return event


def contact(name: str = "Mario Rossi") -> ContactDetailsRecorded:
    details = ContactDetails.model_validate(
        {"company_id": COMPANY, "contact": {"name": name, "email": "mario@rossi.example"}, "preferred_language": "it"}
    )
    event: ContactDetailsRecorded = ContactDetailsRecorded.new(source="/outgoing/registration", subject=COMPANY, data=details)
    return event


def meeting(sequence: int, start: datetime = START) -> Meeting:
    return Meeting(
        meeting_id=MEETING,
        mission_id=MISSION,
        participants=[COMPANY, PARTNER],
        start=start,
        end=start + timedelta(minutes=30),
        local_times=[],
        video_url="https://meet.example/room",
        sequence=sequence,
        slot_id="s1",
    )


def scheduled(sequence: int = 0) -> MeetingScheduled:
    event: MeetingScheduled = MeetingScheduled.new(source="/outgoing/matching", subject=MISSION, data=meeting(sequence))
    return event


def rescheduled(sequence: int, start: datetime) -> MeetingRescheduled:
    move = MeetingMove(meeting=meeting(sequence, start), previous_start=START, previous_end=START, reason="moved")
    event: MeetingRescheduled = MeetingRescheduled.new(source="/outgoing/matching", subject=MISSION, data=move)
    return event


def test_a_replayed_company_changes_nothing_and_is_linked_once(crm: Crm) -> None:
    event = registered()
    feed(crm, record(EVENTS, 0, event))
    before = crm.store.dump()
    # The same record read again (a restart before the commit), then the same event at a
    # new offset (Outgoing re-published it: at-least-once delivery).
    feed(crm, record(EVENTS, 0, event), record(EVENTS, 1, event))
    after = crm.store.dump()
    assert [line for line in after if "positions" not in line] == [line for line in before if "positions" not in line]
    assert rows(crm, "SELECT company_id, external_id, name, status FROM companies") == [
        (COMPANY, "crm-1", "Rossi Meccanica S.r.l.", "active")
    ]

    [link] = crm.store.pending()
    linked = CompanyLinked.model_validate_json(link.value)  # exactly what Outgoing accepts
    assert link.key == COMPANY.encode() and link.topic == f"{PREFIX}.crm.links"
    assert linked.data.model_dump() == {"company_id": COMPANY, "system": "reference-crm", "external_id": "crm-1"}
    assert (linked.correlation_id, linked.causation_id, linked.source) == (event.correlation_id, event.id, "/crm/reference")
    assert linked.dataschema == "https://schemas.outgoing.example/events/company.external_id_set.v1.json"
    assert dict(link.headers)["content-type"].startswith(b"application/cloudevents+json")
    assert "partitionkey" not in json.loads(link.value)


def confirmed(company_id: str = COMPANY) -> EnrollmentConfirmed:
    enrollment = Enrollment(enrollment_id=f"{company_id}:{MISSION}", company_id=company_id, mission_id=MISSION, role="lombard")
    event: EnrollmentConfirmed = EnrollmentConfirmed.new(source="/outgoing/registration", subject=MISSION, data=enrollment)
    return event


def cancelled(reason: str = "erased", external_ids: dict[str, str] | None = None) -> EnrollmentCancelled:
    cancellation = EnrollmentCancellation.model_validate(
        {"enrollment_id": ENROLLMENT, "company_id": COMPANY, "mission_id": MISSION, "reason": reason, "external_ids": external_ids or {}}
    )
    event: EnrollmentCancelled = EnrollmentCancelled.new(source="/outgoing/registration", subject=MISSION, data=cancellation)
    return event


def test_an_enrollment_is_linked_once_keyed_by_company_and_a_replay_changes_nothing(crm: Crm) -> None:
    event = confirmed()
    feed(crm, record(EVENTS, 0, event))
    before = crm.store.dump()
    feed(crm, record(EVENTS, 0, event), record(EVENTS, 1, event))  # read again, then published again at a new offset
    assert [line for line in crm.store.dump() if "positions" not in line] == [line for line in before if "positions" not in line]
    assert rows(crm, "SELECT company_id, mission_id, enrollment_id, external_id, status FROM enrollments") == [
        (COMPANY, MISSION, ENROLLMENT, "crm-enrollment-1", "confirmed")
    ]

    [link] = crm.store.pending()
    linked = EnrollmentLinked.model_validate_json(link.value)  # exactly what Outgoing accepts
    assert link.topic == f"{PREFIX}.crm.links" and link.key == COMPANY.encode() and linked.subject == COMPANY, "keyed by company id"
    assert linked.data.model_dump() == {
        "company_id": COMPANY,
        "mission_id": MISSION,
        "system": "reference-crm",
        "external_id": "crm-enrollment-1",
    }
    assert (linked.correlation_id, linked.causation_id, linked.source) == (event.correlation_id, event.id, "/crm/reference")
    assert linked.dataschema == "https://schemas.outgoing.example/events/enrollment.external_id_set.v1.json"
    assert dict(link.headers)["content-type"].startswith(b"application/cloudevents+json")
    assert (dict(link.headers)["x-event-type"], dict(link.headers)["x-event-id"]) == (linked.type.encode(), str(linked.id).encode())
    assert "partitionkey" not in json.loads(link.value)

    # Cancelled, then confirmed again: the same enrollment, the same CRM id, no second link.
    feed(crm, record(EVENTS, 2, cancelled("withdrawn", {"reference-crm": "crm-enrollment-1"})), record(EVENTS, 3, confirmed()))
    assert rows(crm, "SELECT external_id, status, reason FROM enrollments") == [("crm-enrollment-1", "confirmed", None)]
    assert [p.link_id for p in crm.store.pending()] == [link.link_id]


def test_a_sent_enrollment_link_is_not_queued_again_and_a_rebuilt_one_is_the_same_link(crm: Crm) -> None:
    event = confirmed()
    feed(crm, record(EVENTS, 0, event))
    [link] = crm.store.pending()
    crm.store.mark_sent(link.link_id)
    feed(crm, record(EVENTS, 1, event), record(EVENTS, 2, confirmed()))  # the same event again, and a new confirmation
    assert crm.store.pending() == []
    # The link's id derives from what it says: built again, it is the same link (Outgoing applies it once), and not queued twice.
    rebuilt = links.enrollment_link(link.topic, parse(record(EVENTS, 0, event)), COMPANY, MISSION, "reference-crm", "crm-enrollment-1")
    assert rebuilt.link_id == link.link_id and rebuilt.key == link.key
    with crm.store.transaction():
        crm.store.enqueue(rebuilt)
    assert crm.store.pending() == [] and rows(crm, "SELECT count(*) FROM outbox") == [(1,)]


def test_an_enrollment_first_seen_cancelled_gets_an_id_and_a_link_too(crm: Crm) -> None:
    event = cancelled()
    feed(crm, record(EVENTS, 0, event))
    assert rows(crm, "SELECT external_id, status, reason FROM enrollments") == [("crm-enrollment-1", "cancelled", "erased")]
    [link] = crm.store.pending()
    linked = EnrollmentLinked.model_validate_json(link.value)
    assert (linked.data.external_id, linked.causation_id) == ("crm-enrollment-1", event.id)


def test_each_enrollment_has_its_own_id_and_link(crm: Crm) -> None:
    feed(crm, record(EVENTS, 0, confirmed()), record(EVENTS, 1, confirmed(PARTNER)), record(EVENTS, 2, registered()))
    assert rows(crm, "SELECT company_id, external_id FROM enrollments ORDER BY external_id") == [
        (COMPANY, "crm-enrollment-1"),
        (PARTNER, "crm-enrollment-2"),
    ]
    kinds = sorted(json.loads(p.value)["type"] for p in crm.store.pending())
    assert kinds == ["company.external_id_set.v1", "enrollment.external_id_set.v1", "enrollment.external_id_set.v1"]
    assert len({p.link_id for p in crm.store.pending()}) == 3


def test_a_file_of_the_first_version_is_upgraded_and_its_enrollments_linked_at_their_next_event(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.executescript(
            "CREATE TABLE enrollments (company_id TEXT NOT NULL, mission_id TEXT NOT NULL, enrollment_id TEXT NOT NULL,"
            " status TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')), reason TEXT, PRIMARY KEY (company_id, mission_id));"
            f" INSERT INTO enrollments VALUES ('{COMPANY}', '{MISSION}', '{ENROLLMENT}', 'confirmed', NULL);"
        )
    crm = Crm(Store(path), prefix=PREFIX, system="reference-crm")
    assert rows(crm, "SELECT company_id, external_id, status FROM enrollments") == [(COMPANY, None, "confirmed")]
    assert crm.store.pending() == []
    feed(crm, record(EVENTS, 9, cancelled()))
    assert rows(crm, "SELECT external_id, status FROM enrollments") == [("crm-enrollment-1", "cancelled")]
    [link] = crm.store.pending()
    assert EnrollmentLinked.model_validate_json(link.value).data.external_id == "crm-enrollment-1"
    crm.store.close()
    Store(path).close()  # opening an upgraded file again changes nothing


def test_an_update_renames_without_a_second_link(crm: Crm) -> None:
    feed(crm, record(EVENTS, 0, registered()), record(EVENTS, 1, registered(company_name="Rossi Meccanica S.p.A.")))
    assert rows(crm, "SELECT name, external_id FROM companies") == [("Rossi Meccanica S.p.A.", "crm-1")]
    assert len(crm.store.pending()) == 1


def test_an_older_meeting_sequence_arriving_late_is_ignored(crm: Crm) -> None:
    moved_to = START + timedelta(hours=2)
    cancellation = MeetingCancellation(
        meeting_id=MEETING, mission_id=MISSION, participants=[COMPANY, PARTNER], start=moved_to, end=moved_to, sequence=2, reason="left"
    )
    cancelled = MeetingCancelled.new(source="/outgoing/matching", subject=MISSION, data=cancellation)
    feed(crm, record(MATCHING, 0, scheduled(0)), record(MATCHING, 1, rescheduled(1, moved_to)))
    assert rows(crm, "SELECT status, sequence, start_utc FROM meetings") == [("rescheduled", 1, moved_to.isoformat())]
    feed(crm, record(MATCHING, 2, scheduled(0)))  # sequence 0 again, as another event: older than what is stored
    assert rows(crm, "SELECT status, sequence FROM meetings") == [("rescheduled", 1)]
    feed(crm, record(MATCHING, 3, cancelled), record(MATCHING, 4, rescheduled(1, START)))
    assert rows(crm, "SELECT status, sequence, start_utc FROM meetings") == [("cancelled", 2, moved_to.isoformat())]

    [link] = crm.store.pending()
    linked = MeetingLinked.model_validate_json(link.value)
    assert link.key == MISSION.encode() and linked.subject == MISSION
    assert linked.data.model_dump() == {
        "mission_id": MISSION,
        "meeting_id": MEETING,
        "system": "reference-crm",
        "external_id": "crm-meeting-1",
    }


def test_a_tombstone_deletes_the_contact_and_a_reread_tombstone_deletes_no_newer_one(crm: Crm) -> None:
    feed(crm, record(CONTACTS, 0, contact()))
    assert rows(crm, "SELECT company_id, name FROM contacts") == [(COMPANY, "Mario Rossi")]
    feed(crm, record(CONTACTS, 1, None))
    assert rows(crm, "SELECT * FROM contacts") == []
    feed(crm, record(CONTACTS, 2, contact("Anna Rossi")))  # signed up again after the erasure
    feed(crm, record(CONTACTS, 0, contact()), record(CONTACTS, 1, None))  # the partition read again from the start
    assert rows(crm, "SELECT name FROM contacts") == [("Anna Rossi",)]


def test_erasure_forgets_the_person_and_keeps_the_crm_id(crm: Crm) -> None:
    erased = CompanyErased.new(
        source="/outgoing/registration", subject=COMPANY, data=Erasure(company_id=COMPANY, external_ids={"reference-crm": "crm-1"})
    )
    feed(crm, record(EVENTS, 0, registered()), record(CONTACTS, 0, contact()), record(EVENTS, 1, erased))
    assert rows(crm, "SELECT company_id, external_id, name, status FROM companies") == [(COMPANY, "crm-1", None, "erased")]
    assert rows(crm, "SELECT * FROM contacts") == []


def test_follow_up_outcomes_keep_the_latest_answer(crm: Crm) -> None:
    def answered(signed: bool, at: datetime) -> FollowUpAnswered:
        answer = FollowUpAnswer(meeting_id=MEETING, mission_id=MISSION, company_id=COMPANY, kind="outcome", contract_signed=signed)
        event: FollowUpAnswered = FollowUpAnswered.new(source="forms", subject=MEETING, data=answer, time=at)
        return event

    later = datetime(2027, 7, 1, tzinfo=UTC)
    feed(crm, record(FORMS, 0, answered(True, later)), record(FORMS, 1, answered(False, later - timedelta(days=1))))
    assert rows(crm, "SELECT meeting_id, kind, contract_signed FROM outcomes") == [(MEETING, "outcome", 1)]


def test_unknown_fields_and_extensions_are_ignored(crm: Crm) -> None:
    body = json.loads(registered().to_bytes())
    body["data"]["loyalty_tier"] = {"nested": ["anything"]}
    body["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    feed(crm, Record(EVENTS, 0, 0, COMPANY.encode(), json.dumps(body).encode(), ()))
    assert rows(crm, "SELECT company_id FROM companies") == [(COMPANY,)]


def _body(**overrides: Any) -> bytes:
    body = json.loads(registered().to_bytes())
    body.update(overrides)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


HOSTILE = {
    "empty": b"",
    "not json": b"{not json",
    "not utf-8": b"\xff\xfe\x00",
    "a json array": b"[1, 2]",
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "no id": _body(id=None),
    "no specversion": _body(specversion=None),
    "specversion 0.3": _body(specversion="0.3"),
    "specversion 2.0": _body(specversion="2.0"),
    "a type without version": _body(type="company.registered"),
    "a newer major version": _body(type="company.registered.v2"),
    "data not an object": _body(data="Rossi"),
    "a bad time": _body(time="yesterday"),
    "no company id": _body(data={"company_name": "Rossi"}),
    "sectors not a list": _body(data={**json.loads(registered().to_bytes())["data"], "sectors": "meccanica"}),
}


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_malformed_record_is_noted_and_skipped_without_raising(crm: Crm, value: bytes) -> None:
    feed(crm, Record(EVENTS, 0, 7, b"\xff-key", value, (("content-type", b"\xff"),)), record(EVENTS, 8, registered()))
    assert [r[:3] for r in rows(crm, "SELECT topic, partition, offset, reason FROM skipped")] == [(EVENTS, 0, 7)]
    assert rows(crm, "SELECT company_id FROM companies") == [(COMPANY,)], "the record after it is applied"
    assert crm.store.applied_position(EVENTS, 0) == 8


def test_unknown_types_and_types_on_the_wrong_topic_store_nothing(crm: Crm) -> None:
    before = crm.store.dump()
    unknown = _body(type="loyalty.points_awarded.v1", dataschema="x")
    feed(crm, Record(EVENTS, 0, 0, None, unknown, ()), record(FORMS, 0, registered()), Record(EVENTS, 0, 1, None, None, ()))
    assert [line for line in crm.store.dump() if "positions" not in line] == [line for line in before if "positions" not in line]


def test_a_database_failure_is_not_mistaken_for_a_bad_record(crm: Crm) -> None:
    crm.store.db.execute("DROP TABLE companies")
    with pytest.raises(sqlite3.OperationalError):
        feed(crm, record(EVENTS, 0, registered()))
    assert crm.store.applied_position(EVENTS, 0) == -1, "the batch rolled back: it will be read again"


def test_binary_mode_is_read_too(crm: Crm) -> None:
    body = json.loads(registered().to_bytes())
    data = json.dumps(body.pop("data")).encode()
    headers = tuple((f"ce_{name}", str(value).encode()) for name, value in body.items() if name != "datacontenttype")
    feed(crm, Record(EVENTS, 0, 0, COMPANY.encode(), data, (*headers, ("content-type", b"application/json"))))
    assert rows(crm, "SELECT company_id FROM companies") == [(COMPANY,)]


def test_notification_outcomes_are_read_in_v2_and_their_v1_twins_passed_over_quietly(crm: Crm) -> None:
    from uuid import uuid4

    from shared.contracts.notifications import Delivery, DeliveryV2, NotificationSent, NotificationSentV2

    notifications = f"{PREFIX}.notifications.events"
    fields = {"notification_id": "n-1", "company_id": COMPANY, "source_event_id": uuid4(), "language": "it", "attempts": 1}
    v1 = NotificationSent.new(source="notifications", subject=COMPANY, data=Delivery(kind="meeting_invitation", **fields))
    v2 = NotificationSentV2.new(source="notifications", subject=COMPANY, data=DeliveryV2(kind="meeting_invitation", **fields))
    session = NotificationSentV2.new(
        source="notifications", subject=COMPANY, data=DeliveryV2(**{**fields, "notification_id": "n-2", "kind": "session_invitation"})
    )
    feed(crm, record(notifications, 0, v1), record(notifications, 1, v2), record(notifications, 2, session))
    assert rows(crm, "SELECT topic FROM skipped") == []
    assert sorted(r[0] for r in rows(crm, "SELECT notification_id FROM activities")) == ["n-1", "n-2"]
    assert rows(crm, "SELECT kind FROM activities WHERE notification_id = 'n-2'") == [("session_invitation",)]
