"""The demo's mailbox: a real SMTP server (aiosmtpd) that saves every message as an .eml file.

It runs in the demo's own process, on a thread of its own, and the notifications service
is pointed at it; the files open in any mail program, calendar invitations included.
"""

from __future__ import annotations

import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

NOTIFICATION_HEADER = "X-Outgoing-Notification"


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class LocalSmtpServer:
    """An aiosmtpd server on a free loopback port, on a thread of its own.

    Subclasses (dataclasses with ``host``, ``port`` and ``_controller``) say what happens
    to a message; the demo's mailbox saves it, the tests' sink captures it.
    """

    host: str
    port: int
    _controller: Controller | None

    def _handler(self) -> Any:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Whatever must exist before the first message arrives."""

    def start(self) -> Self:
        self._prepare()
        self.port = self.port or free_port(self.host)
        self._controller = Controller(self._handler(), hostname=self.host, port=self.port, decode_data=False)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


def file_name(number: int, kind: str, recipient: str) -> str:
    """``0007-meeting_invitation-priya@mmt.example.eml``: sortable, and says what it is."""
    safe = re.sub(r"[^A-Za-z0-9@._-]+", "_", recipient)[:80]
    return f"{number:05d}-{kind}-{safe}.eml"


@dataclass
class MailSink(LocalSmtpServer):
    folder: Path
    host: str = "127.0.0.1"
    port: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    files: list[Path] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.files)

    def _prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def _handler(self) -> Any:
        return _Handler(self)

    def save(self, raw: bytes, recipients: list[str]) -> Path:
        headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        kind = str(headers.get(NOTIFICATION_HEADER, "message")).split(":", 1)[0] or "message"
        with self._lock:
            path = self.folder / file_name(len(self.files) + 1, kind, recipients[0] if recipients else "unknown")
            path.write_bytes(raw)
            self.files.append(path)
            self.by_kind[kind] += 1
        return path


@dataclass
class _Handler:
    sink: MailSink

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content or b""
        self.sink.save(data if isinstance(data, bytes) else data.encode(), list(envelope.rcpt_tos))
        return "250 Message accepted"
