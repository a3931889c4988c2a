from __future__ import annotations

import json
import logging

import structlog
from hypothesis import given
from hypothesis import strategies as st

from shared.logging import configure_logging, redact_personal_data, redact_text


def test_emails_and_phones_are_masked() -> None:
    text = "wrote to mario.rossi@azienda.it and called +39 02 1234 5678"
    assert redact_text(text) == "wrote to [email] and called [phone]"


def test_ids_dates_and_offsets_are_left_alone() -> None:
    text = "offset=1234 partition=2 on 2020-10-19T07:00:00Z id 9f1c2a4e-1b2c-4d5e-8f90-123456789abc"
    assert redact_text(text) == text


def test_sensitive_keys_are_redacted_recursively() -> None:
    event = redact_personal_data(None, "info", {"event": "x", "contact": {"email": "a@b.it"}, "items": [{"phone": "+39 333 1234567"}]})
    assert event["contact"] == "[redacted]"
    assert event["items"] == [{"phone": "[redacted]"}]


@given(st.emails())
def test_any_email_is_masked(email: str) -> None:
    assert email not in redact_text(f"contact: {email} ok")


def test_stdlib_and_structlog_lines_share_the_json_renderer(capsys) -> None:
    configure_logging("svc", "INFO", json_output=True)
    structlog.contextvars.bind_contextvars(event_id="e-1")
    try:
        structlog.stdlib.get_logger("t").info("hello", to="x@y.com")
        logging.getLogger("aiokafka").warning("broker says %s", "mail me at z@w.org")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event"] == "hello" and lines[0]["to"] == "[email]" and lines[0]["event_id"] == "e-1"
    assert lines[1]["event"] == "broker says mail me at [email]" and lines[1]["service"] == "svc"


def test_redaction_stays_linear_on_long_runs_without_an_at_sign() -> None:
    """A 100 KB string quoted in a validation error once took the e-mail pattern 15 s, the
    consumer's event loop with it, and its group membership: an endless redelivery loop."""
    import re

    from shared.logging import EMAIL_PATTERN

    long_run = "x" * 5000
    assert EMAIL_PATTERN.pattern.startswith("(?<!"), "matches may only start where a local part can"
    assert redact_text(long_run + " mario.rossi@rossi.example") == long_run + " [email]"
    assert re.search(EMAIL_PATTERN, "'mario@rossi.example'") is not None


def test_long_log_values_are_cut() -> None:
    from shared.logging import MAX_LOGGED_STRING, redact_personal_data

    event = redact_personal_data(None, "warning", {"event": "dead-lettered", "errors": [{"msg": "Input tag '" + "x" * 100_000 + "'"}]})
    assert len(event["errors"][0]["msg"]) < MAX_LOGGED_STRING + 50 and event["errors"][0]["msg"].endswith("characters)")


def test_unicode_and_quoted_addresses_are_masked() -> None:
    text = 'josé@example.com, 用户@例子.中国, संपर्क@डाटामेल.भारत, "john doe"@example.com, info@bücher.example, a@xn--e1afmkfd.xn--p1ai'
    assert redact_text(text) == "[email], [email], [email], [email], [email], [email]"


def test_phone_numbers_in_their_formats_and_never_a_bare_run_of_digits() -> None:
    phones = [
        "+39 02 1234 5678",
        "+393331234567",
        "0039 02 1234 5678",
        "(415) 555-2671",
        "333.123.4567",
        "8 (495) 123-45-67",
        "02/12345678",
    ]
    assert redact_text(" | ".join(phones)) == " | ".join(["[phone]"] * len(phones))
    kept = "offset 3331234567, IVA 01234567897, IT01234567897, at 1603091234567, took 0.123456789 s, 12.345.678 rows, 192.168.100.200"
    assert redact_text(kept) == kept


def test_ids_that_look_like_addresses_or_phone_numbers_are_kept() -> None:
    kept = (
        "Message-ID: <CAF=x7q@mail.gmail.com>, <0123456789abcdef0123456789abcdef@notifications.outgoing>, "
        "india-2020:3f2a9c01b2c3d4e5f6a7, 9f1c2a4e-1b2c-4d5e-8f90-123456789abc@2020-10-19T07:00Z, 2020-10-19 07:00:00+00:00, 19-10-2020"
    )
    assert redact_text(kept) == kept
    assert redact_text("<mario@azienda.it>") == "<[email]>", "an address in brackets is not a Message-ID"


def test_url_passwords_are_masked_in_log_lines() -> None:
    assert redact_text("cannot reach mongodb+srv://app:s3cret@cluster0.example.net/?tls=true") == (
        "cannot reach mongodb+srv://app:****@cluster0.example.net/?tls=true"
    )


def test_escapes_in_a_repr_hide_nothing() -> None:
    assert redact_text(repr("line\n+39 02 1234 5678\tjos\u00e9@example.com")) == "'line\\n[phone]\\t[email]'"
    assert redact_text('{"to": "jos\\u00e9@example.com"}') == '{"to": "[email]"}'


def _service_lines(capsys, json_output: bool) -> str:
    """A service's background loop fails with an exception carrying personal data, as
    shared/service.py logs it: ``log.exception`` with the traceback."""
    import asyncio

    from shared import service
    from shared.known_names import KNOWN_NAMES

    configure_logging("registration", "INFO", json_output=json_output)
    KNOWN_NAMES.remember("company-1", "Maria Rossi")
    calls = []

    async def loop() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("could not write to maria.rossi@rossi.example (Maria Rossi, +39 035 123456)")

    async def no_sleep(_seconds: float) -> None:
        return None

    original_sleep = service.asyncio.sleep
    service.asyncio.sleep = no_sleep  # type: ignore[assignment]
    try:
        asyncio.run(service._guarded(loop, type("Runtime", (), {"service": "registration"})()))  # type: ignore[arg-type]
    finally:
        service.asyncio.sleep = original_sleep  # type: ignore[assignment]
        KNOWN_NAMES.forget("company-1")
        configure_logging("tests", "INFO", json_output=False)
    return capsys.readouterr().out


def test_a_service_logging_an_exception_prints_no_personal_data(capsys) -> None:
    for json_output in (True, False):
        out = _service_lines(capsys, json_output)
        assert "background loop failed" in out
        assert ('"exc_type": "ValueError"' if json_output else "Traceback (most recent call last)") in out, "the traceback is there"
        for personal in ("maria.rossi@rossi.example", "Maria Rossi", "035 123456", "rossi.example"):
            assert personal not in out, (json_output, personal)
        assert "[email]" in out and "[name]" in out and "[phone]" in out
    json_line = json.loads(_service_lines(capsys, True).splitlines()[0])
    assert json_line["exception"][0]["exc_value"] == "could not write to [email] ([name], [phone])"


def test_a_line_that_cannot_be_redacted_is_withheld(capsys, monkeypatch) -> None:
    from shared import logging as shared_logging

    def broken(_line: str) -> str:
        raise RuntimeError("bug")

    monkeypatch.setattr(shared_logging, "redact_json_line", broken)
    configure_logging("svc", "INFO", json_output=True)
    try:
        structlog.stdlib.get_logger("t").info("hello", to="x@y.com")
    finally:
        configure_logging("tests", "INFO", json_output=False)
    assert json.loads(capsys.readouterr().out) == {"event": "log line withheld: its redaction failed (RuntimeError)", "level": "error"}
