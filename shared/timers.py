"""Durable timers in MongoDB: due items that survive restarts and fire on one instance.

A timer is a document ``{_id: timer_id, kind, data, group, due_at, epoch, state}``. Its
owner (the code that schedules it, typically a single-writer consumer) is the only one
that ever updates it: ``schedule``, ``move``, ``cancel``, ``cancel_group``.

The runners that fire timers never update a timer document. On FerretDB 1.24 an update is
read-modify-write, so a runner's write could silently undo a concurrent ``move`` (see
docs/ferretdb.md). Runners only INSERT, into two side collections, and a unique ``_id``
arbitrates every race (inserts are atomic on both MongoDB and FerretDB):

* ``<name>_leases``: ``_id = "<timer_id>|<epoch>|<n>"``, the n-th claim of one firing.
  An instance owns a firing only if its insert of claim n succeeded; whoever loses gets
  DuplicateKeyError and skips the item. Claim n+1 may be taken only after claim n expired,
  so an instance that died holding a lease is replaced once the lease runs out.
* ``<name>_fired``: ``_id = "<timer_id>|<epoch>"``, written by ``complete``. A fired
  epoch is never claimed again.

``epoch`` grows each time ``due_at`` changes. Moving a timer before it fired just changes
when it fires; moving one that already fired re-arms it (a new epoch that has not fired),
which is what a reminder needs when its meeting is moved after the first reminder went
out. Consumers receive ``epoch`` with each fired item.

Guarantees:

* items survive restarts: everything is in the database;
* in the normal case each epoch of a timer fires exactly once, on exactly one instance;
* a cancelled timer is never claimed again; a moved one fires at its new time.

The unavoidable windows, where a timer fires twice (so consumers must be idempotent, e.g.
by deriving the id of what they produce from timer id and epoch):

* the callback finished but the instance died before ``complete`` was recorded: once the
  lease expires another instance fires it again;
* the callback ran longer than the lease: another instance may claim it meanwhile. Pick a
  lease well above the callback's worst case.

Likewise a timer cancelled or moved while its callback is already running still finishes
that run; consumers that care re-check their own state before acting.

A callback that raises is not completed: its lease expires and it is claimed again, up to
``max_attempts`` claims per epoch; then it is recorded as fired with ``gave_up``. A callback
that raises ``RetryAt(when)`` asks to be claimed again at ``when`` instead (its lease is
stretched to that time: the lease document has one writer, its holder).

Fired timers stay pending in their document (runners never update it), so the runner
purges those fired more than ``keep_fired`` ago; that delete is the only runner write to
timer documents, safe as long as nobody moves a timer that old.

API: ``TimerStore(db, collection, clock)`` with ``schedule``, ``move``, ``cancel``,
``cancel_group``, ``list_group``, ``get``, ``claim_due``, ``complete``, ``forget``;
``TimerRunner(store, callback, instance_id, lease, poll_interval_s).run_forever``.
Create the indexes from ``timer_indexes(collection)`` at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.logging import get_logger
from shared.mongo import IndexSpec

log = get_logger("outgoing.timers")

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware, in UTC."""

