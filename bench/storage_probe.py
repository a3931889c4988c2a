"""The database probes behind docs/storage.md, against whatever server OUTGOING_MONGO_URL names.

    .venv/bin/python bench/storage_probe.py [--docs 5000] [--lookups 2000]

Measures, on a scratch database that it drops afterwards:
* ``find_one`` by ``_id`` and by a uniquely indexed secondary field (mean and p95, ms), with
  ``--docs`` documents of about 2 KB stored;
* 8 clients each running 250 ``$inc`` on one document (how many of the 2,000 survive);
* 8 clients racing one conditional update (how many win: exactly 1 is correct);
* ``$push`` with ``$each`` and a negative ``$slice``;
* re-creating existing indexes in one ``createIndexes`` command.
Run it on a quiet machine (not beside the test suite).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymongo import AsyncMongoClient, IndexModel


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"mean {statistics.fmean(ordered) * 1000:.2f} ms, p95 {ordered[int(len(ordered) * 0.95)] * 1000:.2f} ms"


async def probe(url: str, docs: int, lookups: int) -> dict[str, Any]:
    name = f"probe{uuid.uuid4().hex[:8]}"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    db = client[name]
    figures: dict[str, Any] = {"server": (await client.admin.command("buildInfo")).get("version"), "docs": docs}
    try:
        coll = db.companies
        await coll.create_index("natural_key", unique=True)
        filler = "x" * 2000
        for start in range(0, docs, 1000):
            await coll.insert_many(
                [{"_id": f"c{i}", "natural_key": f"k{i}", "filler": filler} for i in range(start, min(docs, start + 1000))]
            )
        by_id, by_key = [], []
        for n in range(lookups):
            i = (n * 7919) % docs
            t = time.perf_counter()
            await coll.find_one({"_id": f"c{i}"})
            by_id.append(time.perf_counter() - t)
            t = time.perf_counter()
            await coll.find_one({"natural_key": f"k{i}"})
            by_key.append(time.perf_counter() - t)
        figures["find_one by _id"] = _ms(by_id)
        figures["find_one by unique secondary"] = _ms(by_key)
        conditional = []
        for n in range(min(lookups, 500)):
            i = (n * 7919) % docs
            t = time.perf_counter()
            await coll.update_one({"_id": f"c{i}", "natural_key": f"k{i}"}, {"$set": {"seen": n}})
            conditional.append(time.perf_counter() - t)
        figures["update_one by _id and one more field"] = _ms(conditional)

        await db.counter.insert_one({"_id": 1, "n": 0, "v": 0})
        clients = [AsyncMongoClient(url) for _ in range(8)]

        async def increments(c: AsyncMongoClient[dict[str, Any]]) -> None:
            for _ in range(250):
                await c[name].counter.update_one({"_id": 1}, {"$inc": {"n": 1}})

        await asyncio.gather(*(increments(c) for c in clients))
        figures["$inc by 8 clients x 250"] = f"{(await db.counter.find_one({'_id': 1}))['n']} of 2000"
        wins = await asyncio.gather(*(c[name].counter.update_one({"_id": 1, "v": 0}, {"$set": {"v": 1}}) for c in clients))
        figures["conditional update raced by 8"] = f"{sum(w.modified_count for w in wins)} winner(s)"
        for c in clients:
            await c.close()

        await db.arrays.insert_one({"_id": 1, "a": []})
        await db.arrays.update_one({"_id": 1}, {"$push": {"a": {"$each": list(range(10)), "$slice": -3}}})
        figures["$push $each with $slice -3"] = str((await db.arrays.find_one({"_id": 1}))["a"])
        models = [IndexModel([("x", 1)], name="x"), IndexModel([("y", 1)], name="y")]
        await db.idx.create_indexes(models)
        await db.idx.create_indexes(models)
        figures["createIndexes of existing indexes"] = "ok"
    finally:
        await client.drop_database(name)
        await client.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=5000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--url", default=os.environ.get("OUTGOING_MONGO_URL", "mongodb://127.0.0.1:27017"))
    args = parser.parse_args()
    for key, value in asyncio.run(probe(args.url, args.docs, args.lookups)).items():
        print(f"{key:38} {value}")


if __name__ == "__main__":
    main()
