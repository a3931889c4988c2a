"""Liveness and readiness over HTTP, for an orchestrator and for `outgoing dev status`.

* ``GET /livez``: 200 while the event loop answers (this reply is the proof).
* ``GET /readyz``: 200 when the database answers, every Kafka consumer is running, and no
  partition is stuck; 503 otherwise. Either way the JSON body says what was checked:
  each subscriber's assigned partitions, their lag (high watermark minus position), and
  any partition held on one offset longer than ``stuck_after_s``.

``GET /views/<name>`` answers a read model the service registered (``Runtime.views``): what
tools outside the service may know of its state, without reading its collections.

A partition is stuck when its consumer keeps failing on one record, or a handler runs
on it too long: the progress tracker, fed by a middleware around every handler, remembers
since when each partition has been on an offset that has not completed. A stuck partition
is also logged, once a minute while it lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from pymongo.asynchronous.database import AsyncDatabase

from shared.logging import get_logger

log = get_logger("outgoing.health")

View = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Stuck:
    topic: str
    partition: int
    offset: int
    for_s: float


@dataclass
class ProgressTracker:
    """Per partition, the offset a consumer is on and since when, until it completes."""

    stuck_after_s: float = 120.0
    clock: Callable[[], float] = time.monotonic
    completed: int = 0
    _on: dict[tuple[str, int], tuple[int, float]] = field(default_factory=dict)
    _deliveries: dict[tuple[str, int], int] = field(default_factory=dict)

    def started(self, topic: str, partition: int, offset: int) -> None:
        current = self._on.get((topic, partition))
        if current is None or current[0] != offset:  # a redelivery of the same offset keeps its start
            self._on[(topic, partition)] = (offset, self.clock())
            self._deliveries[(topic, partition)] = 1
        else:
            self._deliveries[(topic, partition)] = self._deliveries.get((topic, partition), 1) + 1

    def redelivered(self, topic: str, partition: int, offset: int) -> bool:
        """Whether this offset is being handled again after it did not complete."""
        current = self._on.get((topic, partition))
        return current is not None and current[0] == offset and self._deliveries.get((topic, partition), 1) > 1

    def finished(self, topic: str, partition: int) -> None:
        self._on.pop((topic, partition), None)
        self._deliveries.pop((topic, partition), None)
        self.completed += 1

    def stuck(self) -> list[Stuck]:
        now = self.clock()
        return [Stuck(t, p, o, round(now - since, 1)) for (t, p), (o, since) in self._on.items() if now - since >= self.stuck_after_s]

    async def report_forever(self, every_s: float = 60.0) -> None:
        """A service background loop: log each stuck partition, once a minute while it lasts."""
        while True:
            await asyncio.sleep(every_s)
            for stuck in self.stuck():
                log.error(
                    "consumer stuck on one record", topic=stuck.topic, partition=stuck.partition, offset=stuck.offset, for_s=stuck.for_s
                )

    def middleware(self) -> Callable[..., BaseMiddleware]:
        tracker = self

        class ProgressMiddleware(BaseMiddleware):
            async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]) -> Any:
                record = msg.raw_message
                topic, partition, offset = (
                    getattr(record, "topic", None),
                    getattr(record, "partition", None),
                    getattr(record, "offset", None),
                )
                if topic is None or partition is None or offset is None:
                    return await call_next(msg)
                tracker.started(topic, partition, offset)
                result = await call_next(msg)
                tracker.finished(topic, partition)
                return result

        return ProgressMiddleware


@dataclass
class Health:
    service: str
    broker: KafkaBroker
    db: AsyncDatabase[dict[str, Any]]
    tracker: ProgressTracker
    host: str = "127.0.0.1"
    port: int = 0
    views: dict[str, View] = field(default_factory=dict)

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        problems: list[str] = []
        try:
            await asyncio.wait_for(self.db.command("ping"), 2.0)
            database = "answers"
        except Exception as error:  # noqa: BLE001 - any failure to answer is the finding itself
            database = f"no answer: {type(error).__name__}"
            problems.append("database")
        subscribers = []
        for subscriber in self.broker.subscribers:
            consumers = list(
                getattr(subscriber, "consumer_subgroup", None) or ([subscriber.consumer] if getattr(subscriber, "consumer", None) else [])
            )
            assigned, lag = [], 0
            for consumer in consumers:
                for tp in sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition)):
                    assigned.append(f"{tp.topic}[{tp.partition}]")
                    with contextlib.suppress(Exception):
                        high = consumer.highwater(tp)
                        if high is not None:
                            lag += max(0, high - await consumer.position(tp))
            running = bool(consumers) and all(not getattr(c, "_closed", False) for c in consumers)
            if not running:
                problems.append("consumers")
            topics = sorted(getattr(subscriber, "topic_names_for_subscribe", []))
            subscribers.append({"topics": topics, "consumers": len(consumers), "running": running, "assigned": assigned, "lag": lag})
        stuck = [s.__dict__ for s in self.tracker.stuck()]
        if stuck:
            problems.append("stuck")
        report = {
            "service": self.service,
            "ready": not problems,
            "problems": problems,
            "database": database,
            "completed": self.tracker.completed,
            "stuck": stuck,
            "subscribers": subscribers,
        }
        return not problems, report

    async def asgi(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        if path == "/livez":
            status, body = 200, {"service": self.service, "live": True}
        elif path == "/readyz":
            ready, body = await self.readiness()
            status = 200 if ready else 503
        elif path.startswith("/views/") and path.removeprefix("/views/") in self.views:
            try:
                status, body = 200, await self.views[path.removeprefix("/views/")]()
            except Exception as error:  # noqa: BLE001 - a view that cannot answer says so; the service goes on
                status, body = 503, {"error": f"{type(error).__name__}: {error}"[:500]}
        else:
            status, body = 404, {"error": "try /livez, /readyz or one of /views/" + ", /views/".join(sorted(self.views))}
        payload = json.dumps(body, default=str).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def serve_forever(self) -> None:
        server = _QuietServer(
            uvicorn.Config(
                self.asgi, host=self.host, port=self.port, log_level="warning", lifespan="off", access_log=False, interface="asgi3"
            )
        )
        await server.serve()


class _QuietServer(uvicorn.Server):
    """uvicorn inside a FastStream process: FastStream owns SIGTERM and SIGINT, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
