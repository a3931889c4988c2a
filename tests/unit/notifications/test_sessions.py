"""Session e-mails (training and orientation webinars) against the store, timers and mail server in memory.

Each session event becomes the messages it should, in the company's language and zone;
a replay plans nothing new; reminders follow the seat and the session (dropped with the
seat or the session, re-armed when the session moves).
"""

from __future__ import annotations

import copy
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, get_args

import pytest
from icalendar import Calendar

from services.notifications.composing import Composer
from services.notifications.domain.message import wire_bytes
from services.notifications.domain.sessions import Invitee, reminder_timer_id
from services.notifications.domain.unconfirmed import DEFAULT_POLICY
from services.notifications.rendering import Renderer
from services.notifications.store import invitee_document, invitee_from, invitee_key
from services.notifications.use_cases import Notifications
from shared.contracts.notifications import NotificationKind
from shared.contracts.registration import CompanyErased, CompanyRegistered, Erasure
from shared.outbox import DocumentRef
from tests.factories import TEST_LINKS, mission, mission_planned
from tests.mail_factories import FOREIGN, FOREIGN_MAIL, LOMBARD, LOMBARD_MAIL, T0, FakeClock, contact, profile
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
from tests.unit.notifications.fakes import FakeMailServer, FakeNotificationStore, FakeTimers, Harness
from tests.unit.notifications.test_use_cases import fire, fire_all

OFFSETS = [86400.0, 3600.0]


class SessionStore(FakeNotificationStore):
    """The fake store, with invitees kept as the documents the real codec writes."""

    def __init__(self) -> None:
        self.invitees: dict[str, dict[str, Any]] = {}
        super().__init__()

    async def invitee(self, session_id: str, company_id: str) -> Invitee | None:
        doc = self.invitees.get(invitee_key(session_id, company_id))
        return invitee_from(copy.deepcopy(doc)) if doc else None

    async def save_invitee(self, invitee: Invitee) -> None:
        doc = invitee_document(invitee)
        self.invitees[doc["_id"]] = doc


async def ready(*, lombard_language: str = "it") -> Harness:
    clock = FakeClock(T0)
    store = SessionStore()
    timers = FakeTimers(clock)
    mail = FakeMailServer()

    async def flush(refs: list[DocumentRef]) -> int:
        return len(refs)

    composer = Composer(
        store, Renderer(None), "Outgoing <missions@outgoing.example>", "https://survey.outgoing.example/f", clock, TEST_LINKS
    )
    h = Harness(store, timers, mail, clock, Notifications(store, timers, composer, mail, flush, clock, OFFSETS))  # type: ignore[arg-type]
    for mission_id in ("india-2020", "uk-2020"):
        await h.notifications.mission_planned(mission_planned(mission(mission_id)))
    for company in (profile(LOMBARD, "lombard", "Rossi Meccanica S.r.l."), profile(FOREIGN, "foreign", "Mumbai Machine Tools Pvt Ltd")):
        await h.notifications.company_changed(
            CompanyRegistered.new(source="registration", subject=company.company_id, data=company, time=T0 - timedelta(days=30))
        )
    await h.notifications.contact_recorded(contact(LOMBARD, "Mario Rossi", LOMBARD_MAIL, "it", chosen=lombard_language))
    await h.notifications.contact_recorded(contact(FOREIGN, "Priya Shah", FOREIGN_MAIL, "en"))
    return h


def received(h: Harness) -> list[EmailMessage]:
    """What the server got, as a mail program reads it."""
    return [BytesParser(policy=policy.default).parsebytes(wire_bytes(m)) for m in h.mail.received]  # type: ignore[misc]


def to(h: Harness, address: str) -> list[EmailMessage]:
    return [m for m in received(h) if m["To"].addresses[0].addr_spec == address]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def calendar_of(message: EmailMessage) -> tuple[str, Any]:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    return str(part.get_param("method")), event


def pending(h: Harness, prefix: str = "") -> dict[str, Any]:
    return {t.timer_id: t for t in h.timers.pending() if t.timer_id.startswith(prefix)}


