"""The CRM's answer to Outgoing: "this is my id for your company / enrollment / meeting", on ``<prefix>.crm.links``.

Each link is a CloudEvent in structured JSON mode, built with the SDK. Outgoing validates
it strictly (shared/contracts/crm.py): exactly these data fields, ``id``, ``correlationid``
and ``causationid`` as UUIDs, ``dataschema`` naming the type's schema. Other extension
attributes are kept if CloudEvents allows them (lowercase names, scalar values); the key
is set here, not through the SDK's ``partitionkey``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings import kafka
from cloudevents.core.v1.event import CloudEvent

from examples.reference_crm.events import Event
from examples.reference_crm.store import Outgoing

SOURCE = "/crm/reference"
SCHEMA_BASE = "https://schemas.outgoing.example/events/"
COMPANY_LINK = "company.external_id_set.v1"
ENROLLMENT_LINK = "enrollment.external_id_set.v1"
MEETING_LINK = "meeting.external_id_set.v1"


def company_link(topic: str, cause: Event, company_id: str, system: str, external_id: str) -> Outgoing:
    """Keyed by company id, like every event about the company."""
    data = {"company_id": company_id, "system": system, "external_id": external_id}
    return _link(topic, COMPANY_LINK, cause, subject=company_id, data=data)


def enrollment_link(topic: str, cause: Event, company_id: str, mission_id: str, system: str, external_id: str) -> Outgoing:
    """Keyed by company id, as the contract says: Outgoing handles a company and its enrollments
    together, in order. (Its own enrollment events are keyed by mission id; the link is not.)"""
    data = {"company_id": company_id, "mission_id": mission_id, "system": system, "external_id": external_id}
    return _link(topic, ENROLLMENT_LINK, cause, subject=company_id, data=data)


def meeting_link(topic: str, cause: Event, mission_id: str, meeting_id: str, system: str, external_id: str) -> Outgoing:
    """Keyed by mission id: Outgoing's one writer of a mission's agenda reads it in order."""
    data = {"mission_id": mission_id, "meeting_id": meeting_id, "system": system, "external_id": external_id}
    return _link(topic, MEETING_LINK, cause, subject=mission_id, data=data)


def _uuid_or_none(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None


def _link(topic: str, event_type: str, cause: Event, *, subject: str, data: dict[str, Any]) -> Outgoing:
    # The same link always gets the same id: a receiver that sees it twice knows it is one link.
    link_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SOURCE}|{event_type}|{'|'.join(data.values())}"))
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": link_id,
        "source": SOURCE,
        "type": event_type,
        "subject": subject,
        "time": datetime.now(UTC),
        "datacontenttype": "application/json",
        "dataschema": f"{SCHEMA_BASE}{event_type}.json",
        # Outgoing wants UUIDs here; a cause without a usable correlation starts a new one.
        "correlationid": _uuid_or_none(cause.correlationid) or link_id,
    }
    causation = _uuid_or_none(cause.id)
    if causation:
        attributes["causationid"] = causation  # absent rather than null when there is none
    # key_mapper: the Kafka key is the subject. The SDK's default reads a ``partitionkey``
    # extension, which would travel inside the event and fail Outgoing's closed schema.
    message = kafka.to_structured_event(CloudEvent(attributes, data), key_mapper=lambda _: subject)
    headers = [(name, value) for name, value in message.headers.items()]
    # Outgoing's own records also carry these, for tools such as kcat and for its logs.
    headers += [("x-event-id", link_id.encode()), ("x-event-type", event_type.encode())]
    headers += [("correlation_id", str(attributes["correlationid"]).encode())]
    return Outgoing(link_id=link_id, topic=topic, key=subject.encode(), value=message.value, headers=headers)
