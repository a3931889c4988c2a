"""The base of every aggregate: state that decides, and records the events its decisions cause.

An aggregate's methods change its state and record events; they never write or publish.
A store saves the state and the recorded events together, in one single-document write
(see shared/outbox.py), so a crash can lose neither without the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.contracts.envelope import Envelope
from shared.contracts.topics import Topic


class Refused(Exception):
    """A command the aggregate will never accept, whatever the retries: dead-lettered with this reason."""


@dataclass(frozen=True)
class Recorded:
    """An event to publish on ``topic`` under ``key``; no event is a tombstone, which
    deletes ``key`` from a compacted topic."""

    topic: Topic
    key: str
    event: Envelope[Any] | None = None


@dataclass(kw_only=True)
class Aggregate:
    """``version`` is the stored version the state was loaded at: None when never stored,
    0 for a document written before documents had versions. ``applied`` holds the ids of
    the latest events already applied, so a replay changes nothing."""

    id: str
    version: int | None = None
    applied: list[str] = field(default_factory=list)
    recorded: list[Recorded] = field(default_factory=list, repr=False, compare=False)
    newly_applied: list[str] = field(default_factory=list, repr=False, compare=False)
    changed: bool = field(default=False, repr=False, compare=False)

    def has_applied(self, cause: Envelope[Any]) -> bool:
        return str(cause.id) in self.applied or str(cause.id) in self.newly_applied

    def applying(self, cause: Envelope[Any]) -> None:
        """Marks the state as changed by ``cause``: saved with its id, once."""
        if not self.has_applied(cause):
            self.newly_applied.append(str(cause.id))
        self.changed = True

    def record(self, topic: Topic, event: Envelope[Any], key: str | None = None) -> None:
        self.recorded.append(Recorded(topic, key if key is not None else event.subject, event))
        self.changed = True

    def record_tombstone(self, topic: Topic, key: str) -> None:
        self.recorded.append(Recorded(topic, key))
        self.changed = True

    def saved(self) -> list[Recorded]:
        """Called by the store once its write succeeded: what the write published."""
        recorded, self.recorded = self.recorded, []
        self.applied = [*self.applied, *self.newly_applied]
        self.newly_applied = []
        self.changed = False
        self.version = (self.version or 0) + 1
        return recorded
