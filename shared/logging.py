"""structlog set-up shared by every process: JSON for machines, console for people.

Personal data never reaches a log line (shared/redaction.py): e-mail addresses, phone
numbers, the names of the contacts the process knows (shared/known_names.py) and URL
passwords are masked twice. First in every value of the event, before it is rendered;
then in the rendered line itself, so that what the renderer adds (an exception's message,
a traceback, the repr of an object) is masked too, whatever the renderer, including in
the lines of aiokafka and pymongo.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import structlog

from shared.redaction import (
    EMAIL_PATTERN,
    MAX_LOGGED_STRING,
    PHONE_PATTERN,
    REDACTED_EMAIL,
    REDACTED_NAME,
    REDACTED_PHONE,
    SENSITIVE_KEYS,
    redact_console_line,
    redact_json_line,
    redact_personal_data,
    redact_text,
)

__all__ = [
    "EMAIL_PATTERN",
    "MAX_LOGGED_STRING",
    "PHONE_PATTERN",
    "REDACTED_EMAIL",
    "REDACTED_NAME",
    "REDACTED_PHONE",
    "SENSITIVE_KEYS",
    "RedactingFormatter",
    "configure_logging",
    "get_logger",
    "redact_personal_data",
    "redact_text",
]


class RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Renders as ``ProcessorFormatter`` does, then redacts the whole rendered line."""

    def __init__(self, *args: Any, json_lines: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        try:
            return redact_json_line(line) if self.json_lines else redact_console_line(line)
        except Exception as error:  # noqa: BLE001 - a line that could not be redacted is not printed at all
            withheld = f"log line withheld: its redaction failed ({type(error).__name__})"
            return json.dumps({"event": withheld, "level": "error"}) if self.json_lines else withheld


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
        # Plain tracebacks, never locals: Rich's wrap long messages and colour each number,
        # which would cut an address or a phone number in pieces no pattern recognises.
        renderer = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        exc = []

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = RedactingFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *exc, _bind_service(service), renderer],
        json_lines=json_output,
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
