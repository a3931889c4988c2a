"""A real MongoDB serves every hot query from an index (explain), not by a collection scan.

Runs where the database can explain, i.e. a ``mongod`` on PATH or OUTGOING_MONGO_URL
pointing at MongoDB 7/8; mongo-java-server has no ``explain`` (it scans in memory for
non-unique indexes anyway), so there the module is skipped and tests/unit/test_hot_queries.py
is what checks the declarations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from shared.mongo import HotQuery, create_client, ensure_indexes
from shared.settings import Settings
from tests.unit.test_hot_queries import CASES, SERVICES

pytestmark = pytest.mark.integration


def _filter(query: HotQuery) -> dict[str, Any]:
    found: dict[str, Any] = dict.fromkeys(query.equality, "probe")
    if query.range:
        found[query.range] = {"$lte": datetime.now(UTC)}
    return found


def _stages(plan: dict[str, Any]) -> list[str]:
    stages = [plan.get("stage", "")]
    for child in ("inputStage", "queryPlan"):
        if isinstance(plan.get(child), dict):
            stages += _stages(plan[child])
    for child in plan.get("inputStages", []):
        stages += _stages(child)
    return stages


@pytest.fixture
async def db(real_servers: Any, unique_name: str) -> AsyncIterator[Any]:
    settings = Settings(mongo_url=real_servers.mongo_url, mongo_db=unique_name)
    client = create_client(settings)
    database = client[unique_name]
    try:
        await database.command("explain", {"find": "probe", "filter": {}})
    except OperationFailure as error:
        await client.close()
        pytest.skip(f"this MongoDB-wire server cannot explain ({error.code}); the unit test checks the declarations")
    yield database
    await client.drop_database(unique_name)
    await client.close()


@pytest.mark.parametrize(("service", "query"), CASES, ids=[f"{s}:{q.name}" for s, q in CASES])
async def test_the_winning_plan_uses_an_index(db: Any, service: str, query: HotQuery) -> None:
    indexes, _ = SERVICES[service]
    await ensure_indexes(db, [spec for spec in indexes if spec.collection == query.collection])
    await db[query.collection].insert_many([{"_id": f"d{i}", "n": i} for i in range(50)])
    command: dict[str, Any] = {"find": query.collection, "filter": _filter(query)}
    if query.sort:
        command["sort"] = dict.fromkeys(query.sort, 1)
    explained = await db.command("explain", command, verbosity="queryPlanner")
    stages = _stages(explained["queryPlanner"]["winningPlan"])
    assert "COLLSCAN" not in stages and ({"IXSCAN", "IDHACK", "EXPRESS_IXSCAN", "EXPRESS_IDHACK"} & set(stages)), stages
