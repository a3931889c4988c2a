"""The demo's progress bars: each polls one measure until it reaches its target, bounded in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from rich.progress import Progress, ProgressColumn, Task
from rich.text import Text

POLL_S = 1.0


class DemoError(RuntimeError):
    """A stage did not settle in time, or a server could not be started: what and where to look."""


class RateColumn(ProgressColumn):
    """Items per second during the stage (not counting what was done before it began)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed
        done = task.completed - task.fields.get("already", 0)
        if not elapsed or elapsed < 0.5 or done <= 0 or (task.total or 0) <= 1:
            return Text("")
        return Text(f"{done / elapsed:>7,.0f}/s")


@dataclass
class Watch:
    """Polls one measure until it reaches its target, showing progress; bounded in time."""

    progress: Progress
    timeout_s: float
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    async def until(
        self,
        label: str,
        measure: Callable[[], Awaitable[int]],
        target: int,
        also: Callable[[], Awaitable[bool]] | None = None,
        soft: bool = False,
    ) -> int:
        task = self.progress.add_task(label, total=max(target, 1))
        began = time.monotonic()
        deadline = began + self.timeout_s
        first = True
        while True:
            value = await measure()
            if first:
                self.progress.update(task, already=min(value, target))
                first = False
            self.progress.update(task, completed=min(value, target) if target else 1)
            if value >= target and (also is None or await also()):
                self.progress.update(task, completed=max(target, 1))
                self.progress.stop_task(task)
                self.seconds[label] = round(time.monotonic() - began, 1)
                return value
            if time.monotonic() > deadline:
                problem = f"{label}: {value} of {target} after {self.timeout_s:.0f} s"
                if soft:
                    self.progress.stop_task(task)
                    self.warnings.append(problem)
                    return value
                raise DemoError(f"{problem}; the services' logs say why")
            await asyncio.sleep(POLL_S)
