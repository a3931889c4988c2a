"""CPU used by idle services: the three services and the database, sampled from /proc.

    .venv/bin/python -m outgoing_cli.main demo --keep-running   # or `outgoing dev up`
    .venv/bin/python bench/idle.py --seconds 60 [--run-dir .run/demo]

Reads the pid files that deploy/local/infra.py writes (the services' in ``--run-dir``, the
database's and Kafka's in ``.run``), waits ``--settle`` seconds for the services to go
quiet, then samples each process's CPU time over ``--seconds`` and prints it as a
percentage of one core. The target (docs/storage.md, issue 10) is under 5 % for the
three services plus the database together; Kafka is shown apart.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("registration", "matching", "notifications")


def _pid(run_dir: Path, name: str) -> int | None:
    try:
        return int(json.loads((run_dir / f"{name}.pid").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run" / "demo", help="where the services' pid files are")
    parser.add_argument("--servers-dir", type=Path, default=ROOT / ".run", help="where the database's and Kafka's pid files are")
    args = parser.parse_args()
    pids = {name: _pid(args.run_dir, name) for name in SERVICES}
    pids |= {name: _pid(args.servers_dir, name) for name in ("mongo", "kafka")}
    missing = [name for name, pid in pids.items() if pid is None or not Path(f"/proc/{pid}").exists()]
    if missing:
        raise SystemExit(f"not running: {', '.join(missing)} (start them first; see --help)")
    time.sleep(args.settle)
    before = {name: _cpu_seconds(pid) for name, pid in pids.items() if pid}
    began = time.monotonic()
    time.sleep(args.seconds)
    elapsed = time.monotonic() - began
    used = {name: (_cpu_seconds(pids[name]) - before[name]) / elapsed * 100 for name in before}
    for name, percent in used.items():
        print(f"{name:14} {percent:6.2f} % of one core")
    total = sum(used[name] for name in (*SERVICES, "mongo"))
    print(f"{'services + db':14} {total:6.2f} % of one core over {elapsed:.0f} s  (target < 5 %: {'PASS' if total < 5 else 'MISS'})")


if __name__ == "__main__":
    main()
