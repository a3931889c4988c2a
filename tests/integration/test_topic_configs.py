"""What the broker holds for each topic the project creates: compaction that really forgets
a tombstoned contact, bounded retention where contacts travel, and min.insync.replicas."""

from __future__ import annotations

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.contracts.topics import Topic, TopicNames
from shared.kafka import admin_client
from shared.settings import Settings

pytestmark = pytest.mark.integration


async def configs(settings: Settings, topic: Topic) -> dict[str, str]:
    name = TopicNames(settings.topic_prefix)(topic)
    async with admin_client(settings, role="test") as admin:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [(_, _, _, _, entries)] = response.resources
    return {entry[0]: entry[1] for entry in entries}


async def test_a_tombstoned_contact_is_compacted_away_within_a_day(settings: Settings) -> None:
    contacts = await configs(settings, Topic.CONTACTS)
    assert contacts["cleanup.policy"] == "compact"
    assert int(contacts["max.compaction.lag.ms"]) <= 24 * 3_600_000 and int(contacts["segment.ms"]) <= 3_600_000
    assert int(contacts["delete.retention.ms"]) <= 24 * 3_600_000


@pytest.mark.parametrize("topic", [Topic.SIGNUP_FORMS, Topic.REGISTRATION_COMMANDS, Topic.REGISTRATION_DLQ, Topic.NOTIFICATIONS_DLQ])
async def test_topics_that_carry_contacts_keep_them_a_week_at_most(settings: Settings, topic: Topic) -> None:
    assert int((await configs(settings, topic))["retention.ms"]) <= 7 * 24 * 3_600_000


async def test_acks_all_means_every_in_sync_replica_up_to_two(settings: Settings) -> None:
    for topic in (Topic.REGISTRATION_EVENTS, Topic.CONTACTS, Topic.MATCHING_COMMANDS):
        assert (await configs(settings, topic))["min.insync.replicas"] == str(min(2, settings.topic_replication))
