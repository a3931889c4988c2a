"""A SAT worker process: reads (indexed instance, worker, hint, seconds) on stdin, writes its messages on stdout.

Started by ``portfolio`` with the interpreter's ``-m``, so it imports only the solver and
the instance model (not the caller's main module, as multiprocessing would), and it can be
killed at the deadline: CaDiCaL cannot be interrupted from within. Frames are a 4-byte
big-endian length and a pickle; the pipe is only ever between this program and its parent.
"""

from __future__ import annotations

import pickle
import signal
import sys

from services.matching.domain.frames import write_frame
from services.matching.domain.satsearch import Message, search


def main() -> None:
    out = sys.stdout.buffer
    ix, worker, hint, seconds = pickle.load(sys.stdin.buffer)
    # SIGALRM's default action ends the process even while CaDiCaL holds the interpreter
    # lock: a worker outlives its deadline by at most a second, even if its parent died.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, max(0.1, seconds + 1.0))

    def report(message: Message) -> None:
        write_frame(out, message)

    try:
        search(ix, worker, report, hint)
    except Exception as error:  # noqa: BLE001 - the parent must hear of it, not wait for the clock
        write_frame(out, repr(error))


if __name__ == "__main__":
    main()
