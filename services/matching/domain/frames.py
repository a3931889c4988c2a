"""Solver worker processes and the frames they answer in: a 4-byte big-endian length and a pickle.

Workers are fresh ``python -m <module>`` processes, not multiprocessing children, which
would re-import the caller's main module (seconds for the CLI) or fork a service's threads;
they can be killed at a deadline whatever they hold. The pipe is only ever between a worker
and its parent, so the pickles are the parent's own objects.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

HEADER = struct.Struct(">I")
ROOT = Path(__file__).resolve().parents[3]


def write_frame(out: BinaryIO, value: object) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(HEADER.pack(len(payload)) + payload)
    out.flush()


class Frames:
    """Whole frames out of a stream read in chunks."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, chunk: bytes) -> list[object]:
        self.buffer += chunk
        found = []
        while len(self.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self.buffer)
            if len(self.buffer) < HEADER.size + size:
                break
            found.append(pickle.loads(bytes(self.buffer[HEADER.size : HEADER.size + size])))
            del self.buffer[: HEADER.size + size]
        return found


def spawn(module: str, payload: object) -> subprocess.Popen[bytes]:
    """A worker process given its whole input at once on stdin; its frames come on stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert process.stdin is not None
    try:
        process.stdin.write(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        process.stdin.close()
    except OSError:
        process.kill()
        process.wait()
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()
