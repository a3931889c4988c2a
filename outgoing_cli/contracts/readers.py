"""Who reads each topic, from the services' own subscribers: the document cannot claim a reader that does not exist.

This is the one place outside the services that builds them (without connecting anything),
because their subscribers are the truth about what they consume.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

from shared.contracts.topics import Topic
from shared.messaging import accepts_tombstones, handled_event_types, subscriptions
from shared.settings import Settings

PREFIX = "env"


@dataclass(frozen=True)
class Reader:
    service: str
    topic: Topic
    event_types: frozenset[str]
    tombstones: bool


def readers() -> list[Reader]:
    from services.matching import app as matching
    from services.notifications import app as notifications
    from services.registration import app as registration

    found: list[Reader] = []
    by_name = {f"{PREFIX}.{topic.value}": topic for topic in Topic}
    for service, module in (("registration", registration), ("matching", matching), ("notifications", notifications)):
        # A throwaway key: the services are only built here, to read their subscribers, never run.
        _, runtime = module.create_app(Settings(topic_prefix=PREFIX, link_secret=SecretStr("x" * 32)), configure_logs=False)
        found += [
            Reader(service, by_name[s.topic], frozenset(handled_event_types(s.event_type)), accepts_tombstones(s.event_type))
            for s in subscriptions(runtime.broker)
        ]
    return sorted(found, key=lambda r: (r.service, r.topic.value, sorted(r.event_types)))
