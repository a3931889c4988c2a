"""The break bound, worked out on the second core while annealing holds the first.

Started by ``solve_large`` once the placement is settled; reads (indexed instance, meetings
placed at least, seconds) on stdin and writes each higher bound as a frame. The parent takes
the last one at its deadline and kills the worker: the bound it has then is proven, only
weaker than the finished one (participants not reached yet count for 0).
"""

from __future__ import annotations

import os
import pickle
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from services.matching.domain.frames import Frames, spawn, stop, write_frame
from services.matching.domain.instance import Indexed
from services.matching.domain.windows import most_kept

EMIT_EVERY_S = 2.0
DONE = "done"


@dataclass(frozen=True)
class Proven:
    bound: int
    finished: bool
    """False: the worker was stopped (or failed) before it had every participant's curve."""

    def says(self, placed_at_least: int) -> str:
        if not self.finished and self.bound == 0:
            return "no bound on breaks: its worker did not finish in time"
        unfinished = "" if self.finished else ", unfinished at the deadline"
        return f"no agenda placing {placed_at_least} meetings or more has fewer than {self.bound} breaks (each participant alone, combined{unfinished})"


class BoundWorker:
    def __init__(self, ix: Indexed, placed_at_least: int, seconds: float) -> None:
        self.process: subprocess.Popen[bytes] | None
        try:
            self.process = spawn("services.matching.domain.boundworker", (ix, placed_at_least, seconds))
        except OSError:
            self.process = None

    def collect(self, until: float) -> Proven:
        """The highest bound written by ``until`` (``time.perf_counter()``), or sooner if the worker is done.

        The worker is stopped either way.
        """
        process, self.process = self.process, None
        if process is None or process.stdout is None:
            return Proven(0, finished=False)
        frames, bounds, finished, ended = Frames(), [0], False, False
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                while not ended and selector.select(timeout=max(0.0, until - time.perf_counter())):
                    chunk = os.read(process.stdout.fileno(), 1 << 16)
                    found = frames.feed(chunk)
                    bounds += [b for b in found if isinstance(b, int)]
                    finished = finished or DONE in found
                    ended = finished or not chunk
        except OSError:
            pass
        finally:
            stop(process)
        return Proven(max(bounds), finished)


def main() -> None:
    from services.matching.domain.breakbound import combine, curve

    out = sys.stdout.buffer
    ix, placed_at_least, seconds = pickle.load(sys.stdin.buffer)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, max(0.1, seconds + 1.0))
    tops = [most_kept(ix, p) for p in range(len(ix.participant_ids))]
    held = [sum(1 for k in meetings if ix.domains[k]) for meetings in ix.meetings_of]
    order = sorted(range(len(tops)), key=lambda p: tops[p] == held[p])
    curves, best, emitted = {}, 0, time.perf_counter()
    for done, p in enumerate(order, start=1):
        curves[p] = curve(ix, p)
        if done == len(order) or time.perf_counter() - emitted >= EMIT_EVERY_S:
            emitted = time.perf_counter()
            bound = combine(ix, curves, placed_at_least, tops)
            if bound > best:
                best = bound
                write_frame(out, best)
    write_frame(out, DONE)


if __name__ == "__main__":
    main()