def kinds(h: Harness) -> list[str]:
    return sorted(f"{d['kind']}:{d['state']}" for d in h.store.docs.values())


# ---------------------------------------------------------------- invitations


async def test_an_invitation_is_one_message_per_company_in_its_language_and_zone_with_its_own_calendar_entry() -> None:
    h = await ready()
    to_lombard, to_foreign = invited(LOMBARD), invited(FOREIGN, required_by=())
    await h.notifications.sessions.invited(to_lombard)
    await h.notifications.sessions.invited(to_foreign)
    assert set(pending(h)) == {f"session_invitation:{to_lombard.id}:{LOMBARD}", f"session_invitation:{to_foreign.id}:{FOREIGN}"}
    assert {t.due_at for t in h.timers.pending()} == {T0}, "due at the event's own time"
    await fire_all(h)
    [italian], [english] = to(h, LOMBARD_MAIL), to(h, FOREIGN_MAIL)
    assert italian["Subject"] == f"Invito: {TITLE_IT}, venerdì 23 ottobre 2020, 10:00–11:00 (Europe/Rome, CEST, UTC+02:00)"
    assert english["Subject"] == f"Invitation: {TITLE_EN}, Friday 23 October 2020, 13:30–14:30 (Asia/Kolkata, IST, UTC+05:30)"
    assert italian["Content-Language"] == "it" and english["Content-Language"] == "en"
    assert "della missione India (india-2020)" in text_of(italian) and LINK in text_of(italian)
    assert "required before" not in text_of(english), "no mission waits for it: nothing said"
    for message, company in ((italian, LOMBARD), (english, FOREIGN)):
        method, event = calendar_of(message)
        assert method == "REQUEST" and str(event["UID"]) == f"{SESSION_ID}.{company}@sessions.outgoing"
        assert int(event["SEQUENCE"]) == 0 and event.decoded("DTSTART") == SESSION_START
        assert str(event["STATUS"]) == "CONFIRMED" and str(event["LOCATION"]) == LINK
    assert [p.get_filename() for p in italian.iter_attachments()] == ["invite.ics"]


async def test_the_contacts_own_language_choice_wins_for_the_title_too() -> None:
    h = await ready(lombard_language="en")
    await h.notifications.sessions.invited(invited(LOMBARD))
    await fire_all(h)
    [message] = received(h)
    assert message["Subject"].startswith(f"Invitation: {TITLE_EN}, Friday 23 October 2020, 10:00–11:00 (Europe/Rome, CEST")


async def test_a_moved_session_is_an_update_that_says_what_changed_and_moves_the_reminders() -> None:
    h = await ready()
    await h.notifications.sessions.invited(invited(LOMBARD))
    await h.notifications.sessions.seat_changed(seat(LOMBARD, "confirmed"))
    before = pending(h, "session_reminder:")
    assert {t.due_at for t in before.values()} == {SESSION_START - timedelta(hours=24), SESSION_START - timedelta(hours=1)}
    await h.notifications.sessions.invited(invited(LOMBARD, 1, orientation(MOVED_TO), time=T0 + timedelta(hours=1)))
    after = pending(h, "session_reminder:")
    assert set(after) == set(before), "the same timers, re-armed"
    assert {t.due_at for t in after.values()} == {MOVED_TO - timedelta(hours=24), MOVED_TO - timedelta(hours=1)}
    await fire_all(h)
    assert kinds(h).count("session_invitation:superseded") == 1, "the first version had not gone out yet: only the update does"
    [seat_mail, update, *reminders] = received(h)
    assert seat_mail["Subject"] == f"Posto confermato: {TITLE_IT}"
    assert update["Subject"] == f"Sessione modificata: {TITLE_IT}, martedì 27 ottobre 2020, 10:00–11:00 (Europe/Rome, CET, UTC+01:00)"
    assert "Orario precedente: venerdì 23 ottobre 2020, 10:00–11:00 (Europe/Rome, CEST, UTC+02:00)" in text_of(update)
    method, event = calendar_of(update)
    assert (method, int(event["SEQUENCE"]), event.decoded("DTSTART")) == ("REQUEST", 1, MOVED_TO)
    assert str(event["UID"]) == f"{SESSION_ID}.{LOMBARD}@sessions.outgoing"
    assert [m["Subject"] for m in reminders] == [
        f"Promemoria: {TITLE_IT} tra 24 ore",
        f"Promemoria: {TITLE_IT} tra 1 ora",
    ]
    assert "martedì 27 ottobre 2020, 10:00–11:00" in text_of(reminders[0])


