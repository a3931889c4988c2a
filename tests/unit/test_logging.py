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
