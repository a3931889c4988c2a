"""Every query a service runs per message or per poll is served by one of its indexes.

The declarations live beside each store (HOT_QUERIES); docs/storage.md lists them. A real
``mongod`` confirms the plans in tests/integration/test_indexes.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.matching import app as matching_app
from services.matching import store as matching
from services.notifications import store as notifications
from services.registration import store as registration
from shared.mongo import HotQuery, IndexSpec
from shared.timers import timer_hot_queries, timer_indexes

SERVICES: dict[str, tuple[list[IndexSpec], list[HotQuery]]] = {
    "registration": (registration.INDEXES, registration.HOT_QUERIES),
    "matching": (
        [*matching.INDEXES, *timer_indexes(matching_app.TIMERS)],
        [*matching.HOT_QUERIES, *timer_hot_queries(matching_app.TIMERS)],
    ),
    "notifications": (notifications.INDEXES, notifications.HOT_QUERIES),
}
CASES = [(service, query) for service, (_, queries) in SERVICES.items() for query in queries]


@pytest.mark.parametrize(("service", "query"), CASES, ids=[f"{s}:{q.name}" for s, q in CASES])
def test_each_hot_query_has_an_index(service: str, query: HotQuery) -> None:
    indexes, _ = SERVICES[service]
    assert query.served_by(indexes) is not None, f"{service}: no index serves {query}"


@pytest.mark.parametrize(("service", "query"), CASES, ids=[f"{s}:{q.name}" for s, q in CASES])
def test_each_hot_query_is_documented_with_its_index(service: str, query: HotQuery) -> None:
    indexes, _ = SERVICES[service]
    doc = (Path(__file__).parents[2] / "docs" / "storage.md").read_text()
    index = query.served_by(indexes)
    assert index is not None
    row = next((line for line in doc.splitlines() if f"| {service} | {query.name} |" in line), None)
    assert row is not None, f"docs/storage.md has no row for {service}: {query.name}"
    assert f"`{index.model().document['name']}`" in row


def test_an_index_serves_a_query_only_through_its_prefix() -> None:
    compound = IndexSpec("timers", [("state", 1), ("ready_at", 1)], name="ready")
    assert HotQuery("ok", "timers", ("state",), "ready_at").served_by([compound]) is compound
    assert HotQuery("range first", "timers", (), "ready_at").served_by([compound]) is None
    assert HotQuery("other collection", "leases", ("state",)).served_by([compound]) is None
    assert HotQuery("sort not in index", "timers", ("state",), None, ("due_at",)).served_by([compound]) is None
    assert HotQuery("by id", "anything", ("_id",)).served_by([]) is not None
