from hypothesis import given
from hypothesis import strategies as st

from shared.contracts.topics import Topic, TopicNames


@given(st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True))
def test_every_topic_is_namespaced_and_distinct(prefix: str) -> None:
    names = TopicNames(prefix).all()
    assert len(set(names)) == len(Topic)
    assert all(name.startswith(prefix + ".") for name in names)
