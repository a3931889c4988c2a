"""Two SAT workers in their own processes, one per core, racing on the same question.

SAT solvers' times on one instance vary by an order of magnitude with the encoding and the
seed; two differently configured workers cut that tail. Processes, not threads: CaDiCaL
holds the interpreter lock and cannot be interrupted, so the clock is enforced by killing
the workers. Each is a fresh ``python -m ...satworker`` (about 0.2 s to start), not a
multiprocessing child, which would re-import the caller's main module (seconds for the CLI)
or fork a service's threads.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from dataclasses import dataclass, field

from pysat.card import EncType

from services.matching.domain.frames import Frames, spawn, stop
from services.matching.domain.instance import Indexed, breaks_of
from services.matching.domain.satsearch import Bound, Found, Infeasible, Message, Worker

STABLE = (("stabilizeonly", 1),)
"""CaDiCaL's satisfiable-leaning mode (target phases): the last, satisfiable question is the long one."""

WORKERS = (
    Worker("cadical-cardnetwrk-tight-first", table_encoding=EncType.cardnetwrk, seed=1, tight_first=True, options=STABLE),
    Worker("cadical-totalizer", table_encoding=EncType.totalizer, seed=2, any_first=True, tight=False, options=STABLE),
)

NO_AGENDA_SHARE = 0.5
"""If no agenda at all is known by this share of the time, the race is abandoned (the caller falls back)."""


@dataclass
class Race:
    slot_of: list[int] | None = None
    breaks: int | None = None
    bound: int = 0
    optimal: bool = False
    infeasible: bool = False
    first_found: float | None = None
    """When the first agenda arrived (``time.perf_counter()``)."""
    trace: list[str] = field(default_factory=list)
    """What happened and when, e.g. "0.41 s cadical-totalizer: agenda with 37 breaks"."""

    def settled(self) -> bool:
        return self.optimal or self.infeasible or (self.breaks is not None and self.breaks <= self.bound)


@dataclass
class _Running:
    name: str
    process: subprocess.Popen[bytes]
    frames: Frames = field(default_factory=Frames)


def _start(ix: Indexed, worker: Worker, hint: list[int] | None, seconds: float) -> _Running:
    """A worker process; it gets the whole input at once, and dies by itself after ``seconds``."""
    return _Running(worker.name, spawn("services.matching.domain.satworker", (ix, worker, hint, seconds)))


def race(
    ix: Indexed,
    deadline: float,
    *,
    hint: list[int] | None = None,
    workers: tuple[Worker, ...] = WORKERS,
    patience: float = NO_AGENDA_SHARE,
) -> Race:
    """Run the workers until one proves the optimum or infeasibility, or the deadline passes.

    ``patience``: the share of the time to wait while no agenda at all is known.
    """
    began = time.perf_counter()
    result = Race()
    give_up = began + patience * (deadline - began)
    running: list[_Running] = []
    with selectors.DefaultSelector() as selector:
        try:
            for worker in workers:
                running.append(_start(ix, worker, hint, deadline - began))
                stdout = running[-1].process.stdout
                assert stdout is not None
                selector.register(stdout, selectors.EVENT_READ, running[-1])
            while not result.settled() and selector.get_map():
                now = time.perf_counter()
                until = deadline if result.slot_of is not None else min(deadline, give_up)
                if now >= until:
                    result.trace.append(f"{now - began:.2f} s: stopped by the clock")
                    break
                for key, _ in selector.select(timeout=until - now):
                    run = key.data
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    for message in run.frames.feed(chunk):
                        _take(ix, result, run.name, message, time.perf_counter() - began)
        except OSError as error:
            result.trace.append(f"the workers' pipes failed: {error}")
        finally:
            for run in running:
                stop(run.process)
    return result


def _take(ix: Indexed, result: Race, name: str, message: Message | str, at: float) -> None:
    """Fold one worker's message into the race."""
    if isinstance(message, str):
        result.trace.append(f"{at:.2f} s {name}: failed: {message}")
        return
    if isinstance(message, Bound):
        if message.value > result.bound:
            result.bound = message.value
            result.trace.append(f"{at:.2f} s {name}: no agenda with fewer than {message.value} breaks")
    elif isinstance(message, Infeasible):
        result.infeasible = True
        result.trace.append(f"{at:.2f} s {name}: every meeting cannot be placed")
    elif isinstance(message, Found):
        count = sum(breaks_of(ix, message.slot_of))
        if result.first_found is None:
            result.first_found = time.perf_counter()
        if result.breaks is None or count < result.breaks:
            result.slot_of, result.breaks = message.slot_of, count
            result.trace.append(f"{at:.2f} s {name}: agenda with {count} breaks")
        if message.optimal:
            result.optimal = True
            result.bound = max(result.bound, count)
