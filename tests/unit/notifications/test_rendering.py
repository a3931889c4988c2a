"""Pure rendering: language choice, local times, templates, headers, calendar files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.parser import BytesParser
from uuid import UUID

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from services.notifications.domain.content import template_context
from services.notifications.domain.ics import CalendarEntry, build_calendar, meeting_uid
from services.notifications.domain.language import choose_language
from services.notifications.domain.message import Attachment, Rendered, build_message, wire_bytes
from services.notifications.domain.plans import Plan, reminder_plans, superseded
from services.notifications.domain.safety import InvalidContent, InvalidRecipient, header_text, recipient, zone
from services.notifications.domain.times import duration_text, local_span
from services.notifications.rendering import Renderer
from shared.contracts.matching import Meeting

START = datetime(2020, 10, 26, 9, 0, tzinfo=UTC)
SENDER = Address("Outgoing", "missions", "outgoing.example")
EVENT_ID = UUID("12345678-1234-5678-1234-567812345678")


def meeting_details(sequence: int = 0, start: datetime = START) -> dict:
    return {
        "meeting_id": "india-2020-m0001",
        "mission_id": "india-2020",
        "participants": ["lombard-0001", "foreign-0002"],
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "local_times": [
            {"company_id": "lombard-0001", "timezone": "Europe/Rome"},
            {"company_id": "foreign-0002", "timezone": "America/Toronto"},
        ],
        "video_url": "https://meet.example/r/1",
        "sequence": sequence,
    }


def plan(kind: str = "meeting_invitation", company: str = "lombard-0001", **details: object) -> Plan:
    return Plan(
        f"{kind}:{EVENT_ID}:{company}",
        f"{kind}:{EVENT_ID}:{company}",
        kind,
        company,
        START - timedelta(days=3),
        EVENT_ID,
        EVENT_ID,
        "india-2020",
        "india-2020-m0001",
        {"meeting": meeting_details(), **details},
    )


# ---------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("contact_choice", "recorded", "company", "role", "expected"),
    [
        (None, None, None, "lombard", "it"),
        (None, None, None, "foreign", "en"),
        ("en", "it", "it", "lombard", "en"),
        ("it", None, "en", "foreign", "it"),
        (None, "en", "it", "lombard", "en"),
        (None, None, "en", "lombard", "en"),
        ("fr", None, None, "lombard", "it"),
    ],
)
def test_the_contacts_choice_wins_then_the_role_decides(
    contact_choice: str | None, recorded: str | None, company: str | None, role: str, expected: str
) -> None:
    assert choose_language(contact_choice, recorded, company, role) == expected


# ---------------------------------------------------------------- times


def test_local_times_name_the_zone_across_the_two_dst_changes_of_2020() -> None:
    # Europe left summer time on 25 October, North America on 1 November.
    week_between = datetime(2020, 10, 27, 14, 0, tzinfo=UTC)
    assert (
        local_span(week_between, week_between + timedelta(minutes=30), "Europe/Rome", "it")
        == "martedì 27 ottobre 2020, 15:00–15:30 (Europe/Rome, CET, UTC+01:00)"
    )
    assert (
        local_span(week_between, week_between + timedelta(minutes=30), "America/Toronto", "en")
        == "Tuesday 27 October 2020, 10:00–10:30 (America/Toronto, EDT, UTC-04:00)"
    )
    after = datetime(2020, 11, 3, 14, 0, tzinfo=UTC)
    assert "09:00–09:30 (America/Toronto, EST, UTC-05:00)" in local_span(after, after + timedelta(minutes=30), "America/Toronto", "en")
    assert "19:30–20:00 (Asia/Kolkata, IST, UTC+05:30)" in local_span(after, after + timedelta(minutes=30), "Asia/Kolkata", "en")
    assert "17:00–17:30 (Europe/Moscow, MSK, UTC+03:00)" in local_span(after, after + timedelta(minutes=30), "Europe/Moscow", "en")


def test_an_unknown_zone_is_an_error_with_a_reason() -> None:
    with pytest.raises(InvalidContent, match="unknown time zone"):
        zone("Mars/Olympus_Mons")


def test_reminder_durations_read_naturally() -> None:
    assert [duration_text(s, "it") for s in (86400, 3600, 1800)] == ["24 ore", "1 ora", "30 minuti"]
    assert [duration_text(s, "en") for s in (86400, 3600, 60)] == ["24 hours", "1 hour", "1 minute"]


# ---------------------------------------------------------------- plans


def test_reminders_in_the_past_are_not_planned_and_ids_survive_a_move() -> None:
    meeting = Meeting.model_validate_json(json.dumps({**meeting_details(), "local_times": [], "slot_id": "s"}))
    plans, too_late = reminder_plans(EVENT_ID, EVENT_ID, meeting, [86400, 3600], now=START - timedelta(hours=2))
    assert [(p.company_id, p.due_at) for p in plans] == [
        ("lombard-0001", START - timedelta(hours=1)),
        ("foreign-0002", START - timedelta(hours=1)),
    ]
    assert too_late == ["reminder:india-2020-m0001:lombard-0001:86400", "reminder:india-2020-m0001:foreign-0002:86400"]
    moved = Meeting.model_validate_json(json.dumps({**meeting_details(1, START + timedelta(days=1)), "local_times": [], "slot_id": "s"}))
    again, _ = reminder_plans(UUID(int=7), UUID(int=7), moved, [86400, 3600], now=START - timedelta(hours=2))
    assert {p.timer_id for p in again} >= {p.timer_id for p in plans}, "a move re-arms the same timers"
    assert not {p.notification_id for p in again} & {p.notification_id for p in plans}, "but each is a new notification"


def test_meeting_notifications_are_superseded_by_later_versions_and_cancellation() -> None:
    assert superseded(plan(), {"status": "scheduled", "sequence": 0}) is None
    assert superseded(plan(), {"status": "scheduled", "sequence": 1}) == "meeting changed since"
    assert superseded(plan("reminder"), {"status": "cancelled", "sequence": 0}) == "meeting cancelled"
    assert superseded(plan("meeting_cancellation"), {"status": "cancelled", "sequence": 1}) is None


# ---------------------------------------------------------------- templates


def render(kind: str, language: str, partner_name: str = "Maple Foods Inc.", **details: object) -> Rendered:
    context = template_context(
        plan(kind, **details),
        language,
        "Mario Rossi",
        {"company_name": "Rossi S.r.l.", "role": "lombard"},
        {"company_name": partner_name},
        {"market": "Canada", "window_start": "2020-11-16", "window_end": "2020-11-27"},
        lambda meeting, company, kind: f"https://forms.example/f/{meeting}/{company}/{kind}?token=t0k3n",
    )
    return Renderer().render(kind, language, context)


@pytest.mark.parametrize("kind", ["meeting_invitation", "meeting_update", "meeting_cancellation", "reminder"])
def test_every_meeting_template_renders_in_both_languages(kind: str) -> None:
    extra = {"offset_s": 3600} if kind == "reminder" else {}
    italian, english = render(kind, "it", **extra), render(kind, "en", **extra)
    assert "Gentile Mario Rossi" in italian.text and "Dear Mario Rossi" in english.text
    assert "Maple Foods Inc." in italian.subject and "Maple Foods Inc." in english.subject
    assert "10:00–10:30 (Europe/Rome, CET, UTC+01:00)" in italian.text
    if kind != "meeting_cancellation":
        assert "https://meet.example/r/1" in italian.text and 'href="https://meet.example/r/1"' in english.html


def test_followups_link_to_the_upstream_form() -> None:
    followup = {
        "meeting_id": "india-2020-m0001",
        "kind": "outcome",
        "meeting_start": START.isoformat(),
        "meeting_end": (START + timedelta(minutes=30)).isoformat(),
        "participants": ["lombard-0001", "foreign-0002"],
    }
    rendered = render("followup_outcome", "en", followup=followup)
    assert "https://forms.example/f/india-2020-m0001/lombard-0001/outcome" in rendered.text


def test_rejection_lists_reasons_in_the_recipients_language() -> None:
    violations = [
        {"message_it": "Partita IVA non valida", "message_en": "Invalid VAT number"},
        {"message_it": "Settore non ammesso", "message_en": "Sector not accepted"},
    ]
    assert "- Partita IVA non valida\n- Settore non ammesso" in render("signup_rejection", "it", violations=violations).text
    assert "<li>Invalid VAT number</li><li>Sector not accepted</li>" in render("signup_rejection", "en", violations=violations).html


def test_html_escapes_company_names_and_text_keeps_them() -> None:
    rendered = render("meeting_invitation", "en", partner_name="<img src=x onerror=alert(1)>")
    assert "<img" not in rendered.html and "&lt;img src=x onerror=alert(1)&gt;" in rendered.html
    assert "<img src=x onerror=alert(1)>" in rendered.text


def test_a_template_dir_overrides_one_template_and_keeps_the_rest(tmp_path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "reminder.txt.j2").write_text(
        "{% block subject %}Soon: {{ partner_name }}{% endblock %}{% block body %}See you {{ when }}{% endblock %}"
    )
    context = template_context(
        plan("reminder", offset_s=3600), "en", "Mario", None, {"company_name": "<b>X</b>"}, None, lambda *_: "https://f"
    )
    renderer = Renderer(str(tmp_path))
    rendered = renderer.render("reminder", "en", context)
    assert rendered.subject == "Soon: <b>X</b>" and rendered.text.startswith("See you Monday 26 October 2020")
    assert "&lt;b&gt;X&lt;/b&gt;" in rendered.html, "the built-in HTML template is still used, autoescaped"


# ---------------------------------------------------------------- headers and addresses


@pytest.mark.parametrize("bad", ["Hello\r\nBcc: x@evil.example", "Hello\nBcc: x", "Hello\rX", "a\u2028b", "nul\x00byte"])
def test_line_breaks_or_control_characters_in_a_header_are_refused(bad: str) -> None:
    with pytest.raises(InvalidContent):
        header_text(bad, "subject")


@pytest.mark.parametrize(
    "address",
    ["not-an-address", "a@b@c.example", "x@evil.example, y@evil.example", "x@evil.example\r\nBcc: y@evil.example", "<x@evil.example>", ""],
)
def test_invalid_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidRecipient):
        recipient(address, "Name")


def message_for(subject: str, display_name: str = "Mario Rossi", calendar: Attachment | None = None):
    to = recipient("mario@rossi.example", display_name)
    return build_message("n-1", SENDER, to, Rendered(subject, "text", "<p>html</p>"), "it", START, calendar)


def test_a_message_has_text_html_and_calendar_parts() -> None:
    entry = CalendarEntry(
        "india-2020-m0001",
        3,
        START,
        START + timedelta(minutes=30),
        "S",
        "D",
        "https://v",
        SENDER,
        recipient("mario@rossi.example", "Mario"),
        START,
    )
    parsed = BytesParser(policy=policy.default).parsebytes(
        wire_bytes(message_for("Invito", calendar=Attachment(build_calendar(entry), "REQUEST")))
    )
    types = [part.get_content_type() for part in parsed.walk()]
    assert types == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/calendar", "application/ics"]
    calendar_part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "REQUEST"
    assert parsed["Message-ID"].endswith("@notifications.outgoing>") and parsed["Content-Language"] == "it"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=150))
def test_no_company_name_ever_produces_a_header_with_a_line_break(name: str) -> None:
    subject = f"Meeting with {name}"
    try:
        message = message_for(subject)
    except InvalidContent:
        assert any(ch in name for ch in "\r\n\x85\u2028\u2029") or any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name)
        return
    raw = wire_bytes(message)
    headers = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(not line.startswith((b"Bcc", b"bcc")) for line in headers)
    assert BytesParser(policy=policy.default).parsebytes(raw)["Subject"] == subject


# ---------------------------------------------------------------- calendar files


def entry(summary: str = "Meeting", sequence: int = 0, method: str = "REQUEST", start: datetime = START) -> CalendarEntry:
    return CalendarEntry(
        "india-2020-m0001",
        sequence,
        start,
        start + timedelta(minutes=30),
        summary,
        f"{summary}\nline two",
        "https://meet.example/r/1",
        SENDER,
        Address("Priya Shah", "priya", "mmt.example"),
        START,
        method,
    )  # type: ignore[arg-type]


def test_a_reschedule_keeps_the_uid_and_raises_the_sequence() -> None:
    first = Calendar.from_ical(build_calendar(entry()))
    moved = Calendar.from_ical(build_calendar(entry(sequence=1, start=START + timedelta(days=1))))
    cancel = Calendar.from_ical(build_calendar(entry(sequence=2, method="CANCEL")))
    events = [c.walk("VEVENT")[0] for c in (first, moved, cancel)]
    assert {str(e["UID"]) for e in events} == {meeting_uid("india-2020-m0001")}
    assert [int(e["SEQUENCE"]) for e in events] == [0, 1, 2]
    assert [str(c["METHOD"]) for c in (first, moved, cancel)] == ["REQUEST", "REQUEST", "CANCEL"]
    assert [str(e["STATUS"]) for e in events] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    assert events[1].decoded("DTSTART") == START + timedelta(days=1) and events[1].decoded("DTSTART").tzinfo is not None
    assert b"DTSTART:20201026T090000Z" in build_calendar(entry())
    assert str(events[0]["ORGANIZER"]) == "mailto:missions@outgoing.example" and events[0]["ATTENDEE"].params["CN"] == "Priya Shah"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=120))
@example("\\N")
@example("C:\\Nuove\\, sede; 2")
def test_any_text_round_trips_through_ics_escaping(summary: str) -> None:
    raw = build_calendar(entry(summary))
    lines = raw.decode().replace("\r\n ", "").split("\r\n")
    summary_lines = [line for line in lines if line.startswith("SUMMARY")]
    assert len(summary_lines) == 1, "a value never spills into another property"
    event = Calendar.from_ical(raw).walk("VEVENT")[0]
    expected = summary.replace("\r\n", "\n").replace("\r", "\n")
    assert str(event["SUMMARY"]) == expected
