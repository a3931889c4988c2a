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
