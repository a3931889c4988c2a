"""``python -m examples.reference_crm --bootstrap localhost:9092 --prefix outgoing --db crm.sqlite --system reference-crm``"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
from pathlib import Path

from examples.reference_crm.consumer import Config, run

SYSTEM = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
"""How Outgoing accepts a CRM's name (shared/contracts/crm.py, CrmSystem)."""


def _system(value: str) -> str:
    if not SYSTEM.match(value):
        raise argparse.ArgumentTypeError("2 to 40 characters: lowercase letters, digits and '-', starting with a letter")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.reference_crm", description=__doc__)
    parser.add_argument("--bootstrap", default="localhost:9092", help="Kafka bootstrap servers")
    parser.add_argument("--prefix", required=True, help="Outgoing's topic prefix (OUTGOING_TOPIC_PREFIX)")
    parser.add_argument("--db", type=Path, default=Path("crm.sqlite"), help="the CRM's SQLite file")
    parser.add_argument("--system", type=_system, default="reference-crm", help="this CRM's name in Outgoing's external_ids")
    parser.add_argument("--group", help="consumer group (default: <prefix>.reference-crm)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config(bootstrap=args.bootstrap, prefix=args.prefix, db=args.db, system=args.system, group=args.group)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(config))


if __name__ == "__main__":
    main()
