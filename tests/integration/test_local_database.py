"""The embedded database `make run` uses: mongo-java-server on its H2 file backend.

Started the way deploy/local/infra.py starts it, on a port and run folder of its own, so it
never touches the suite's shared server.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from deploy.local import infra

pytestmark = pytest.mark.integration


@pytest.fixture
def own_server(real_servers: infra.Config, tmp_path: Path) -> Iterator[infra.Config]:
    if shutil.which("mongod"):
        pytest.skip("a mongod on PATH wins over the embedded server")
    port = infra.free_port()
    cfg = dataclasses.replace(real_servers, run_dir=tmp_path, mongo_url=f"mongodb://127.0.0.1:{port}", mongo_url_explicit=False)
    yield cfg
    infra.stop(cfg, "mongo")


def test_its_data_survives_a_restart(own_server: infra.Config) -> None:
    assert infra.start_mongo(own_server) == "started"
    with MongoClient(own_server.mongo_url, serverSelectionTimeoutMS=5000) as client:
        client.kept.things.insert_many([{"_id": i, "n": i} for i in range(100)])
        client.kept.things.create_index("n", unique=True)
    assert infra.stop(own_server, "mongo")
    assert (own_server.run_dir / "mongo" / "data" / "outgoing.mv").stat().st_size > 0

    assert infra.start_mongo(own_server) == "started"
    with MongoClient(own_server.mongo_url, serverSelectionTimeoutMS=5000) as client:
        assert client.kept.things.count_documents({}) == 100
        assert any(ix["key"] == {"n": 1} and ix.get("unique") for ix in client.kept.things.list_indexes())
        version = client.admin.command("buildInfo")["version"]
    assert version.startswith("5.0"), "the launcher reports MongoDB 5.0 (wire 13), which PyMongo accepts"


def test_a_query_on_id_and_more_conditions_keeps_mongodb_semantics(real_servers: infra.Config) -> None:
    """The local server reads ``{_id, …}`` by ``_id`` (OutgoingMongoServer.java); what matches must not change."""
    with MongoClient(real_servers.mongo_url, serverSelectionTimeoutMS=5000) as client:
        things = client[f"idfirst_{infra.free_port()}"].things
        try:
            things.insert_many([{"_id": f"t{i}", "state": "pending", "n": i} for i in range(50)] + [{"_id": 7, "state": "pending"}])
            assert things.update_one({"_id": "t1", "state": "pending"}, {"$set": {"state": "fired"}}).modified_count == 1
            assert things.update_one({"_id": "t1", "state": "pending"}, {"$set": {"state": "fired"}}).matched_count == 0
            assert things.find_one_and_update({"_id": "t2", "n": {"$gte": 2}}, {"$set": {"x": 1}}) is not None
            assert things.find_one_and_update({"_id": "t2", "n": {"$gt": 2}}, {"$set": {"x": 2}}) is None
            assert things.count_documents({"_id": "t1", "state": "fired"}) == 1
            assert things.count_documents({"_id": "absent", "state": "pending"}) == 0
            assert things.count_documents({"_id": 7.0, "state": "pending"}) == 1, "numbers compare by value, as in MongoDB"
            assert things.count_documents({"_id": {"$in": ["t3", "t4"]}, "state": "pending"}) == 2
            assert things.count_documents({"_id": "t3", "$or": [{"n": 3}, {"n": 99}]}) == 1
            assert things.delete_one({"_id": "t5", "n": 6}).deleted_count == 0
            assert things.delete_one({"_id": "t5", "n": 5}).deleted_count == 1
        finally:
            things.database.client.drop_database(things.database.name)
