"""structlog set-up shared by every process: JSON for machines, console for people.

Personal data never reaches a log line: e-mail addresses and phone numbers are masked
in every string value, including those coming from aiokafka and pymongo.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog

EMAIL_PATTERN = re.compile(r"(?<![A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-])[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
"""Starts only where a local part can start: without the look-behind, a long run of letters
with no "@" made the search quadratic (100 KB took 15 s, and stalled a consumer)."""
PHONE_PATTERN = re.compile(r"(?<![\w.:/-])\+?\d[\d\s().\-]{7,}\d(?![\w.:/-])")
REDACTED_EMAIL = "[email]"
REDACTED_PHONE = "[phone]"
SENSITIVE_KEYS = frozenset({"email", "phone", "contact", "contact_name", "password", "person"})
MAX_LOGGED_STRING = 2000
"""Longer string values are cut in log lines: a hostile record must not make its log line huge."""


def redact_text(text: str) -> str:
    text = EMAIL_PATTERN.sub(REDACTED_EMAIL, text)
    return PHONE_PATTERN.sub(_mask_phone, text)


def _mask_phone(match: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return REDACTED_PHONE if 8 <= digits <= 15 else match.group(0)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_LOGGED_STRING:
            value = f"{value[:MAX_LOGGED_STRING]}… ({len(value)} characters)"
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: "[redacted]" if str(k).lower() in SENSITIVE_KEYS else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask e-mail addresses and phone numbers anywhere in the event."""
    return {key: "[redacted]" if key.lower() in SENSITIVE_KEYS else _redact(value) for key, value in event_dict.items()}


def configure_logging(service: str, level: str = "INFO", json_output: bool | None = None) -> None:
    """Configure structlog and route stdlib logging (aiokafka, pymongo) through the same renderer."""
    if json_output is None:
        json_output = not sys.stdout.isatty()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        redact_personal_data,
    ]
    renderer: Any
    if json_output:
        renderer = structlog.processors.JSONRenderer()
        exc = [structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))]
    else:
        renderer = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False))
        exc = []

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *exc, _bind_service(service), renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "pymongo"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _bind_service(service: str):
    def add_service(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
