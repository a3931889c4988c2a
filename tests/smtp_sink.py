"""A real SMTP server (aiosmtpd) that captures messages, for tests and demos.

    with SmtpSink(save_dir="out/mail") as sink:        # starts on a free port
        settings = settings.model_copy(update={"smtp_port": sink.port})
        ...
        [message] = await sink.wait_for(1)             # email.message.EmailMessage
    sink.fail_recipient("x@y.example", 550)            # answer 5xx for that address
    sink.fail_next(2, 451)                             # answer 4xx to the next 2 messages

Run ``python -m tests.smtp_sink --port 1025 --save-dir out/mail`` for a standalone sink.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from outgoing_cli.demo.mail_sink import LocalSmtpServer

REPLIES = {
    421: "Service not available",
    450: "Mailbox busy",
    451: "Local error in processing",
    452: "Insufficient storage",
    550: "Mailbox unavailable",
    552: "Exceeded storage",
    553: "Mailbox name not allowed",
    554: "Transaction failed",
}


@dataclass
class Captured:
    sender: str
    recipients: list[str]
    data: bytes
    message: EmailMessage


def _reply(code: int) -> str:
    return f"{code} {'4.0.0' if code < 500 else '5.0.0'} {REPLIES.get(code, 'Refused by the test sink')}"


@dataclass
class _Handler:
    sink: SmtpSink

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]) -> str:
        code = self.sink._recipient_failures.get(address.lower())
        if code is not None:  # as Postfix does, the reply quotes the address it refuses
            return f"{code} {'4.1.1' if code < 500 else '5.1.1'} <{address}>: Recipient address rejected: {REPLIES.get(code, 'refused')}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        with self.sink._lock:
            if self.sink._failures_left:
                self.sink._failures_left -= 1
                self.sink.refused += 1
                return _reply(self.sink._failure_code)
        data = envelope.original_content or envelope.content
        raw = data if isinstance(data, bytes) else data.encode()
        message = BytesParser(policy=policy.default).parsebytes(raw)
        captured = Captured(envelope.mail_from, list(envelope.rcpt_tos), raw, message)  # type: ignore[arg-type]
        with self.sink._lock:
            self.sink.captured.append(captured)
            if self.sink.save_dir is not None:
                name = f"{len(self.sink.captured):04d}.eml"
                (self.sink.save_dir / name).write_bytes(raw)
            lose_reply = self.sink._drops_left > 0
            if lose_reply:
                self.sink._drops_left -= 1
        if lose_reply:  # queued, but the client never hears so: the connection just ends
            server.transport.close()
        return "250 Message accepted"


@dataclass
class SmtpSink(LocalSmtpServer):
    host: str = "127.0.0.1"
    port: int = 0
    save_dir: Path | str | None = None
    captured: list[Captured] = field(default_factory=list)
    refused: int = 0
    _recipient_failures: dict[str, int] = field(default_factory=dict)
    _failures_left: int = 0
    _failure_code: int = 451
    _drops_left: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    def _prepare(self) -> None:
        if self.save_dir is not None:
            self.save_dir = Path(self.save_dir)
            self.save_dir.mkdir(parents=True, exist_ok=True)

    def _handler(self) -> Any:
        return _Handler(self)

    # ------------------------------------------------------------ behaviour

    def fail_recipient(self, address: str, code: int = 550) -> None:
        """Answer ``code`` whenever ``address`` is given as a recipient (4xx or 5xx)."""
        self._recipient_failures[address.lower()] = code

    def accept_recipient(self, address: str) -> None:
        self._recipient_failures.pop(address.lower(), None)

    def fail_next(self, count: int, code: int = 451) -> None:
        """Answer ``code`` to the DATA of the next ``count`` messages."""
        with self._lock:
            self._failures_left, self._failure_code = count, code

    def drop_connection_after_data(self, count: int = 1) -> None:
        """Keep the next ``count`` messages, then close the connection before answering DATA."""
        with self._lock:
            self._drops_left = count

    # ------------------------------------------------------------ inspection

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [c.message for c in self.captured]

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [c.message for c in self.captured if address.lower() in (r.lower() for r in c.recipients)]

    async def wait_for(self, count: int, timeout: float = 30.0, address: str | None = None) -> list[EmailMessage]:
        """At least ``count`` messages (to ``address`` if given), failing after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.to(address) if address else self.messages
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages{' to ' + address if address else ''}, got {len(found)} within {timeout}s")
            await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description="Capture every message sent to this SMTP server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--save-dir", default=None, help="write each message here as NNNN.eml")
    args = parser.parse_args()
    with SmtpSink(args.host, args.port, args.save_dir) as sink:
        print(f"SMTP sink listening on {sink.host}:{sink.port}; Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