async def test_a_reminder_claimed_before_the_move_is_superseded_not_sent_for_the_old_time() -> None:
    h = await ready()
    await h.notifications.sessions.invited(invited(LOMBARD))
    await h.notifications.sessions.seat_changed(seat(LOMBARD, "confirmed"))
    timer_id = reminder_timer_id(SESSION_ID, LOMBARD, 3600)
    claimed = h.timers.claim(timer_id)
    await h.notifications.sessions.invited(invited(LOMBARD, 1, orientation(MOVED_TO), time=T0 + timedelta(hours=1)))
    await h.notifications.fire(claimed)
    [stale] = [d for d in h.store.docs.values() if d["kind"] == "session_reminder"]
    assert (stale["state"], stale["reason"]) == ("superseded", "session moved") and not h.mail.received


async def test_a_cancelled_session_cancels_the_calendar_entry_and_the_reminders_and_says_so_once() -> None:
    h = await ready()
    await h.notifications.sessions.invited(invited(LOMBARD))
    await h.notifications.sessions.seat_changed(seat(LOMBARD, "confirmed"))
    await fire_all(h)
    cancelled = orientation(status="cancelled")
    later = T0 + timedelta(hours=2)
    await h.notifications.sessions.invited(invited(LOMBARD, 1, cancelled, time=later))
    await h.notifications.sessions.seat_changed(seat(LOMBARD, "released", 1, cancelled, time=later, reason="session_cancelled"))
    assert not pending(h, "session_reminder:"), "reminders cancelled"
    assert [t.timer_id.split(":")[0] for t in h.timers.pending()] == ["session_cancellation"], "no seat e-mail besides it"
    await fire_all(h)
    cancellation = received(h)[-1]
    assert cancellation["Subject"] == f"Sessione annullata: {TITLE_IT}, venerdì 23 ottobre 2020, 10:00–11:00 (Europe/Rome, CEST, UTC+02:00)"
    method, event = calendar_of(cancellation)
    assert (method, str(event["STATUS"]), int(event["SEQUENCE"])) == ("CANCEL", "CANCELLED", 1)
    assert str(event["UID"]) == f"{SESSION_ID}.{LOMBARD}@sessions.outgoing"
    assert [p.get_filename() for p in cancellation.iter_attachments()] == ["cancel.ics"]


async def test_an_older_version_arriving_late_plans_nothing() -> None:
    h = await ready()
    first = invited(LOMBARD)
    await h.notifications.sessions.invited(invited(LOMBARD, 1, orientation(MOVED_TO), time=T0 + timedelta(hours=1)))
    await h.notifications.sessions.invited(first)
    [timer] = h.timers.pending()
    assert timer.data["kind"] == "session_invitation" and timer.data["details"]["sequence"] == 1


async def test_a_session_planned_again_after_its_cancellation_is_a_fresh_invitation_and_the_cancellation_is_dropped() -> None:
    h = await ready()
    await h.notifications.sessions.invited(invited(LOMBARD))
    await fire_all(h)
    await h.notifications.sessions.invited(invited(LOMBARD, 1, orientation(status="cancelled"), time=T0 + timedelta(hours=1)))
    await h.notifications.sessions.invited(invited(LOMBARD, 2, orientation(MOVED_TO), time=T0 + timedelta(hours=2)))
    await fire_all(h)
    assert kinds(h) == ["session_cancellation:superseded", "session_invitation:sent", "session_invitation:sent"]
    method, event = calendar_of(received(h)[-1])
    assert (method, int(event["SEQUENCE"]), event.decoded("DTSTART")) == ("REQUEST", 2, MOVED_TO)


