"""Every Kafka topic Outgoing uses, in one place.

Topic names are ``<prefix>.<logical name>``; the prefix comes from settings so that tests
and parallel environments never share a topic. Auto-creation is off on the broker: the
project creates these itself (``outgoing topics create`` or at service start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Topic(StrEnum):
    """Logical topic names. The value is the suffix after the environment prefix."""

    SIGNUP_FORMS = "forms.signups"
    """Upstream web forms: signups, updates, withdrawals, erasure requests."""
    MEETING_FORMS = "forms.meetings"
    """Upstream web forms: meeting requests and answers, follow-up answers."""
    CRM_LINKS = "crm.links"
    """From CRMs: their own ids for our companies, enrollments and meetings (see shared/contracts/crm.py)."""
    OPERATOR_COMMANDS = "operator.commands"
    """Operators: mission planning, overrides, scheduling commands."""
    MISSIONS = "missions.catalogue"
    """The mission catalogue, keyed by mission id (see docs/architecture.md)."""
    REGISTRATION_COMMANDS = "registration.commands"
    """Internal: registration's inputs re-keyed by company id, so one consumer writes each company."""
    REGISTRATION_EVENTS = "registration.events"
    """Company and enrollment facts for matching, notifications and the CRMs."""
    CONTACTS = "registration.contacts"
    """Contact persons (personal data), compacted, keyed by company id; tombstoned on erasure."""
    MATCHING_COMMANDS = "matching.commands"
    """Internal: matching's inputs re-keyed by mission id, so one consumer writes each mission."""
    MATCHING_EVENTS = "matching.events"
    """Proposals, meetings, agendas and follow-ups, keyed by mission id."""
    NOTIFICATION_EVENTS = "notifications.events"
    """Sent and failed notifications, for the CRMs; keyed by company id."""
    REGISTRATION_DLQ = "registration.dlq"
    MATCHING_DLQ = "matching.dlq"
    NOTIFICATIONS_DLQ = "notifications.dlq"
    SMOKE = "smoke"
    """Round-trip checks of the broker itself."""


COMPACTED_TOPICS = frozenset({Topic.MISSIONS, Topic.CONTACTS})
"""Topics whose latest record per key is the state: Kafka keeps that one, drops the rest."""

DEAD_LETTER_TOPICS = (Topic.REGISTRATION_DLQ, Topic.MATCHING_DLQ, Topic.NOTIFICATIONS_DLQ)


@dataclass(frozen=True)
class TopicNames:
    """Resolves logical topics to the names used on the broker for one environment."""

    prefix: str

    def __call__(self, topic: Topic) -> str:
        return f"{self.prefix}.{topic.value}"

    def all(self) -> list[str]:
        return [self(topic) for topic in Topic]
