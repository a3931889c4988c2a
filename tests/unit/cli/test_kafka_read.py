"""Consumer-group lag arithmetic and group naming."""

from __future__ import annotations

from aiokafka import TopicPartition

from outgoing_cli.kafka_read import lag_of, subscribed_topic

P0, P1, P2 = (TopicPartition("t.forms.signups", p) for p in range(3))


def test_lag_is_end_minus_committed_summed_over_partitions() -> None:
    assert lag_of({P0: 3, P1: 10}, {P0: 5, P1: 10}, {}) == 2


def test_a_partition_never_committed_counts_from_its_start() -> None:
    assert lag_of({P0: 5}, {P0: 5, P1: 7, P2: 4}, {P1: 2, P2: 4}) == 5


def test_a_commit_past_the_end_is_no_negative_lag() -> None:
    assert lag_of({P0: 9}, {P0: 5}, {}) == 0


def test_the_subscribed_topic_is_after_the_separator() -> None:
    assert subscribed_topic("t1.registration/t1.forms.signups") == "t1.forms.signups"
    assert subscribed_topic("t1.registration") is None
    assert subscribed_topic("t1.registration/") is None


def test_a_group_name_survives_log_redaction() -> None:
    from shared.logging import redact_text

    group = "t1.matching/t1.registration.events"
    assert redact_text(f"joined group {group}") == f"joined group {group}"
