"""Every notifications use case, against the store, timers and mail server in memory.

What matters most here is that nothing is sent twice unknowingly: whatever the mail
server and the process do, a message reaches the server at most once more than the
number of unconfirmed sends reported for it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from services.notifications.domain.delivery import TERMINAL, Delivery
from services.notifications.domain.plans import Plan
from services.notifications.use_cases import DeliveryPolicy
from shared.contracts.matching import MeetingCancellation, MeetingCancelled, MeetingMove, MeetingRescheduled, MeetingScheduled
from shared.contracts.registration import CompanyErased, CompanyRegistered, Enrollment, EnrollmentConfirmed, Erasure
from shared.timers import RetryAt
from tests.factories import mission, mission_planned
from tests.mail_factories import FOREIGN, FOREIGN_MAIL, LOMBARD, LOMBARD_MAIL, START, T0, contact, meeting, profile
from tests.unit.notifications.fakes import Crash, Harness, harness

SENT = "notification.sent.v1"
FAILED = "notification.failed.v1"
UNCONFIRMED = "notification.unconfirmed.v1"
RESOLVED = "notification.unconfirmed_resolved.v1"


async def ready(policy: DeliveryPolicy | None = None, *, contacts: bool = True) -> Harness:
    h = harness(policy)
    await h.notifications.mission_planned(mission_planned(mission("india-2020")))
    for company in (profile(LOMBARD, "lombard", "Rossi Meccanica S.r.l."), profile(FOREIGN, "foreign", "Mumbai Machine Tools Pvt Ltd")):
        await h.notifications.company_changed(
            CompanyRegistered.new(source="registration", subject=company.company_id, data=company, time=T0 - timedelta(days=30))
        )
    if contacts:
        await h.notifications.contact_recorded(contact(LOMBARD, "Mario Rossi", LOMBARD_MAIL, "it"))
        await h.notifications.contact_recorded(contact(FOREIGN, "Priya Shah", FOREIGN_MAIL, "en"))
    return h


def confirmation(company_id: str = LOMBARD, role: str = "lombard") -> EnrollmentConfirmed:
    payload = Enrollment(enrollment_id=f"e-{company_id}", company_id=company_id, mission_id="india-2020", role=role)  # type: ignore[arg-type]
    return EnrollmentConfirmed.new(source="registration", subject="india-2020", data=payload, time=T0)


async def fire(h: Harness, timer_id: str) -> str:
    """One firing as the timer runner does it: ``done``, ``retry`` (with the time asked for set on the clock) or ``crash``."""
    item = h.timers.claim(timer_id)
    try:
        await h.notifications.fire(item)
    except RetryAt as retry:
        h.clock.now = max(h.clock.now, retry.when)
        return "retry"
    except Crash:
        return "crash"
    h.timers.done(timer_id)
    return "done"


async def fire_all(h: Harness) -> list[str]:
    return [await fire(h, t.timer_id) for t in h.timers.pending()]


def the_delivery(h: Harness) -> dict[str, Any]:
    [doc] = h.store.docs.values()
    return doc


# ---------------------------------------------------------------- planning and sending


async def test_a_confirmation_is_sent_once_however_often_its_event_and_its_timer_come_again() -> None:
    h = await ready()
    event = confirmation()
    await h.notifications.enrollment_confirmed(event)
    await h.notifications.enrollment_confirmed(event)
    [timer] = h.timers.pending()
    assert await fire(h, timer.timer_id) == "done"
    assert await fire(h, timer.timer_id) == "done", "a second firing (an expired lease) finds the delivery finished"
    await h.notifications.enrollment_confirmed(event)
    await fire_all(h)
    [message] = h.mail.received
    assert message["To"] == f"Mario Rossi <{LOMBARD_MAIL}>" and message["Subject"] == "Iscrizione confermata: missione India"
    [sent] = h.store.events(SENT)
    assert (sent.data.attempts, sent.data.language, sent.subject) == (1, "it", LOMBARD)
    assert sent.causation_id == event.id and LOMBARD_MAIL not in sent.model_dump_json()
    assert the_delivery(h)["state"] == "sent" and [a["state"] for a in the_delivery(h)["attempt_log"]] == ["sent"]


async def test_a_recipient_without_a_contact_waits_with_backoff_then_fails_as_no_contact() -> None:
    h = await ready(DeliveryPolicy(wait_attempts=3, wait_backoff_s=(60.0, 1800.0)), contacts=False)
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    began = h.clock()
    assert [await fire(h, timer.timer_id) for _ in range(2)] == ["retry", "retry"]
    assert h.clock() - began == timedelta(seconds=60 + 120), "backoff doubles"
    assert not h.store.docs, "waiting writes nothing"
    assert await fire(h, timer.timer_id) == "done"
    [failed] = h.store.events(FAILED)
    assert (failed.data.reason, failed.data.attempts) == ("no_contact", 0) and not h.mail.received


async def test_a_contact_that_arrives_while_waiting_is_used() -> None:
    h = await ready(contacts=False)
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    assert await fire(h, timer.timer_id) == "retry"
    await h.notifications.contact_recorded(contact(LOMBARD, "Mario Rossi", LOMBARD_MAIL, "it", chosen="en"))
    assert await fire(h, timer.timer_id) == "done"
    [message] = h.mail.received
    assert message["Subject"].startswith("Enrollment confirmed"), "the contact's own language choice wins"


@pytest.mark.parametrize("name", ["Mario\x07Rossi", "Mario\x00", "Mario\x1b[31m Rossi"])
async def test_a_contact_name_with_control_characters_fails_at_once_as_an_invalid_recipient(name: str) -> None:
    """A fuzzer find: this raised InvalidContent out of the timer callback, retried after each lease up to 50 times."""
    h = await ready()
    await h.notifications.contact_recorded(contact(LOMBARD, name, LOMBARD_MAIL, "it"))
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    assert await fire(h, timer.timer_id) == "done"
    [failed] = h.store.events(FAILED)
    assert failed.data.reason == "invalid_recipient" and "control characters" in failed.data.detail and not h.mail.received


async def test_temporary_failures_are_retried_with_backoff_and_permanent_ones_reported_once() -> None:
    h = await ready()
    h.mail.outcomes = ["temporary", "temporary"]
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    assert [await fire(h, timer.timer_id) for _ in range(3)] == ["retry", "retry", "done"]
    [sent] = h.store.events(SENT)
    assert sent.data.attempts == 3 and len(h.mail.received) == 1
    assert [(a["n"], a["state"], a["code"]) for a in the_delivery(h)["attempt_log"]] == [
        (1, "temporary", 451),
        (2, "temporary", 451),
        (3, "sent", None),
    ]

    h = await ready()
    h.mail.outcomes = ["permanent"]
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    assert await fire(h, timer.timer_id) == "done"
    assert await fire(h, timer.timer_id) == "done"
    [failed] = h.store.events(FAILED)
    assert (failed.data.reason, failed.data.smtp_code, failed.data.attempts) == ("permanent_smtp_error", 550, 1)
    assert "someone@example.test" not in failed.data.detail and "someone@example.test" not in str(the_delivery(h))


async def test_retries_run_out_after_the_attempts_allowed() -> None:
    h = await ready(DeliveryPolicy(send_attempts=2))
    h.mail.outcomes = ["temporary"] * 5
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    assert [await fire(h, timer.timer_id) for _ in range(3)] == ["retry", "done", "done"]
    [failed] = h.store.events(FAILED)
    assert (failed.data.reason, failed.data.attempts) == ("retries_exhausted", 2) and not h.store.events(SENT)


# ---------------------------------------------------------------- unconfirmed sends


@pytest.mark.parametrize("how", ["crash", "unconfirmed"])
async def test_an_unconfirmed_send_is_reported_and_resent_by_policy_with_the_same_message_id(how: str) -> None:
    h = await ready()
    h.mail.outcomes = [how]
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    assert await fire(h, timer.timer_id) == ("crash" if how == "crash" else "retry")
    assert the_delivery(h)["state"] == "sending", "the intent was saved before the send"
    assert await fire(h, timer.timer_id) == "done"
    first, second = h.mail.received
    assert first["Message-ID"] == second["Message-ID"]
    [noticed] = h.store.events(UNCONFIRMED)
    [resolved] = h.store.events(RESOLVED)
    assert (noticed.data.attempt, noticed.data.policy, noticed.data.message_id) == (1, "resend", first["Message-ID"])
    assert (resolved.data.resolution, resolved.data.by) == ("resent", "policy")
    [sent] = h.store.events(SENT)
    assert sent.data.attempts == 2
    assert [a["state"] for a in the_delivery(h)["attempt_log"]] == ["unconfirmed_resent", "sent"]


async def test_a_held_send_waits_for_the_operator_and_each_verdict_counts_once() -> None:
    held = DeliveryPolicy(unconfirmed=(("enrollment_confirmation", "hold"),))
    h = await ready(held)
    h.mail.outcomes = ["crash"]
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    await fire(h, timer.timer_id)
    assert [await fire(h, timer.timer_id) for _ in range(2)] == ["done", "done"]
    assert len(h.mail.received) == 1 and the_delivery(h)["state"] == "unconfirmed"
    assert len(h.store.events(UNCONFIRMED)) == 1, "reported once, however often it fires"
    nid = the_delivery(h)["_id"]
    assert await h.notifications.resolve_unconfirmed(nid, "delivered", "anna.bianchi")
    assert not await h.notifications.resolve_unconfirmed(nid, "resend", "someone.else"), "resolved already"
    [resolved] = h.store.events(RESOLVED)
    assert (resolved.data.resolution, resolved.data.by, resolved.data.operator) == ("delivered", "operator", "anna.bianchi")
    [sent] = h.store.events(SENT)
    assert sent.data.attempts == 1 and len(h.mail.received) == 1
    assert not await h.notifications.resolve_unconfirmed("no-such-notification", "drop", "anna.bianchi")


async def test_an_operators_resend_fires_the_timer_again_and_a_drop_ends_the_delivery() -> None:
    held = DeliveryPolicy(unconfirmed=(("enrollment_confirmation", "hold"),))
    for action, sends, state in (("resend", 2, "sent"), ("drop", 1, "dropped")):
        h = await ready(held)
        h.mail.outcomes = ["crash"]
        await h.notifications.enrollment_confirmed(confirmation())
        [timer] = h.timers.pending()
        await fire(h, timer.timer_id)
        await fire(h, timer.timer_id)
        h.timers.done(timer.timer_id)
        assert await h.notifications.resolve_unconfirmed(the_delivery(h)["_id"], action, "anna.bianchi")  # type: ignore[arg-type]
        await fire_all(h)
        await fire(h, timer.timer_id)
        assert (len(h.mail.received), the_delivery(h)["state"]) == (sends, state), action


# ---------------------------------------------------------------- concurrency and erasure


async def test_a_second_process_that_began_the_same_attempt_wins_and_this_one_sends_nothing() -> None:
    h = await ready()
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    real_save = h.store.deliveries.save
    raced = False

    async def other_process_first(delivery: Any, prepared: Any = None) -> Any:
        nonlocal raced
        if not raced and delivery.state == "sending":
            raced = True
            rival = await h.store.delivery(delivery.id) or Delivery.planned(Plan.from_data(timer.timer_id, timer.due_at, timer.data))
            rival.begin_attempt("it", LOMBARD_MAIL, "<rival@outgoing>", h.clock())
            await real_save(rival)
        return await real_save(delivery, prepared)

    h.store.deliveries.save = other_process_first  # type: ignore[method-assign]
    assert await fire(h, timer.timer_id) == "done"
    assert not h.mail.received, "the rival's attempt is the rival's to finish"


async def test_a_write_between_load_and_save_is_met_by_loading_again_not_by_sending_twice() -> None:
    """Another write to a stored delivery (an erasure's scrub bumps its version) is not another sender."""
    h = await ready()
    h.mail.outcomes = ["temporary"]
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    assert await fire(h, timer.timer_id) == "retry"
    h.store.deliveries.interfere(_nid(h), 2)  # type: ignore[attr-defined]
    assert await fire(h, timer.timer_id) == "done"
    assert len(h.mail.received) == 1 and h.store.events(SENT)[0].data.attempts == 2


def _nid(h: Harness) -> str:
    [timer] = h.timers.timers.values()
    return str(timer.data["notification_id"])


async def test_an_erasure_during_the_send_keeps_the_outcome_and_not_the_address() -> None:
    h = await ready()
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    erasure = CompanyErased.new(source="registration", subject=LOMBARD, data=Erasure(company_id=LOMBARD), time=T0 + timedelta(minutes=1))

    async def erase() -> None:
        await h.notifications.company_erased(erasure)

    h.mail.during_send = erase
    assert await fire(h, timer.timer_id) == "done"
    assert len(h.store.events(SENT)) == 1
    doc = the_delivery(h)
    assert doc["state"] == "sent" and doc["erased"] and LOMBARD_MAIL not in str(doc), "the save after the erasure conflicted and was redone"
    await h.notifications.enrollment_confirmed(confirmation())
    assert not h.timers.pending(), "nothing new is planned for an erased company"


async def test_a_legacy_delivery_with_its_attempts_apart_is_read_and_resolved_by_policy() -> None:
    h = await ready()
    event = confirmation()
    await h.notifications.enrollment_confirmed(event)
    [timer] = h.timers.pending()
    nid = timer.data["notification_id"]
    h.store.docs[nid] = {
        "_id": nid,
        "kind": "enrollment_confirmation",
        "company_id": LOMBARD,
        "timer_id": timer.timer_id,
        "source_event_id": str(event.id),
        "state": "sending",
        "attempts": 1,
        "recipient": LOMBARD_MAIL,
    }
    h.store.legacy_attempts[f"{nid}#1"] = {"_id": f"{nid}#1", "n": 1, "state": "sending", "message_id": "<m@outgoing>", "started_at": T0}
    assert await fire(h, timer.timer_id) == "done"
    [noticed] = h.store.events(UNCONFIRMED)
    assert noticed.data.message_id == "<m@outgoing>" and h.store.events(SENT)[0].data.attempts == 2
    assert the_delivery(h)["version"] == 3 and [a["n"] for a in the_delivery(h)["attempt_log"]] == [1, 2]


# ---------------------------------------------------------------- meetings


async def test_a_reminder_for_a_meeting_moved_since_is_superseded_and_the_update_carries_the_new_sequence() -> None:
    h = await ready()
    scheduled = MeetingScheduled.new(source="matching", subject="india-2020", data=meeting(), time=T0)
    await h.notifications.meeting_scheduled(scheduled)
    moved = meeting(start=START + timedelta(days=1), sequence=1)
    move = MeetingMove(meeting=moved, previous_start=START, previous_end=START + timedelta(minutes=30), reason="partner asked")
    await h.notifications.meeting_scheduled(
        MeetingRescheduled.new(source="matching", subject="india-2020", data=move, time=T0 + timedelta(hours=1))
    )
    await h.notifications.meeting_scheduled(scheduled)  # a late replay of the first version changes nothing
    h.clock.now = START + timedelta(days=2)
    await fire_all(h)
    kinds = sorted(d["kind"] + ":" + d["state"] for d in h.store.docs.values())
    assert kinds.count("meeting_invitation:superseded") == 2 and kinds.count("meeting_update:sent") == 2
    calendars = [
        Calendar.from_ical(p.get_payload(decode=True)) for m in h.mail.received for p in m.walk() if p.get_content_type() == "text/calendar"
    ]
    assert len(calendars) == 2 and {int(c.walk("VEVENT")[0]["SEQUENCE"]) for c in calendars} == {1}


async def test_a_cancellation_cancels_the_reminders_and_tells_both_sides() -> None:
    h = await ready()
    await h.notifications.meeting_scheduled(MeetingScheduled.new(source="matching", subject="india-2020", data=meeting(), time=T0))
    cancellation = MeetingCancellation(
        meeting_id="india-2020-m0001",
        mission_id="india-2020",
        participants=[LOMBARD, FOREIGN],
        start=START,
        end=START + timedelta(minutes=30),
        sequence=1,
        reason="withdrawn",
    )
    await h.notifications.meeting_cancelled(
        MeetingCancelled.new(source="matching", subject="india-2020", data=cancellation, time=T0 + timedelta(hours=1))
    )
    assert not [t for t in h.timers.pending() if t.timer_id.startswith("reminder:")]
    h.clock.now = START
    await fire_all(h)
    cancelled = [
        m for m in h.mail.received for p in m.walk() if p.get_content_type() == "text/calendar" and p.get_param("method") == "CANCEL"
    ]
    assert sorted(m["To"].addresses[0].addr_spec for m in cancelled) == sorted([LOMBARD_MAIL, FOREIGN_MAIL])


# ---------------------------------------------------------------- any outcome sequence


OUTCOMES = st.lists(st.sampled_from(["ok", "temporary", "permanent", "unconfirmed", "lost", "crash"]), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(outcomes=OUTCOMES, conflicts=st.integers(0, 2))
async def test_whatever_the_server_and_the_process_do_nothing_reaches_the_server_twice_unreported(
    outcomes: list[str], conflicts: int
) -> None:
    h = await ready(DeliveryPolicy(send_attempts=4))
    h.mail.outcomes = list(outcomes)
    await h.notifications.enrollment_confirmed(confirmation())
    [timer] = h.timers.pending()
    for firing in range(20):
        if firing == 1:  # once the delivery is stored: another write to it, which is not another sender
            h.store.deliveries.interfere(_nid(h), conflicts)  # type: ignore[attr-defined]
        if await fire(h, timer.timer_id) == "done":
            break
    doc = the_delivery(h)
    assert doc["state"] in TERMINAL
    sent, failed, noticed = h.store.events(SENT), h.store.events(FAILED), h.store.events(UNCONFIRMED)
    assert len(sent) + len(failed) == 1, "exactly one outcome"
    assert len(h.mail.received) <= 1 + len(noticed), "every copy beyond the first was reported as unconfirmed"
    assert len({e.id for e in h.store.events()}) == len(h.store.events()), "no event recorded twice"
    if sent:
        assert h.mail.received, "sent means the server took it"
        assert sent[0].data.attempts == len(doc["attempt_log"])
    assert {m["Message-ID"] for m in h.mail.received} <= {doc["attempt_log"][0]["message_id"]}
