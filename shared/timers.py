"""Durable timers in MongoDB: due items that survive restarts and fire on one instance.

A timer is ONE document, and every change to it is one conditional single-document
update, atomic on MongoDB 7/8 without transactions:

    {_id: timer_id, kind, data, group, due_at, epoch, state, ready_at, attempt, owner, ...}

* ``state`` is ``pending``, ``fired`` or ``cancelled``.
* ``ready_at`` is the earliest time a runner may claim it: ``due_at`` when armed, the end
  of the lease while an instance holds it, or the time a callback asked to be retried at.
  A runner lists ready ids with the index ``(state, ready_at)``, then claims each with
  ``find_one_and_update({_id, state: pending, ready_at <= now}, ready_at = now + lease,
  attempt += 1)``: exactly one runner wins each claim, whatever the number of fired or
  future timers.
* ``epoch`` grows each time ``due_at`` changes. Moving a pending timer changes when it fires;
  moving a fired one re-arms it (which a reminder needs when its meeting moves after the
  first reminder went out). ``complete`` matches on the epoch it fired, so a completion
  that races a move never swallows the new epoch.

Guarantees:

* items survive restarts: everything is in the database;
* in the normal case each epoch of a timer fires exactly once, on exactly one instance;
* a cancelled timer is never claimed again; a moved one fires at its new time.

The unavoidable windows, where a timer fires twice (so consumers must be idempotent, e.g.
by deriving the id of what they produce from timer id and epoch):

* the callback finished but the instance died before ``complete`` was recorded: once the
  lease expires another instance fires it again;
* the callback ran longer than the lease: another instance may claim it meanwhile. The
  lease starts when the item is claimed, right before its callback, never for a batch.

A callback that raises is not completed: its lease expires and it is claimed again, up to
``max_attempts`` claims per epoch; then it is recorded as fired with ``gave_up``. A callback
that raises ``RetryAt(when)`` asks to be claimed again at ``when``. A callback that fails
with a transient infrastructure error (Kafka or MongoDB unreachable) is retried with a
growing back-off and does NOT use up an attempt: an outage of any length never makes a
timer give up.

Runners sleep until the next timer is ready (bounded by ``max_idle_s``), and the owner side
wakes a runner of the same process at once when it schedules something due soon, so an
idle service costs nothing and a fresh item fires without waiting for a poll.

API: ``TimerStore(db, collection, clock)`` with ``schedule``, ``move``, ``cancel``,
``cancel_group``, ``list_group``, ``get``, ``has_fired``, ``claim_next``, ``claim_due``,
``complete``, ``retry_at``, ``purge_fired``, ``forget``; ``TimerRunner(store, callback,
instance_id, lease, poll_interval_s, max_idle_s).run_forever``. Create the indexes from
``timer_indexes(collection)`` at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.logging import get_logger
from shared.messaging import TRANSIENT_ERRORS
from shared.mongo import HotQuery, IndexSpec

log = get_logger("outgoing.timers")

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware, in UTC."""

PENDING = "pending"
FIRED = "fired"
CANCELLED = "cancelled"


class RetryAt(Exception):
    """Raised by a callback: not done yet, fire this epoch again at ``when``."""

    def __init__(self, when: datetime, reason: str = "") -> None:
        super().__init__(reason or f"retry at {when.isoformat()}")
        self.when = when
        self.reason = reason


def utc_now() -> datetime:
    return datetime.now(UTC)


def timer_indexes(collection: str = "timers") -> list[IndexSpec]:
    """The claim, the next-wake query, group look-ups and the purge are all index-served."""
    return [
        IndexSpec(collection, [("state", 1), ("ready_at", 1)], name="ready_timers"),
        IndexSpec(collection, [("group", 1), ("due_at", 1)], name="timers_by_group"),
        IndexSpec(collection, [("state", 1), ("updated_at", 1)], name="timers_by_age"),
    ]


