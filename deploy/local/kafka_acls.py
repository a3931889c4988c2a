"""Who may do what on Kafka in one environment: derived from the contracts, never listed by hand.

One principal per service, one for operators and their CLI, and the admin:

* a service writes the topics ``shared/contracts/channels.py`` says it writes (its own
  commands, events and dead letters) and reads the topics its own subscribers consume
  (the services are built, connecting nothing, as ``outgoing contracts write`` does);
  it joins only its own consumer groups (``<prefix>.<service>…``, shared/messaging.py);
* the operator reads every topic of the environment, creates topics (``outgoing topics
  create``), looks at every group's offsets (lag), and writes what operators and the
  upstream forms write (``outgoing emit``, ``mission plan``, ``dlq park``…);
* the admin is a super user (``super.users``), as is the plaintext listener's ANONYMOUS:
  neither needs an ACL.

Topic names carry the environment's prefix at their start, and Kafka's patterns match
only a name's beginning, so the ACLs are made per environment (``acls(prefix)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from shared.contracts.channels import CHANNELS, OPERATORS, UPSTREAM_FORMS
from shared.contracts.topics import Topic, TopicNames
from shared.messaging import group_id
from shared.settings import Settings

SERVICES = ("registration", "matching", "notifications")
OPERATOR = "operator"
ADMIN = "admin"
PRINCIPALS = (*SERVICES, OPERATOR, ADMIN)
"""The SCRAM users the local broker gets (deploy/local/kafka_security.py)."""
SUPER_USERS = (f"User:{ADMIN}", "User:ANONYMOUS")
"""ANONYMOUS is whoever connects on the plaintext listener (and the controller's): the local admin side."""


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW entry, from any host, in Kafka's own terms."""

    principal: str
    resource: Literal["TOPIC", "GROUP"]
    pattern: Literal["LITERAL", "PREFIXED"]
    name: str
    operation: Literal["READ", "WRITE", "CREATE", "DESCRIBE"]

    def line(self) -> str:
        return "\t".join(("acl", self.principal, self.resource, self.pattern, self.name, self.operation))


def acls(prefix: str, reads: Mapping[str, Iterable[Topic]] | None = None) -> list[Acl]:
    """Every ACL of the environment ``prefix``; ``reads`` (service -> topics it consumes) defaults to the services' subscribers."""
    names = TopicNames(prefix)
    consumed = reads if reads is not None else service_reads()
    found: set[Acl] = set()
    for service in SERVICES:
        user = f"User:{service}"
        found |= {Acl(user, "TOPIC", "LITERAL", names(c.topic), "WRITE") for c in CHANNELS if service in c.writers}
        found |= {Acl(user, "TOPIC", "LITERAL", names(topic), "READ") for topic in consumed.get(service, ())}
        # Its groups are <prefix>.<service>/<topic> and <prefix>.<service>.parking/<topic>.
        found.add(Acl(user, "GROUP", "PREFIXED", service_group(prefix, service), "READ"))
    operator = f"User:{OPERATOR}"
    found |= {Acl(operator, "TOPIC", "PREFIXED", f"{prefix}.", op) for op in ("READ", "CREATE")}
    found |= {Acl(operator, "TOPIC", "LITERAL", names(c.topic), "WRITE") for c in CHANNELS if {OPERATORS, UPSTREAM_FORMS} & set(c.writers)}
    found.add(Acl(operator, "GROUP", "PREFIXED", f"{prefix}.", "DESCRIBE"))
    return sorted(found)


def scope(prefix: str) -> set[str]:
    """Resource names the environment's ACLs may sit on: ACLs of our principals on them that ``acls`` no longer lists are stale."""
    return {*TopicNames(prefix).all(), f"{prefix}.", *(service_group(prefix, s) for s in SERVICES)}


def service_group(prefix: str, service: str) -> str:
    return group_id(Settings.model_construct(topic_prefix=prefix), service)


def service_reads() -> dict[str, set[Topic]]:
    """The topics each service's subscribers consume: the truth the AsyncAPI document reads too."""
    from outgoing_cli.contracts.readers import readers

    reads: dict[str, set[Topic]] = {service: set() for service in SERVICES}
    for reader in readers():
        reads[reader.service].add(reader.topic)
    return reads


def describe(entries: Iterable[Acl]) -> list[str]:
    """One line per principal and operation, for people (``kafka_security.py acls --show``)."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for acl in entries:
        name = acl.name + ("*" if acl.pattern == "PREFIXED" else "")
        grouped.setdefault((acl.principal, acl.operation, acl.resource.lower()), []).append(name)
    return [f"{p:22} {op:9} {kind:6} {', '.join(sorted(names))}" for (p, op, kind), names in sorted(grouped.items())]