# ---------------------------------------------------------------- seats and reminders


@pytest.mark.parametrize(
    ("status", "extra", "subject", "says"),
    [
        ("confirmed", {}, f"Posto confermato: {TITLE_IT}", "il suo posto è confermato"),
        ("confirmed", {"promoted": True}, f"Si è liberato un posto: {TITLE_IT}", "la sua iscrizione in lista d'attesa è ora confermata"),
        ("waitlisted", {"position": 3}, f"Lista d'attesa, posizione 3: {TITLE_IT}", "in lista d'attesa, in posizione 3"),
        ("released", {"reason": "company"}, f"Posto rilasciato: {TITLE_IT}", "è stato rilasciato, come richiesto"),
    ],
)
async def test_each_seat_change_is_one_message(status: str, extra: dict[str, Any], subject: str, says: str) -> None:
    h = await ready()
    await h.notifications.sessions.invited(invited(LOMBARD))
    await fire_all(h)
    await h.notifications.sessions.seat_changed(seat(LOMBARD, status, **extra))
    reminders = pending(h, "session_reminder:")
    assert len(reminders) == (2 if status == "confirmed" else 0), "reminders only for a confirmed seat"
    assert [t.data["kind"] for t in h.timers.pending() if t.timer_id not in reminders] == ["session_seat"]
    await fire(h, next(t.timer_id for t in h.timers.pending() if t.timer_id not in reminders))
    message = received(h)[-1]
    assert message["Subject"] == subject and says in text_of(message)
    assert not [p for p in message.walk() if p.get_content_type() == "text/calendar"], "the invitation carries the calendar entry"


async def test_seat_messages_in_english() -> None:
    h = await ready()
    await h.notifications.sessions.seat_changed(seat(FOREIGN, "waitlisted", position=2))
    await h.notifications.sessions.seat_changed(seat(FOREIGN, "confirmed", promoted=True, time=T0 + timedelta(hours=1)))
    for timer in h.timers.pending():
        if timer.data["kind"] == "session_seat":
            await fire(h, timer.timer_id)
    assert kinds(h) == ["session_seat:sent", "session_seat:superseded"], "the waiting list is old news once promoted"
    [promoted] = received(h)
    assert promoted["Subject"] == f"A seat came free: {TITLE_EN}"
    assert "your place on the waiting list is now a confirmed seat" in text_of(promoted) and "13:30–14:30 (Asia/Kolkata" in text_of(
        promoted
    )


async def test_reminders_only_in_the_future() -> None:
    h = await ready()
    await h.notifications.sessions.seat_changed(seat(LOMBARD, "confirmed", time=SESSION_START - timedelta(hours=2)))
    assert [t.due_at for t in pending(h, "session_reminder:").values()] == [SESSION_START - timedelta(hours=1)]


async def test_a_released_seat_drops_its_reminders_and_a_firing_already_under_way_sends_nothing() -> None:
    h = await ready()
    await h.notifications.sessions.seat_changed(seat(LOMBARD, "confirmed"))
    claimed = h.timers.claim(reminder_timer_id(SESSION_ID, LOMBARD, 86400))
    await h.notifications.sessions.seat_changed(seat(LOMBARD, "released", time=T0 + timedelta(hours=1), reason="company"))
    assert not pending(h, "session_reminder:")
    await h.notifications.fire(claimed)
    [reminder] = [d for d in h.store.docs.values() if d["kind"] == "session_reminder"]
    assert (reminder["state"], reminder["reason"]) == ("superseded", "seat no longer held") and not h.mail.received


async def test_a_seat_change_older_than_the_one_known_is_ignored() -> None:
    h = await ready()
    old = seat(LOMBARD, "confirmed", time=T0)
    await h.notifications.sessions.seat_changed(seat(LOMBARD, "released", time=T0 + timedelta(hours=1), reason="company"))
    await h.notifications.sessions.seat_changed(old)
    assert [t.data["kind"] for t in h.timers.pending()] == ["session_seat"] and not pending(h, "session_reminder:")


