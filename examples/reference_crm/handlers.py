"""What the CRM does with each record: the subscription table and one small function per event type.

``Crm.apply`` is the whole contract with the loop: it never raises for a record it cannot
read (it notes it in ``skipped``), only for a failing database, and a record it has
applied before changes nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from examples.reference_crm import links
from examples.reference_crm.events import (
    MAJOR_VERSION,
    VERSIONS,
    Event,
    Malformed,
    Record,
    instant,
    integer,
    obj,
    optional_bool,
    optional_int,
    optional_text,
    parse,
    text,
    texts,
    when,
)
from examples.reference_crm.store import Company, Meeting, Store

log = logging.getLogger("reference_crm")

CONTACTS = "registration.contacts"
TOPICS = ("registration.events", CONTACTS, "matching.events", "notifications.events", "missions.catalogue", "forms.meetings")
"""What the CRM reads. ``forms.meetings`` is upstream's input, not one of Outgoing's public
topics: it is read only for ``followup.answered``, the one place meeting outcomes appear."""


@dataclass
class Crm:
    store: Store
    prefix: str
    system: str

    @property
    def links_topic(self) -> str:
        return f"{self.prefix}.crm.links"

    def apply(self, record: Record) -> None:
        """Apply one record inside the caller's transaction."""
        if record.offset <= self.store.applied_position(record.topic, record.partition):
            return  # read again after a restart or a rebalance: already applied
        try:
            with self.store.savepoint():
                self._apply(record)
        except Malformed as error:
            self._skip(record, str(error))
        except sqlite3.OperationalError:
            raise  # the database itself is failing (locked, full): stop; a restart resumes at the last commit
        except Exception as error:  # noqa: BLE001 - a record that breaks a handler must not stall its partition
            self._skip(record, f"{type(error).__name__}: {error}")
        self.store.advance(record.topic, record.partition, record.offset)

    def _apply(self, record: Record) -> None:
        logical = record.topic.removeprefix(f"{self.prefix}.")
        if record.tombstone:
            if logical == CONTACTS:
                self.store.delete_contact(record.key_text())
            return
        event = parse(record)
        handler = ROUTES.get((logical, event.name))
        if handler is None:
            log.debug("ignored %s on %s: not a type this CRM uses", event.type, record.topic)
            return
        wanted = VERSIONS.get(event.name, MAJOR_VERSION)
        if event.major < wanted:
            log.debug("passed over %s: this CRM reads its facts in .v%d", event.type, wanted)
            return
        if event.major > wanted:
            raise Malformed(f"{event.type}: this consumer understands only .v{wanted}")
        if self.store.processed(event.source, event.id):
            return  # delivered again (at least once): already applied
        handler(self, event)
        self.store.mark_processed(event.source, event.id, event.type)

    def _skip(self, record: Record, reason: str) -> None:
        log.warning("skipped %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        self.store.skip(record.topic, record.partition, record.offset, reason)


# ---------------------------------------------------------------- registration.events and contacts


def _company(profile: Mapping[str, object]) -> Company:
    sectors = texts(profile, "sectors")
    return Company(text(profile, "company_id"), text(profile, "company_name"), text(profile, "role"), text(profile, "country"), sectors)


def company_registered(crm: Crm, event: Event) -> None:
    _save_company(crm, event, _company(event.data))


def company_updated(crm: Crm, event: Event) -> None:
    _save_company(crm, event, _company(obj(event.data, "profile")))


def _save_company(crm: Crm, event: Event, company: Company) -> None:
    external_id = crm.store.save_company(company)
    if external_id:  # new to the CRM: tell Outgoing our id, once
        crm.store.enqueue(links.company_link(crm.links_topic, event, company.company_id, crm.system, external_id))


def company_erased(crm: Crm, event: Event) -> None:
    crm.store.erase_company(text(event.data, "company_id"), when(event))


def contact_recorded(crm: Crm, event: Event) -> None:
    contact = obj(event.data, "contact")
    language = optional_text(contact, "preferred_language") or optional_text(event.data, "preferred_language")
    crm.store.save_contact(
        text(event.data, "company_id"), text(contact, "name"), text(contact, "email"), optional_text(contact, "phone"), language
    )


def enrollment_confirmed(crm: Crm, event: Event) -> None:
    _save_enrollment(crm, event, "confirmed", None)


def enrollment_cancelled(crm: Crm, event: Event) -> None:
    _save_enrollment(crm, event, "cancelled", optional_text(event.data, "reason"))


def _save_enrollment(crm: Crm, event: Event, status: str, reason: str | None) -> None:
    company_id, mission_id = text(event.data, "company_id"), text(event.data, "mission_id")
    external_id = crm.store.save_enrollment(company_id, mission_id, text(event.data, "enrollment_id"), status, reason)
    if external_id:  # new to the CRM: tell Outgoing our id, once
        crm.store.enqueue(links.enrollment_link(crm.links_topic, event, company_id, mission_id, crm.system, external_id))


# ---------------------------------------------------------------- matching.events


def _meeting(data: Mapping[str, object], status: str) -> Meeting:
    return Meeting(
        meeting_id=text(data, "meeting_id"),
        mission_id=text(data, "mission_id"),
        participants=texts(data, "participants"),
        start_utc=instant(data, "start"),
        end_utc=instant(data, "end"),
        status=status,
        sequence=integer(data, "sequence"),
    )


def _save_meeting(crm: Crm, event: Event, meeting: Meeting) -> None:
    external_id = crm.store.save_meeting(meeting)
    if external_id:
        link = links.meeting_link(crm.links_topic, event, meeting.mission_id, meeting.meeting_id, crm.system, external_id)
        crm.store.enqueue(link)


def meeting_scheduled(crm: Crm, event: Event) -> None:
    _save_meeting(crm, event, _meeting(event.data, "scheduled"))


def meeting_rescheduled(crm: Crm, event: Event) -> None:
    _save_meeting(crm, event, _meeting(obj(event.data, "meeting"), "rescheduled"))


def meeting_cancelled(crm: Crm, event: Event) -> None:
    _save_meeting(crm, event, _meeting(event.data, "cancelled"))


# ---------------------------------------------------------------- outcomes, missions, e-mails


def followup_answered(crm: Crm, event: Event) -> None:
    data = event.data
    key = (text(data, "meeting_id"), text(data, "company_id"), text(data, "kind"))
    answers = (
        optional_bool(data, "attended"),
        optional_int(data, "satisfaction"),
        optional_bool(data, "contract_signed"),
        optional_bool(data, "under_negotiation"),
        optional_text(data, "comment"),
    )
    crm.store.save_outcome(key, text(data, "mission_id"), answers, when(event))


def mission_planned(crm: Crm, event: Event) -> None:
    data = event.data
    values = tuple(optional_text(data, name) for name in ("country", "market", "window_start", "window_end", "status"))
    crm.store.save_mission(text(data, "mission_id"), values)


def notification_outcome(status: str) -> Callable[[Crm, Event], None]:
    def record(crm: Crm, event: Event) -> None:
        data = event.data
        values = (optional_text(data, "kind"), status, optional_text(data, "meeting_id"), when(event))
        crm.store.save_activity(text(data, "notification_id"), text(data, "company_id"), values)

    return record


ROUTES: dict[tuple[str, str], Callable[[Crm, Event], None]] = {
    ("registration.events", "company.registered"): company_registered,
    ("registration.events", "company.updated"): company_updated,
    ("registration.events", "company.erased"): company_erased,
    ("registration.events", "enrollment.confirmed"): enrollment_confirmed,
    ("registration.events", "enrollment.cancelled"): enrollment_cancelled,
    (CONTACTS, "contact.recorded"): contact_recorded,
    ("matching.events", "meeting.scheduled"): meeting_scheduled,
    ("matching.events", "meeting.rescheduled"): meeting_rescheduled,
    ("matching.events", "meeting.cancelled"): meeting_cancelled,
    ("forms.meetings", "followup.answered"): followup_answered,
    ("missions.catalogue", "mission.planned"): mission_planned,
    ("notifications.events", "notification.sent"): notification_outcome("sent"),
    ("notifications.events", "notification.failed"): notification_outcome("failed"),
}
"""(topic without prefix, type without version) -> handler. Everything else is passed over:
signup.rejected, matches.proposed, agenda.published, followup.due, other notifications."""
