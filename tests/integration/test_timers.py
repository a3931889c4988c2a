"""shared/timers.py against the real MongoDB-wire server, with a controlled clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.mongo import create_client, ensure_indexes
from shared.settings import Settings
from shared.timers import ClaimedTimer, RetryAt, TimerRunner, TimerStore, timer_indexes
from tests.support import FakeClock

pytestmark = pytest.mark.integration

T0 = datetime(2020, 10, 26, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture
async def db_settings(real_servers: Any, unique_name: str) -> AsyncIterator[Settings]:
    settings = Settings(mongo_url=real_servers.mongo_url, mongo_db=unique_name)
    yield settings
    client = create_client(settings)
    await client.drop_database(unique_name)
    await client.close()


@pytest.fixture
async def clients(db_settings: Settings) -> AsyncIterator[list[Any]]:
    """Separate clients, as separate service instances would have."""
    opened = [create_client(db_settings) for _ in range(2)]
    await ensure_indexes(opened[0][db_settings.mongo_db], timer_indexes())
    yield [c[db_settings.mongo_db] for c in opened]
    for client in opened:
        await client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(clients: list[Any], clock: FakeClock) -> TimerStore:
    return TimerStore(clients[0], clock=clock)


class Recorder:
    def __init__(self) -> None:
        self.fired: list[ClaimedTimer] = []

    async def __call__(self, item: ClaimedTimer) -> None:
        await asyncio.sleep(0)
        self.fired.append(item)

    @property
    def ids(self) -> list[str]:
        return [f.timer_id for f in self.fired]


async def test_fires_only_when_due_and_only_once(store: TimerStore, clock: FakeClock) -> None:
    await store.schedule("meeting-1:reminder:86400", T0 + timedelta(hours=2), "reminder", {"meeting_id": "meeting-1"}, group="meeting-1")
    recorder = Recorder()
    runner = TimerRunner(store, recorder, "a", lease=LEASE)
    assert await runner.run_once() == 0
    clock.advance(hours=1, minutes=59, seconds=59)
    assert await runner.run_once() == 0
    clock.advance(seconds=1)
    assert await runner.run_once() == 1
    [item] = recorder.fired
    assert (item.timer_id, item.timer.kind, item.timer.data, item.epoch, item.attempt) == (
        "meeting-1:reminder:86400",
        "reminder",
        {"meeting_id": "meeting-1"},
        1,
        1,
    )
    assert item.timer.due_at == T0 + timedelta(hours=2)
    clock.advance(days=1)
    assert await runner.run_once() == 0
    assert await store.has_fired("meeting-1:reminder:86400")


async def test_two_instances_racing_fire_each_item_exactly_once(clients: list[Any], clock: FakeClock) -> None:
    owner = TimerStore(clients[0], clock=clock)
    for i in range(60):
        await owner.schedule(f"t-{i:03d}", T0 - timedelta(seconds=i), "k", {"i": i}, group=f"g{i % 3}")
    recorders = [Recorder(), Recorder()]
    runners = [
        TimerRunner(TimerStore(db, clock=clock), recorder, f"instance-{n}", lease=LEASE, batch=7)
        for n, (db, recorder) in enumerate(zip(clients, recorders, strict=True))
    ]
    for _ in range(3):
        await asyncio.gather(*(r.run_once() for r in runners))
    fired = recorders[0].ids + recorders[1].ids
    assert Counter(fired) == Counter({f"t-{i:03d}": 1 for i in range(60)})
    assert recorders[0].ids and recorders[1].ids, "both instances should have won some items"
    docs = await clients[0]["timers"].find({}).to_list()
    assert len(docs) == 60 and {(d["state"], d["attempt"]) for d in docs} == {("fired", 1)}, "each claimed once, by one instance"


async def test_items_survive_a_restart(db_settings: Settings, clock: FakeClock) -> None:
    first = create_client(db_settings)
    await TimerStore(first[db_settings.mongo_db], clock=clock).schedule("durable", T0 + timedelta(minutes=5), "k", {"x": 1})
    await first.close()

    second = create_client(db_settings)
    try:
        recorder = Recorder()
        clock.advance(minutes=5)
        assert await TimerRunner(TimerStore(second[db_settings.mongo_db], clock=clock), recorder, "b", lease=LEASE).run_once() == 1
        assert recorder.ids == ["durable"] and recorder.fired[0].timer.data == {"x": 1}
    finally:
        await second.close()


async def test_a_dead_owners_lease_is_reclaimed_after_it_expires(clients: list[Any], clock: FakeClock) -> None:
    crashed = TimerStore(clients[0], clock=clock)
    survivor = TimerStore(clients[1], clock=clock)
    await crashed.schedule("orphan", T0, "k")
    [held] = await crashed.claim_due("crashed", LEASE)  # then the instance dies: never completed
    assert held.attempt == 1 and held.lease_expires_at == T0 + LEASE

    assert await survivor.claim_due("survivor", LEASE) == []
    clock.advance(seconds=59)
    assert await survivor.claim_due("survivor", LEASE) == []
    clock.advance(seconds=1)
    [again] = await survivor.claim_due("survivor", LEASE)
    assert (again.timer_id, again.attempt, again.owner, again.epoch) == ("orphan", 2, "survivor", 1)
    assert await crashed.claim_due("crashed", LEASE) == []
    assert await survivor.complete("orphan", again.epoch)
    clock.advance(minutes=5)
    assert await crashed.claim_due("crashed", LEASE) == []


async def test_a_late_completion_by_the_first_owner_still_stops_refiring(clients: list[Any], clock: FakeClock) -> None:
    slow, other = TimerStore(clients[0], clock=clock), TimerStore(clients[1], clock=clock)
    await slow.schedule("slow", T0, "k")
    [held] = await slow.claim_due("slow", LEASE)
    clock.advance(minutes=2)
    assert await slow.complete(held.timer_id, held.epoch)
    assert await other.claim_due("other", LEASE) == []


async def test_cancelled_timers_never_fire(store: TimerStore, clock: FakeClock) -> None:
    for i in range(3):
        await store.schedule(f"m1-{i}", T0 + timedelta(minutes=i), "k", group="m1")
    await store.schedule("m2-0", T0, "k", group="m2")
    await store.schedule("lonely", T0, "k")
    assert await store.cancel("lonely")
    assert not await store.cancel("never-scheduled")
    assert await store.cancel_group("m1") == 3
    assert await store.cancel_group("m1") == 0
    assert [t.state for t in await store.list_group("m1")] == ["cancelled"] * 3
    clock.advance(hours=1)
    recorder = Recorder()
    await TimerRunner(store, recorder, "a", lease=LEASE).run_once()
    assert recorder.ids == ["m2-0"]
    assert not await store.move("lonely", T0 + timedelta(hours=3)), "a cancelled timer cannot be moved back to life"


async def test_moving_before_firing_changes_only_when_it_fires(store: TimerStore, clock: FakeClock) -> None:
    await store.schedule("moved", T0 + timedelta(hours=1), "k", group="g")
    assert await store.move("moved", T0 + timedelta(hours=3))
    assert not await store.move("unknown", T0)
    recorder = Recorder()
    runner = TimerRunner(store, recorder, "a", lease=LEASE)
    clock.advance(hours=2)
    assert await runner.run_once() == 0, "it must not fire at its old time"
    clock.advance(hours=1)
    assert await runner.run_once() == 1
    clock.advance(hours=5)
    assert await runner.run_once() == 0
    assert recorder.fired[0].timer.due_at == T0 + timedelta(hours=3)


async def test_moving_after_firing_rearms_it_under_a_new_epoch(store: TimerStore, clock: FakeClock) -> None:
    recorder = Recorder()
    runner = TimerRunner(store, recorder, "a", lease=LEASE)
    await store.schedule("reminder", T0, "k")
    assert await runner.run_once() == 1
    assert await store.move("reminder", T0 + timedelta(days=2))
    clock.advance(days=1)
    assert await runner.run_once() == 0
    clock.advance(days=1)
    assert await runner.run_once() == 1
    assert [(f.epoch, f.firing_id) for f in recorder.fired] == [(1, "reminder|1"), (2, "reminder|2")]


async def test_scheduling_again_is_idempotent_and_a_new_time_rearms(store: TimerStore, clock: FakeClock) -> None:
    recorder = Recorder()
    runner = TimerRunner(store, recorder, "a", lease=LEASE)
    first = await store.schedule("s", T0, "k", {"v": 1}, group="g")
    assert await runner.run_once() == 1
    replay = await store.schedule("s", T0, "k", {"v": 1}, group="g")
    assert (replay.epoch, replay.due_at, replay.data, replay.state) == (first.epoch, first.due_at, first.data, "fired")
    assert await runner.run_once() == 0, "a replayed schedule must not fire again"
    rearmed = await store.schedule("s", T0 + timedelta(hours=1), "k", {"v": 2}, group="g")
    assert rearmed.epoch == 2 and rearmed.data == {"v": 2}
    clock.advance(hours=1)
    assert await runner.run_once() == 1
    await store.cancel("s")
    revived = await store.schedule("s", T0 + timedelta(hours=2), "k", {"v": 2}, group="g")
    assert revived.state == "pending" and revived.epoch == 3


async def test_a_failing_callback_is_retried_after_its_lease_then_abandoned(store: TimerStore, clock: FakeClock) -> None:
    calls: list[int] = []

    async def broken(item: ClaimedTimer) -> None:
        calls.append(item.attempt)
        raise RuntimeError("mail server on fire")

    store.max_attempts = 3
    runner = TimerRunner(store, broken, "a", lease=LEASE)
    await store.schedule("flaky", T0, "k")
    assert await runner.run_once() == 0
    assert await runner.run_once() == 0 and calls == [1], "held by its lease until it expires"
    for _ in range(4):
        clock.advance(seconds=61)
        await runner.run_once()
    assert calls == [1, 2, 3]
    fired = await store.timers.find_one({"_id": "flaky"})
    assert fired["state"] == "fired" and fired["gave_up"] is True and fired["fired_epoch"] == 1


async def test_purge_removes_old_fired_and_cancelled_timers_only(store: TimerStore, clock: FakeClock) -> None:
    runner = TimerRunner(store, Recorder(), "a", lease=LEASE)
    await store.schedule("old-fired", T0, "k")
    await store.schedule("old-unfired-but-cancelled", T0, "k")
    await store.cancel("old-unfired-but-cancelled")
    await runner.run_once()
    await store.schedule("future", T0 + timedelta(days=60), "k")
    clock.advance(days=40)
    assert await store.purge_fired(clock() - timedelta(days=30)) == 2
    assert await store.get("old-fired") is None and not await store.has_fired("old-fired", 1)
    assert await store.get("old-unfired-but-cancelled") is None, "cancelled long ago: nothing left to fire"
    assert await store.get("future") is not None


async def test_a_callback_can_ask_to_be_fired_again_later(store: TimerStore, clock: FakeClock) -> None:
    attempts: list[int] = []

    async def not_yet(item: ClaimedTimer) -> None:
        attempts.append(item.attempt)
        if item.attempt < 3:
            raise RetryAt(clock() + timedelta(minutes=10), "contact not known yet")

    runner = TimerRunner(store, not_yet, "a", lease=LEASE)
    await store.schedule("waiting", T0, "k")
    assert await runner.run_once() == 0
    clock.advance(minutes=9)
    assert await runner.run_once() == 0 and attempts == [1], "held until the time it asked for, not just the lease"
    clock.advance(minutes=1)
    assert await runner.run_once() == 0 and attempts == [1, 2]
    clock.advance(minutes=10)
    assert await runner.run_once() == 1 and attempts == [1, 2, 3]
    clock.advance(hours=1)
    assert await runner.run_once() == 0


async def test_purge_also_removes_long_cancelled_timers(store: TimerStore, clock: FakeClock) -> None:
    await store.schedule("gone", T0 + timedelta(minutes=1), "k")
    await store.cancel("gone")
    await store.schedule("alive", T0 + timedelta(days=60), "k")
    clock.advance(days=31)
    assert await store.purge_fired(clock() - timedelta(days=30)) == 1
    assert await store.get("gone") is None and await store.get("alive") is not None


async def test_an_outage_longer_than_all_attempts_never_makes_a_timer_give_up(store: TimerStore, clock: FakeClock) -> None:
    """A follow-up whose publish fails through a long Kafka outage must still fire once Kafka is back."""
    from aiokafka.errors import KafkaConnectionError

    outage = {"left": 20}
    calls: list[int] = []

    async def publish(item: ClaimedTimer) -> None:
        calls.append(item.attempt)
        if outage["left"]:
            outage["left"] -= 1
            raise KafkaConnectionError("broker down")

    store.max_attempts = 3
    runner = TimerRunner(store, publish, "a", lease=LEASE, outage_backoff_s=(1.0, 30.0))
    await store.schedule("followup", T0, "k")
    fired = 0
    for _ in range(40):
        fired += await runner.run_once()
        clock.advance(seconds=31)
    assert fired == 1 and len(calls) == 21, "20 failed tries during the outage, then one success"
    assert set(calls) == {1}, "outage failures do not use up attempts"
    doc = await store.timers.find_one({"_id": "followup"})
    assert doc["state"] == "fired" and not doc.get("gave_up")


async def test_each_lease_starts_when_its_item_is_claimed_not_with_its_batch(clients: list[Any], clock: FakeClock) -> None:
    """A slow runner working through several due items must not leave the later ones
    claimable by a second runner while it is still on them (nor fire any item twice)."""
    first, second = TimerStore(clients[0], clock=clock), TimerStore(clients[1], clock=clock)
    for i in range(3):
        await first.schedule(f"slow-{i}", T0, "k")
    fired: list[str] = []
    other = Recorder()
    other_runner = TimerRunner(second, other, "b", lease=LEASE)

    async def slow(item: ClaimedTimer) -> None:
        clock.advance(seconds=LEASE.total_seconds() * 0.7)
        await other_runner.run_once()  # the other instance polls while this one is busy
        fired.append(item.timer_id)

    await TimerRunner(first, slow, "a", lease=LEASE).run_once()
    assert Counter(fired + other.ids) == Counter({f"slow-{i}": 1 for i in range(3)})


async def test_a_move_during_a_firing_is_not_swallowed_by_its_completion(store: TimerStore, clock: FakeClock) -> None:
    moved: list[int] = []

    async def fire_and_meanwhile_move(item: ClaimedTimer) -> None:
        moved.append(item.epoch)
        if item.epoch == 1:
            assert await store.move("reminder", T0 + timedelta(hours=1))  # the meeting moved meanwhile

    runner = TimerRunner(store, fire_and_meanwhile_move, "a", lease=LEASE)
    await store.schedule("reminder", T0, "k")
    assert await runner.run_once() == 0, "epoch 1's completion no longer applies"
    clock.advance(hours=1)
    assert await runner.run_once() == 1 and moved == [1, 2]
    assert await store.has_fired("reminder") and (await store.get("reminder")).epoch == 2


async def test_an_idle_runner_sleeps_until_the_next_timer_and_wakes_when_one_is_scheduled(store: TimerStore, clock: FakeClock) -> None:
    runner = TimerRunner(store, Recorder(), "a", lease=LEASE, poll_interval_s=0.05, max_idle_s=30)
    assert await runner._idle_for() == 30, "nothing pending: the longest sleep"
    await store.schedule("later", T0 + timedelta(seconds=5), "k")
    assert 4.9 <= await runner._idle_for() <= 5.0
    sleeper = asyncio.create_task(store.wait_for_work(30))
    await asyncio.sleep(0.05)
    await store.schedule("now", T0, "k")
    await asyncio.wait_for(sleeper, 2)


async def test_relabelling_changes_only_the_data_and_never_brings_back_a_purged_timer(store: TimerStore, clock: FakeClock) -> None:
    """A CRM's id for a meeting arrives after its follow-ups: pending ones carry it, purged ones stay gone."""
    from services.matching.followups import FollowUpTimers, timer_id

    recorder = Recorder()
    runner = TimerRunner(store, recorder, "a", lease=LEASE)
    await store.schedule("pending", T0 + timedelta(days=1), "k", {"v": 1}, group="g")
    await store.schedule("fired", T0, "k", {"v": 1}, group="g")
    assert await runner.run_once() == 1
    assert await store.relabel("pending", {"v": 2}) and await store.relabel("fired", {"v": 2})
    pending = await store.get("pending")
    assert pending is not None and (pending.state, pending.epoch, pending.due_at, pending.data) == (
        "pending",
        1,
        T0 + timedelta(days=1),
        {"v": 2},
    )
    assert await runner.run_once() == 0, "relabelling a fired timer does not re-arm it"

    clock.advance(days=40)
    assert await store.purge_fired(clock() - timedelta(days=30)) == 1
    assert not await store.relabel("fired", {"v": 3}) and await store.get("fired") is None

    followups = FollowUpTimers(store, {"attendance": timedelta(days=1)})
    await followups.relabel(["gone-meeting"], {"gone-meeting": {"crm": "M-1"}})
    assert await store.get(timer_id("gone-meeting", "attendance")) is None, "no timer is created for a meeting whose follow-ups were purged"
    clock.advance(days=400)
    assert await runner.run_once() == 1 and recorder.ids[-1] == "pending"
    assert recorder.fired[-1].timer.data == {"v": 2}