PENDING = "pending"
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
    """Indexes for MongoDB's sake (FerretDB scans anyway): due items and groups."""
    return [
        IndexSpec(collection, [("state", 1), ("due_at", 1)], name="due_timers"),
        IndexSpec(collection, [("group", 1)], name="timers_by_group"),
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

    @property
    def timer_id(self) -> str:
        return self.timer.timer_id

    @property
    def epoch(self) -> int:
        return self.timer.epoch

    @property
    def firing_id(self) -> str:
        """Stable for one epoch of one timer: a deterministic id for what the firing produces."""
        return _fired_id(self.timer.timer_id, self.timer.epoch)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timer times must be timezone-aware")
    return value.astimezone(UTC)


def _fired_id(timer_id: str, epoch: int) -> str:
    return f"{timer_id}|{epoch}"


def _lease_id(timer_id: str, epoch: int, attempt: int) -> str:
    return f"{timer_id}|{epoch}|{attempt}"


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


class TimerStore:
    """Timers of one collection. ``clock`` is injectable so tests control time."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], collection: str = "timers", clock: Clock = utc_now, max_attempts: int = 5) -> None:
        self.db = db
        self.timers = db[collection]
        self.leases = db[f"{collection}_leases"]
        self.fired = db[f"{collection}_fired"]
        self.clock = clock
        self.max_attempts = max_attempts
        self._known_fired: set[str] = set()
        """Firings this process saw recorded: a fired record is never removed while its timer
        lives, so the runner need not ask the database again at every poll."""

    # ------------------------------------------------------------ owner side

    async def schedule(self, timer_id: str, due_at: datetime, kind: str, data: dict[str, Any] | None = None, group: str | None = None) -> Timer:
        """Ensure the timer exists, pending, due at ``due_at``; idempotent.

        Same time again: nothing changes (a fired timer does not fire again). Another time,
        or a cancelled timer: re-armed under a new epoch.
        """
        due_at = _as_utc(due_at)
        data = data or {}
        for _ in range(5):
            current = await self.timers.find_one({"_id": timer_id})
            if current is None:
                doc = {"_id": timer_id, "kind": kind, "data": data, "group": group, "due_at": due_at, "epoch": 1, "state": PENDING, "updated_at": self.clock()}
                try:
                    await self.timers.insert_one(doc)
                except DuplicateKeyError:
                    continue
                return _timer(doc)
            existing = _timer(current)
            rearm = existing.state != PENDING or existing.due_at != due_at
            if not rearm and existing.kind == kind and existing.data == data and existing.group == group:
                return existing
            changes = {"kind": kind, "data": data, "group": group, "due_at": due_at, "state": PENDING, "updated_at": self.clock()}
            epoch = existing.epoch + 1 if rearm else existing.epoch
            await self.timers.update_one({"_id": timer_id}, {"$set": {**changes, "epoch": epoch}})
            return _timer({**current, **changes, "epoch": epoch})
        raise RuntimeError(f"timer {timer_id} could not be scheduled")

    async def move(self, timer_id: str, new_due_at: datetime) -> bool:
        """Change when a pending (or already fired) timer fires; False if unknown or cancelled."""
        new_due_at = _as_utc(new_due_at)
        current = await self.get(timer_id)
        if current is None or current.state == CANCELLED:
            return False
        if current.due_at != new_due_at:
            await self.timers.update_one(
                {"_id": timer_id}, {"$set": {"due_at": new_due_at, "epoch": current.epoch + 1, "updated_at": self.clock()}}
            )
        return True

    async def cancel(self, timer_id: str) -> bool:
        result = await self.timers.update_one({"_id": timer_id}, {"$set": {"state": CANCELLED, "updated_at": self.clock()}})
        return result.matched_count > 0

    async def cancel_group(self, group: str) -> int:
        """Cancel every timer of ``group``; returns how many were still pending."""
        pending = await self.timers.find({"group": group, "state": PENDING}, {"_id": 1}).to_list()
        ids = [doc["_id"] for doc in pending]
        if ids:
            await self.timers.update_many({"_id": {"$in": ids}}, {"$set": {"state": CANCELLED, "updated_at": self.clock()}})
        return len(ids)

    async def get(self, timer_id: str) -> Timer | None:
        doc = await self.timers.find_one({"_id": timer_id})
        return _timer(doc) if doc else None

    async def list_group(self, group: str) -> list[Timer]:
        return [_timer(doc) for doc in await self.timers.find({"group": group}).sort("due_at", 1).to_list()]

    async def has_fired(self, timer_id: str, epoch: int | None = None) -> bool:
        if epoch is None:
            current = await self.get(timer_id)
            if current is None:
                return False
            epoch = current.epoch
        return await self.fired.find_one({"_id": _fired_id(timer_id, epoch)}) is not None

    # ------------------------------------------------------------ runner side

    async def claim_due(self, instance_id: str, lease: timedelta, now: datetime | None = None, limit: int = 100) -> list[ClaimedTimer]:
        """Claim pending timers due by ``now``; each firing is won by exactly one caller."""
        now = _as_utc(now) if now is not None else self.clock()
        due = await self.timers.find({"state": PENDING, "due_at": {"$lte": now}}, {"_id": 1, "epoch": 1}).sort("due_at", 1).to_list()
        unfired = await self._unfired([(d["_id"], d["epoch"]) for d in due if _fired_id(d["_id"], d["epoch"]) not in self._known_fired])
        claimed: list[ClaimedTimer] = []
        for start in range(0, len(unfired), limit):
            ids = [timer_id for timer_id, _ in unfired[start : start + limit]]
            docs = {d["_id"]: d for d in await self.timers.find({"_id": {"$in": ids}}).to_list()}
            for timer_id in ids:
                doc = docs.get(timer_id)
                if doc is None or doc["state"] != PENDING or _as_utc(doc["due_at"]) > now:
                    continue
                item = await self._claim(_timer(doc), instance_id, lease, now)
                if item is not None:
                    claimed.append(item)
                    if len(claimed) >= limit:
                        return claimed
        return claimed

    async def _unfired(self, firings: list[tuple[str, int]], chunk: int = 500) -> list[tuple[str, int]]:
        unfired: list[tuple[str, int]] = []
        for start in range(0, len(firings), chunk):
            part = firings[start : start + chunk]
            keys = [_fired_id(t, e) for t, e in part]
            done = {d["_id"] for d in await self.fired.find({"_id": {"$in": keys}}, {"_id": 1}).to_list()}
            self._known_fired |= done
            unfired.extend(f for f, key in zip(part, keys, strict=True) if key not in done)
        return unfired

    async def purge_fired(self, due_before: datetime) -> int:
        """Delete timers whose current epoch fired and was due before ``due_before``, with their records.

        Keeps the scan of due timers short. The one write a runner makes to timer documents:
        choose a retention long enough that nobody moves such an old timer any more (a
        move racing this delete would be lost on FerretDB).
        """
        old = await self.timers.find({"state": PENDING, "due_at": {"$lt": _as_utc(due_before)}}, {"_id": 1, "epoch": 1}).to_list()
        firings = [(d["_id"], d["epoch"]) for d in old]
        unfired = set(await self._unfired(firings))
        done = [timer_id for timer_id, epoch in firings if (timer_id, epoch) not in unfired]
        cancelled = await self.timers.find({"state": CANCELLED, "updated_at": {"$lt": _as_utc(due_before)}}, {"_id": 1}).to_list()
        done += [d["_id"] for d in cancelled]
        await self.forget(done)
        self._known_fired.clear()
        return len(done)

    async def _claim(self, timer: Timer, instance_id: str, lease: timedelta, now: datetime) -> ClaimedTimer | None:
        attempt = 1
        while True:
            lease_id = _lease_id(timer.timer_id, timer.epoch, attempt)
            held = await self.leases.find_one({"_id": lease_id})
            if held is not None:
                if _as_utc(held["expires_at"]) > now:
                    return None
                attempt += 1
                continue
            if attempt > self.max_attempts:
                await self._give_up(timer, attempt - 1, now)
                return None
            expires = now + lease
            try:
                await self.leases.insert_one({"_id": lease_id, "timer_id": timer.timer_id, "owner": instance_id, "claimed_at": now, "expires_at": expires})
            except DuplicateKeyError:
                return None
            if await self.fired.find_one({"_id": _fired_id(timer.timer_id, timer.epoch)}) is not None:
                return None  # completed by the previous holder between our read and our claim
            return ClaimedTimer(timer, attempt, instance_id, expires)

    async def _give_up(self, timer: Timer, attempts: int, now: datetime) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self.fired.insert_one({"_id": _fired_id(timer.timer_id, timer.epoch), "timer_id": timer.timer_id, "at": now, "gave_up": True, "attempts": attempts})
            log.error("timer abandoned after repeated failures", timer_id=timer.timer_id, kind=timer.kind, epoch=timer.epoch, attempts=attempts)

    async def retry_at(self, item: ClaimedTimer, when: datetime) -> None:
        """Hold the firing until ``when``, then let it be claimed again (as the next attempt)."""
        await self.leases.update_one({"_id": _lease_id(item.timer_id, item.epoch, item.attempt)}, {"$set": {"expires_at": _as_utc(when)}})

    async def complete(self, timer_id: str, epoch: int | None = None, owner: str | None = None) -> bool:
        """Record that this epoch fired (the current epoch if not given); False if it already was."""
        if epoch is None:
            current = await self.get(timer_id)
            if current is None:
                return False
            epoch = current.epoch
        try:
            await self.fired.insert_one({"_id": _fired_id(timer_id, epoch), "timer_id": timer_id, "at": self.clock(), "owner": owner})
        except DuplicateKeyError:
            return False
        finally:
            self._known_fired.add(_fired_id(timer_id, epoch))
        return True

    async def forget(self, timer_ids: list[str]) -> None:
        """Delete timers and their records outright, e.g. when the data they carry must be erased."""
        if not timer_ids:
            return
        await self.timers.delete_many({"_id": {"$in": timer_ids}})
        await self.leases.delete_many({"timer_id": {"$in": timer_ids}})
        await self.fired.delete_many({"timer_id": {"$in": timer_ids}})
        forgotten = set(timer_ids)
        self._known_fired = {key for key in self._known_fired if key.rsplit("|", 1)[0] not in forgotten}


FireCallback = Callable[[ClaimedTimer], Awaitable[None]]


@dataclass
class TimerRunner:
    """Polls for due timers, fires each claimed one through ``callback``, then completes it.

    ``run_forever`` is a service background loop (see shared/service.py ``register``).
    """

    store: TimerStore
    callback: FireCallback
    instance_id: str
    lease: timedelta = timedelta(seconds=120)
    poll_interval_s: float = 1.0
    batch: int = 50
    keep_fired: timedelta = timedelta(days=30)
    purge_every: timedelta = timedelta(hours=1)
    fired: int = field(default=0, init=False)
    polls: int = field(default=0, init=False)
    """Completed polls: whoever waits for two more knows a whole poll began after it started waiting."""
    _last_purge: datetime | None = field(default=None, init=False)

    async def run_forever(self) -> None:
        while True:
            await self.run_once()
            self.polls += 1
            await self._purge_now_and_then()
            await asyncio.sleep(self.poll_interval_s)

    async def _purge_now_and_then(self) -> None:
        now = self.store.clock()
        if self._last_purge is None or now - self._last_purge >= self.purge_every:
            self._last_purge = now
            purged = await self.store.purge_fired(now - self.keep_fired)
            if purged:
                log.info("fired timers purged", count=purged)

    async def run_once(self) -> int:
        """Fire everything due now; returns how many firings completed."""
        completed = 0
        while True:
            claimed = await self.store.claim_due(self.instance_id, self.lease, limit=self.batch)
            if not claimed:
                return completed
            progress = 0
            for item in claimed:
                if await self._fire(item):
                    progress += 1
            completed += progress
            if progress == 0:
                return completed

    async def _fire(self, item: ClaimedTimer) -> bool:
        try:
            await self.callback(item)
        except asyncio.CancelledError:
            raise
        except RetryAt as retry:
            log.info("timer retried later", timer_id=item.timer_id, kind=item.timer.kind, attempt=item.attempt, at=retry.when.isoformat(), reason=retry.reason)
            await self.store.retry_at(item, retry.when)
            return False
        except Exception:
            log.exception("timer callback failed; retried after its lease", timer_id=item.timer_id, kind=item.timer.kind, attempt=item.attempt)
            return False
        await self.store.complete(item.timer_id, item.epoch, owner=self.instance_id)
        self.fired += 1
        return True
