"""Background scans that cost nothing when idle: the sleep doubles while they find nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


def next_interval(current: float, found: int, base_s: float, max_s: float) -> float:
    """Back to ``base_s`` as soon as a scan finds work; otherwise twice as long, up to ``max_s``."""
    if found:
        return base_s
    return min(max_s, max(base_s, current * 2))


async def poll_forever(scan: Callable[[], Awaitable[int]], base_s: float, max_s: float) -> None:
    """Run ``scan`` (which returns how much work it found) forever, backing off while idle."""
    interval = base_s
    while True:
        found = await scan()
        interval = next_interval(interval, found, base_s, max(base_s, max_s))
        await asyncio.sleep(interval)