def timer_hot_queries(collection: str = "timers") -> list[HotQuery]:
    return [
        HotQuery("ready timers, readiest first", collection, ("state",), "ready_at", ("ready_at",), runs="per poll and per 50 firings"),
        HotQuery("when the next timer is ready", collection, ("state",), None, ("ready_at",), runs="per poll"),
        HotQuery("timer by id (schedule, move, claim, complete)", collection, ("_id",), runs="per message and per firing"),
        HotQuery("a group's timers (cancel on erasure)", collection, ("group",), None, ("due_at",), runs="per erasure or cancellation"),
        HotQuery("purge of old fired timers", collection, ("state",), "updated_at", runs="hourly"),
    ]


@dataclass(frozen=True)
class Timer:
    timer_id: str
    kind: str
    data: dict[str, Any]
    group: str | None
    due_at: datetime
    epoch: int
    state: str


@dataclass(frozen=True)
class ClaimedTimer:
    """One firing of a timer, held by ``owner`` until ``lease_expires_at``."""

    timer: Timer
    attempt: int
    owner: str
    lease_expires_at: datetime
    transient_failures: int = 0

    @property
    def timer_id(self) -> str:
        return self.timer.timer_id

    @property
    def epoch(self) -> int:
        return self.timer.epoch

    @property
    def firing_id(self) -> str:
        """Stable for one epoch of one timer: a deterministic id for what the firing produces."""
        return f"{self.timer.timer_id}|{self.timer.epoch}"


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timer times must be timezone-aware")
    return value.astimezone(UTC)


def _timer(doc: dict[str, Any]) -> Timer:
    return Timer(
        timer_id=doc["_id"],
        kind=doc["kind"],
        data=doc.get("data") or {},
        group=doc.get("group"),
        due_at=_as_utc(doc["due_at"]),
        epoch=doc["epoch"],
        state=doc["state"],
    )


def _armed(due_at: datetime) -> dict[str, Any]:
    """The fields that make an epoch claimable at ``due_at``, as if never tried."""
    return {"state": PENDING, "ready_at": due_at, "attempt": 0, "transient_failures": 0, "owner": None}