# ---------------------------------------------------------------- attendance


async def test_a_missed_session_tells_the_company_which_missions_wait_and_what_to_do() -> None:
    h = await ready()
    await h.notifications.sessions.attendance_recorded(attendance(LOMBARD, attended=False))
    await h.notifications.sessions.attendance_recorded(attendance(FOREIGN, attended=False, required_by=("india-2020", "uk-2020")))
    await fire_all(h)
    [italian], [english] = to(h, LOMBARD_MAIL), to(h, FOREIGN_MAIL)
    assert italian["Subject"] == f"Sessione di orientamento non frequentata: {TITLE_IT}"
    text = text_of(italian)
    assert "La missione India (india-2020) richiede la sessione di orientamento prima che i suoi incontri B2B siano programmati" in text
    assert "si iscriva a un'altra sessione di orientamento della missione" in text and "risponda a questa e-mail" in text
    text = text_of(english)
    assert "The missions India (india-2020), United Kingdom (uk-2020) require the orientation session before your B2B meetings" in text
    assert "register for another orientation session" in text and "reply to this e-mail" in text


async def test_no_missed_session_message_for_who_attended_or_has_no_mission_waiting() -> None:
    h = await ready()
    await h.notifications.sessions.attendance_recorded(attendance(LOMBARD, attended=True))
    await h.notifications.sessions.attendance_recorded(attendance(FOREIGN, attended=False, required_by=()))
    assert not h.timers.pending()


# ---------------------------------------------------------------- idempotency and erasure


async def test_replaying_every_session_event_sends_nothing_twice() -> None:
    h = await ready()
    events = [
        invited(LOMBARD),
        seat(LOMBARD, "waitlisted", position=1, time=T0 + timedelta(minutes=1)),
        seat(LOMBARD, "confirmed", promoted=True, time=T0 + timedelta(minutes=2)),
        invited(LOMBARD, 1, orientation(MOVED_TO), time=T0 + timedelta(minutes=3)),
    ]
    missed = attendance(LOMBARD, attended=False, time=MOVED_TO + timedelta(hours=2))

    async def deliver_all() -> None:
        for event in events:
            await (h.notifications.sessions.invited if event.type == "session.invited.v1" else h.notifications.sessions.seat_changed)(event)  # type: ignore[operator]
        await h.notifications.sessions.attendance_recorded(missed)
        h.clock.now = MOVED_TO + timedelta(hours=3)
        await fire_all(h)

    await deliver_all()
    sent, timers = len(h.mail.received), dict(h.timers.timers)
    assert sent == 5, kinds(h)  # the update, the promotion, two reminders, the missed session
    await deliver_all()
    assert len(h.mail.received) == sent and h.timers.timers == timers, "the same plans: nothing new scheduled, nothing sent"


async def test_an_erased_company_gets_no_session_mail() -> None:
    h = await ready()
    await h.notifications.sessions.invited(invited(LOMBARD))
    await h.notifications.sessions.seat_changed(seat(LOMBARD, "confirmed"))
    erasure = CompanyErased.new(source="registration", subject=LOMBARD, data=Erasure(company_id=LOMBARD), time=T0 + timedelta(minutes=5))
    await h.notifications.company_erased(erasure)
    assert not h.timers.pending()
    await h.notifications.sessions.invited(invited(LOMBARD, 1, orientation(MOVED_TO), time=T0 + timedelta(hours=1)))
    await h.notifications.sessions.attendance_recorded(attendance(LOMBARD, attended=False))
    assert not h.timers.pending(), "nothing planned after the erasure"
    for timer_id in list(h.timers.timers):
        await fire(h, timer_id)
    assert not h.mail.received


def test_every_kind_has_an_unconfirmed_send_policy_and_templates_in_both_languages() -> None:
    every = set(get_args(NotificationKind))
    assert every == set(DEFAULT_POLICY)
    env = Renderer().env
    for kind in every:
        for language in ("it", "en"):
            env.get_template(f"{language}/{kind}.txt.j2")
            env.get_template(f"{language}/{kind}.html.j2")
