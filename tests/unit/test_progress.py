"""The progress tracker behind /readyz's "stuck": an offset that does not complete, however often redelivered."""

from __future__ import annotations

from shared.health import ProgressTracker


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_partition_failing_on_one_offset_is_stuck_once_the_bound_passes_and_clears_when_it_completes() -> None:
    clock = Clock()
    tracker = ProgressTracker(stuck_after_s=60, clock=clock)
    tracker.started("t", 0, 41)
    tracker.finished("t", 0)
    tracker.started("t", 0, 42)
    for _ in range(100):  # redelivered after each failure: the start stays the first one
        clock.now += 1
        tracker.started("t", 0, 42)
    [stuck] = tracker.stuck()
    assert (stuck.topic, stuck.partition, stuck.offset, stuck.for_s) == ("t", 0, 42, 100.0)
    tracker.finished("t", 0)
    assert tracker.stuck() == [] and tracker.completed == 2


def test_an_idle_partition_is_never_stuck_and_a_moving_one_restarts_its_clock() -> None:
    clock = Clock()
    tracker = ProgressTracker(stuck_after_s=60, clock=clock)
    tracker.started("t", 1, 5)
    clock.now += 59
    tracker.started("t", 1, 6)  # a new offset: progress
    clock.now += 59
    assert tracker.stuck() == []
    tracker.finished("t", 1)
    clock.now += 10_000
    assert tracker.stuck() == [], "nothing in flight: idle, not stuck"


async def test_a_stuck_partition_is_logged_whether_or_not_a_health_port_is_served(caplog) -> None:
    import asyncio
    import logging

    clock = Clock()
    tracker = ProgressTracker(stuck_after_s=1, clock=clock)
    tracker.started("t", 2, 7)
    clock.now += 5
    with caplog.at_level(logging.ERROR):
        task = asyncio.create_task(tracker.report_forever(every_s=0.01))
        await asyncio.sleep(0.05)
        task.cancel()
    assert "consumer stuck on one record" in caplog.text and "'offset': 7" in caplog.text