class TimerStore:
    """Timers of one collection. ``clock`` is injectable so tests control time."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], collection: str = "timers", clock: Clock = utc_now, max_attempts: int = 5
    ) -> None:
        self.db = db
        self.timers = db[collection]
        self.clock = clock
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()

    # ------------------------------------------------------------ owner side

    async def schedule(
        self, timer_id: str, due_at: datetime, kind: str, data: dict[str, Any] | None = None, group: str | None = None
    ) -> Timer:
        """Ensure the timer exists, pending, due at ``due_at``; idempotent.

        Same time again: nothing changes (a fired timer does not fire again). Another time,
        or a cancelled timer: re-armed under a new epoch.
        """
        due_at = _as_utc(due_at)
        data = data or {}
        for _ in range(10):
            current = await self.timers.find_one({"_id": timer_id})
            if current is None:
                doc = {
                    "_id": timer_id,
                    "kind": kind,
                    "data": data,
                    "group": group,
                    "due_at": due_at,
                    "epoch": 1,
                    **_armed(due_at),
                    "updated_at": self.clock(),
                }
                try:
                    await self.timers.insert_one(doc)
                except DuplicateKeyError:
                    continue
                self._wake_if_due(due_at)
                return _timer(doc)
            existing = _timer(current)
            rearm = existing.state == CANCELLED or existing.due_at != due_at
            if not rearm and existing.kind == kind and existing.data == data and existing.group == group:
                return existing
            changes: dict[str, Any] = {"kind": kind, "data": data, "group": group, "updated_at": self.clock()}
            epoch = existing.epoch
            if rearm:
                epoch += 1
                changes |= {"due_at": due_at, "epoch": epoch, **_armed(due_at)}
            result = await self.timers.update_one({"_id": timer_id, "epoch": existing.epoch, "state": existing.state}, {"$set": changes})
            if result.matched_count:
                if rearm:
                    self._wake_if_due(due_at)
                return _timer({**current, **changes, "epoch": epoch})
        raise RuntimeError(f"timer {timer_id} could not be scheduled: it kept changing under us")

    async def move(self, timer_id: str, new_due_at: datetime) -> bool:
        """Change when a pending (or already fired) timer fires; False if unknown or cancelled."""
        new_due_at = _as_utc(new_due_at)
        moved = await self.timers.update_one(
            {"_id": timer_id, "state": {"$ne": CANCELLED}, "due_at": {"$ne": new_due_at}},
            {"$set": {"due_at": new_due_at, **_armed(new_due_at), "updated_at": self.clock()}, "$inc": {"epoch": 1}},
        )
        if moved.matched_count:
            self._wake_if_due(new_due_at)
            return True
        current = await self.get(timer_id)
        return current is not None and current.state != CANCELLED

    async def relabel(self, timer_id: str, data: dict[str, Any]) -> bool:
        """Replace a timer's data, nothing else: never creates, re-arms or moves one. False if unknown.

        For facts learnt after scheduling (a CRM's id for the meeting): a timer fired and
        purged long ago must not come back because of them."""
        result = await self.timers.update_one({"_id": timer_id}, {"$set": {"data": data, "updated_at": self.clock()}})
        return result.matched_count > 0

    async def cancel(self, timer_id: str) -> bool:
        result = await self.timers.update_one({"_id": timer_id}, {"$set": {"state": CANCELLED, "updated_at": self.clock()}})
        return result.matched_count > 0

    async def count(self, state: str) -> int:
        """How many timers are in ``state`` (``pending``, ``fired``, ``cancelled``): for read models."""
        return await self.timers.count_documents({"state": state})

    async def cancel_group(self, group: str) -> int:
        """Cancel every timer of ``group``; returns how many were still pending."""
        result = await self.timers.update_many(
            {"group": group, "state": PENDING}, {"$set": {"state": CANCELLED, "updated_at": self.clock()}}
        )
        return result.modified_count

    async def get(self, timer_id: str) -> Timer | None:
        doc = await self.timers.find_one({"_id": timer_id})
        return _timer(doc) if doc else None

    async def list_group(self, group: str) -> list[Timer]:
        return [_timer(doc) for doc in await self.timers.find({"group": group}).sort("due_at", 1).to_list()]

    async def has_fired(self, timer_id: str, epoch: int | None = None) -> bool:
        """Whether ``epoch`` (the current one if not given) or a later one fired."""
        doc = await self.timers.find_one({"_id": timer_id}, {"epoch": 1, "fired_epoch": 1})
        if doc is None or doc.get("fired_epoch") is None:
            return False
        return doc["fired_epoch"] >= (epoch if epoch is not None else doc["epoch"])

    def _wake_if_due(self, due_at: datetime) -> None:
        if due_at <= self.clock() + timedelta(seconds=1):
            self._wake.set()

    async def wait_for_work(self, timeout_s: float) -> None:
        """Sleep up to ``timeout_s``, or less if this process schedules something due now."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout_s)
        self._wake.clear()

    # ------------------------------------------------------------ runner side

    async def ready_ids(self, now: datetime | None = None, limit: int = 50) -> list[str]:
        """Ids of timers ready to be claimed, readiest first; claiming each is a separate step."""
        now = _as_utc(now) if now is not None else self.clock()
        docs = await self.timers.find({"state": PENDING, "ready_at": {"$lte": now}}, {"_id": 1}).sort("ready_at", 1).limit(limit).to_list()
        return [doc["_id"] for doc in docs]

    async def claim(self, timer_id: str, instance_id: str, lease: timedelta, now: datetime | None = None) -> ClaimedTimer | None:
        """Claim one ready timer by id; None if it is not ready (any more) or another instance won it.

        The filter repeats the readiness condition, so of several instances racing for the
        same timer exactly one matches; its lease starts now, right before it fires.
        """
        now = _as_utc(now) if now is not None else self.clock()
        expires = now + lease
        doc = await self.timers.find_one_and_update(
            {"_id": timer_id, "state": PENDING, "ready_at": {"$lte": now}},
            {"$set": {"ready_at": expires, "owner": instance_id, "claimed_at": now}, "$inc": {"attempt": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        if doc["attempt"] > self.max_attempts:
            await self._give_up(doc, now)
            return None
        return ClaimedTimer(_timer(doc), doc["attempt"], instance_id, expires, doc.get("transient_failures", 0))

    async def claim_next(self, instance_id: str, lease: timedelta, now: datetime | None = None) -> ClaimedTimer | None:
        """Claim the readiest timer; each claim is won by exactly one caller."""
        while True:
            ids = await self.ready_ids(now, limit=1)
            if not ids:
                return None
            item = await self.claim(ids[0], instance_id, lease, now)
            if item is not None:
                return item

    async def claim_due(self, instance_id: str, lease: timedelta, now: datetime | None = None, limit: int = 100) -> list[ClaimedTimer]:
        """Claim up to ``limit`` ready timers at once (for tools and tests; runners claim one at a time)."""
        claimed: list[ClaimedTimer] = []
        while len(claimed) < limit:
            item = await self.claim_next(instance_id, lease, now)
            if item is None:
                break
            claimed.append(item)
        return claimed

    async def next_ready_at(self) -> datetime | None:
        doc = await self.timers.find_one({"state": PENDING}, {"ready_at": 1}, sort=[("ready_at", 1)])
        return _as_utc(doc["ready_at"]) if doc else None

    async def _give_up(self, doc: dict[str, Any], now: datetime) -> None:
        result = await self.timers.update_one(
            {"_id": doc["_id"], "epoch": doc["epoch"], "attempt": doc["attempt"], "state": PENDING},
            {"$set": {"state": FIRED, "fired_epoch": doc["epoch"], "gave_up": True, "fired_at": now, "updated_at": now}},
        )
        if result.modified_count:
            log.error(
                "timer abandoned after repeated failures",
                timer_id=doc["_id"],
                kind=doc["kind"],
                epoch=doc["epoch"],
                attempts=doc["attempt"] - 1,
            )

    async def retry_at(self, item: ClaimedTimer, when: datetime) -> None:
        """Hold the firing until ``when``, then let it be claimed again (as the next attempt)."""
        await self.timers.update_one(self._held(item), {"$set": {"ready_at": _as_utc(when)}})

    async def retry_after_outage(self, item: ClaimedTimer, when: datetime) -> None:
        """Like ``retry_at``, but the attempt does not count: the failure was not the timer's."""
        await self.timers.update_one(
            self._held(item), {"$set": {"ready_at": _as_utc(when)}, "$inc": {"attempt": -1, "transient_failures": 1}}
        )

    @staticmethod
    def _held(item: ClaimedTimer) -> dict[str, Any]:
        """The filter that matches only while ``item``'s claim is still the latest one."""
        return {"_id": item.timer_id, "epoch": item.epoch, "attempt": item.attempt, "state": PENDING}

    async def complete(self, timer_id: str, epoch: int | None = None, owner: str | None = None) -> bool:
        """Record that this epoch fired (the current epoch if not given); False if it already was."""
        if epoch is None:
            current = await self.get(timer_id)
            if current is None:
                return False
            epoch = current.epoch
        now = self.clock()
        result = await self.timers.update_one(
            {"_id": timer_id, "epoch": epoch, "state": PENDING},
            {"$set": {"state": FIRED, "fired_epoch": epoch, "fired_at": now, "fired_by": owner, "updated_at": now}},
        )
        return result.modified_count > 0

    async def purge_fired(self, due_before: datetime) -> int:
        """Delete timers that fired, or were cancelled, before ``due_before``."""
        cutoff = _as_utc(due_before)
        result = await self.timers.delete_many({"state": {"$in": [FIRED, CANCELLED]}, "updated_at": {"$lt": cutoff}})
        return result.deleted_count

    async def forget(self, timer_ids: list[str]) -> None:
        """Delete timers outright, e.g. when the data they carry must be erased."""
        if timer_ids:
            await self.timers.delete_many({"_id": {"$in": timer_ids}})


FireCallback = Callable[[ClaimedTimer], Awaitable[None]]


@dataclass
class TimerRunner:
    """Claims ready timers one at a time, fires each through ``callback``, then completes it.

    ``run_forever`` is a service background loop (see shared/service.py ``register``).
    """

    store: TimerStore
    callback: FireCallback
    instance_id: str
    lease: timedelta = timedelta(seconds=120)
    poll_interval_s: float = 1.0
    """The shortest sleep between polls when something is ready soon."""
    max_idle_s: float = 10.0
    """The longest sleep: bounds how late a timer scheduled by another instance fires."""
    batch: int = 50
    concurrency: int = 1
    """Firings in flight at once: callbacks that wait on the network (SMTP, Kafka) overlap."""
    keep_fired: timedelta = timedelta(days=30)
    purge_every: timedelta = timedelta(hours=1)
    outage_backoff_s: tuple[float, float] = (1.0, 300.0)
    fired: int = field(default=0, init=False)
    polls: int = field(default=0, init=False)
    """Completed polls: whoever waits for two more knows a whole poll began after it started waiting."""
    _last_purge: datetime | None = field(default=None, init=False)

    async def run_forever(self) -> None:
        while True:
            await self.run_once()
            self.polls += 1
            await self._purge_now_and_then()
            await self.store.wait_for_work(await self._idle_for())

    async def _idle_for(self) -> float:
        ready_at = await self.store.next_ready_at()
        if ready_at is None:
            return self.max_idle_s
        wait = (ready_at - self.store.clock()).total_seconds()
        return min(self.max_idle_s, max(self.poll_interval_s, wait))

    async def _purge_now_and_then(self) -> None:
        now = self.store.clock()
        if self._last_purge is None or now - self._last_purge >= self.purge_every:
            self._last_purge = now
            purged = await self.store.purge_fired(now - self.keep_fired)
            if purged:
                log.info("fired timers purged", count=purged)

    async def run_once(self) -> int:
        """Fire everything ready now, ``concurrency`` firings at a time; returns how many completed.

        One query lists up to ``batch`` ready timers; workers then claim them one by one by
        ``_id`` (each lease starting right before its own firing). A pass stops after
        ``batch`` failures, so failing timers cannot spin it.
        """
        tally = {"completed": 0, "failed": 0}
        while tally["failed"] < self.batch:
            ready = deque(await self.store.ready_ids(limit=self.batch))
            if not ready:
                break

            async def work(queue: deque[str]) -> None:
                while queue and tally["failed"] < self.batch:
                    item = await self.store.claim(queue.popleft(), self.instance_id, self.lease)
                    if item is not None:
                        tally["completed" if await self._fire(item) else "failed"] += 1

            await asyncio.gather(*(work(ready) for _ in range(max(1, self.concurrency))))
        return tally["completed"]

    async def _fire(self, item: ClaimedTimer) -> bool:
        try:
            await self.callback(item)
        except asyncio.CancelledError:
            raise
        except RetryAt as retry:
            log.info(
                "timer retried later",
                timer_id=item.timer_id,
                kind=item.timer.kind,
                attempt=item.attempt,
                at=retry.when.isoformat(),
                reason=retry.reason,
            )
            await self.store.retry_at(item, retry.when)
            return False
        except TRANSIENT_ERRORS as error:
            low, high = self.outage_backoff_s
            delay = min(high, low * 2**item.transient_failures)
            log.warning(
                "timer callback hit an outage; retried without using an attempt",
                timer_id=item.timer_id,
                kind=item.timer.kind,
                error=repr(error),
                delay_s=delay,
            )
            with contextlib.suppress(*TRANSIENT_ERRORS):
                await self.store.retry_after_outage(item, self.store.clock() + timedelta(seconds=delay))
            return False
        except Exception:
            log.exception(
                "timer callback failed; retried after its lease", timer_id=item.timer_id, kind=item.timer.kind, attempt=item.attempt
            )
            return False
        if not await self.store.complete(item.timer_id, item.epoch, owner=self.instance_id):
            return False  # moved or completed by another holder meanwhile: its new epoch fires on its own
        self.fired += 1
        return True
