"""The CRM's own database: SQLite, one file, written only inside transactions.

Besides the CRM records it keeps what makes the consumer safe to restart at any moment:

- ``positions``: the last offset applied per topic partition, written in the same
  transaction as the records. A record read again (a restart before the Kafka commit,
  a rebalance, an offset reset) is recognised by its position and skipped: this is what
  protects tombstones, which have no event id.
- ``processed_events``: the (source, id) of every event applied. Outgoing delivers at
  least once, so the same event can appear again at a new offset; its id catches it.
- ``outbox``: the links to publish, stored with the record that caused them and sent after
  the commit; a crash in between re-sends the same bytes, never a second, different link.
- ``skipped``: where the records this consumer could not read are, and why.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ENROLLMENTS = """
CREATE TABLE IF NOT EXISTS enrollments (  -- a company's place in one mission
    enrollment_no INTEGER PRIMARY KEY,     -- the CRM's own number; its id for Outgoing is external_id
    company_id    TEXT NOT NULL,
    mission_id    TEXT NOT NULL,
    enrollment_id TEXT NOT NULL,           -- Outgoing's
    external_id   TEXT UNIQUE,
    status        TEXT NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    reason        TEXT,
    UNIQUE (company_id, mission_id)
);"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS companies (
    crm_no      INTEGER PRIMARY KEY,   -- the CRM's own number; its id for Outgoing is external_id
    company_id  TEXT NOT NULL UNIQUE,  -- Outgoing's id
    external_id TEXT UNIQUE,
    name        TEXT,                  -- removed on erasure
    role        TEXT,
    country     TEXT,
    sectors     TEXT NOT NULL DEFAULT '[]',
    status      TEXT NOT NULL CHECK (status IN ('active', 'erased')),
    erased_at   TEXT
);
CREATE TABLE IF NOT EXISTS contacts (  -- personal data, from the compacted contacts topic
    company_id TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    phone      TEXT,
    language   TEXT
);
{ENROLLMENTS}
CREATE TABLE IF NOT EXISTS meetings (
    meeting_no   INTEGER PRIMARY KEY,
    meeting_id   TEXT NOT NULL UNIQUE,
    external_id  TEXT UNIQUE,
    mission_id   TEXT NOT NULL,
    participants TEXT NOT NULL,        -- JSON list of company ids
    start_utc    TEXT NOT NULL,
    end_utc      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('scheduled', 'rescheduled', 'cancelled')),
    sequence     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outcomes (  -- follow-up answers: attendance, satisfaction, contracts
    meeting_id        TEXT NOT NULL,
    company_id        TEXT NOT NULL,
    kind              TEXT NOT NULL,
    mission_id        TEXT NOT NULL,
    attended          INTEGER,
    satisfaction      INTEGER,
    contract_signed   INTEGER,
    under_negotiation INTEGER,
    comment           TEXT,            -- free text: removed on erasure
    answered_at       TEXT NOT NULL,
    PRIMARY KEY (meeting_id, company_id, kind)
);
CREATE TABLE IF NOT EXISTS missions (
    mission_id   TEXT PRIMARY KEY,
    country      TEXT,
    market       TEXT,
    window_start TEXT,
    window_end   TEXT,
    status       TEXT
);
CREATE TABLE IF NOT EXISTS activities (  -- e-mails Outgoing sent (or failed to send) to a company
    notification_id TEXT PRIMARY KEY,
    company_id      TEXT NOT NULL,
    kind            TEXT,
    status          TEXT NOT NULL,
    meeting_id      TEXT,
    at              TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS processed_events (source TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, PRIMARY KEY (source, id));
CREATE TABLE IF NOT EXISTS positions (topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, PRIMARY KEY (topic, partition));
CREATE TABLE IF NOT EXISTS skipped (topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, reason TEXT NOT NULL,
                                    PRIMARY KEY (topic, partition, offset));
CREATE TABLE IF NOT EXISTS outbox (
    link_id TEXT PRIMARY KEY,
    topic   TEXT NOT NULL,
    key     BLOB NOT NULL,
    value   BLOB NOT NULL,
    headers TEXT NOT NULL,             -- JSON list of [name, value] pairs
    sent    INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class Company:
    company_id: str
    name: str
    role: str
    country: str
    sectors: list[str]


@dataclass(frozen=True)
class Meeting:
    meeting_id: str
    mission_id: str
    participants: list[str]
    start_utc: str
    end_utc: str
    status: str
    sequence: int


@dataclass(frozen=True)
class Outgoing:
    """A record to publish: one row of the outbox."""

    link_id: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class Store:
    def __init__(self, path: Path | str) -> None:
        # Autocommit mode: transactions are exactly the ones ``transaction()`` opens.
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self._upgrade()
        self.db.executescript(SCHEMA)

    def _upgrade(self) -> None:
        """A file of the first version of this consumer, whose enrollments had no CRM id: give the
        table its new shape. Each enrollment gets its id, and its link, the next time it is stored."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(enrollments)")}
        if not columns or "external_id" in columns:
            return
        with self.transaction():
            self.db.execute("ALTER TABLE enrollments RENAME TO enrollments_v1")
            self.db.execute(ENROLLMENTS)
            self.db.execute(
                "INSERT INTO enrollments (company_id, mission_id, enrollment_id, status, reason)"
                " SELECT company_id, mission_id, enrollment_id, status, reason FROM enrollments_v1"
            )
            self.db.execute("DROP TABLE enrollments_v1")

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """One record's changes inside the batch's transaction: all of them, or none."""
        self.db.execute("SAVEPOINT record")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO record")
            self.db.execute("RELEASE record")
            raise
        self.db.execute("RELEASE record")

    # ------------------------------------------------------------ replays

    def applied_position(self, topic: str, partition: int) -> int:
        row = self.db.execute("SELECT offset FROM positions WHERE topic = ? AND partition = ?", (topic, partition)).fetchone()
        return row[0] if row else -1

    def advance(self, topic: str, partition: int, offset: int) -> None:
        self.db.execute(
            "INSERT INTO positions VALUES (?, ?, ?) ON CONFLICT (topic, partition) DO UPDATE SET offset = excluded.offset",
            (topic, partition, offset),
        )

    def processed(self, source: str, event_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM processed_events WHERE source = ? AND id = ?", (source, event_id)).fetchone() is not None

    def mark_processed(self, source: str, event_id: str, event_type: str) -> None:
        self.db.execute("INSERT INTO processed_events VALUES (?, ?, ?)", (source, event_id, event_type))

    def skip(self, topic: str, partition: int, offset: int, reason: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO skipped VALUES (?, ?, ?, ?)", (topic, partition, offset, reason[:500]))

    # ------------------------------------------------------------ companies and contacts

    def save_company(self, company: Company) -> str | None:
        """Insert or update; returns the CRM's new id when the company is new (it then needs a link)."""
        values = (company.name, company.role, company.country, json.dumps(company.sectors), company.company_id)
        updated = self.db.execute(
            "UPDATE companies SET name = ?, role = ?, country = ?, sectors = ?, status = 'active', erased_at = NULL WHERE company_id = ?",
            values,
        )
        if updated.rowcount:
            return None
        crm_no = self.db.execute(
            "INSERT INTO companies (name, role, country, sectors, company_id, status) VALUES (?, ?, ?, ?, ?, 'active')", values
        ).lastrowid
        external_id = f"crm-{crm_no}"
        self.db.execute("UPDATE companies SET external_id = ? WHERE crm_no = ?", (external_id, crm_no))
        return external_id

    def erase_company(self, company_id: str, at: str) -> None:
        """Forget the person and the personal fields; keep the row (and our id), marked erased."""
        self.db.execute("UPDATE companies SET name = NULL, status = 'erased', erased_at = ? WHERE company_id = ?", (at, company_id))
        self.db.execute("DELETE FROM contacts WHERE company_id = ?", (company_id,))
        self.db.execute("UPDATE outcomes SET comment = NULL WHERE company_id = ?", (company_id,))

    def save_contact(self, company_id: str, name: str, email: str, phone: str | None, language: str | None) -> None:
        self.db.execute("INSERT OR REPLACE INTO contacts VALUES (?, ?, ?, ?, ?)", (company_id, name, email, phone, language))

    def delete_contact(self, company_id: str) -> None:
        self.db.execute("DELETE FROM contacts WHERE company_id = ?", (company_id,))

    # ------------------------------------------------------------ enrollments, meetings, outcomes

    def save_enrollment(self, company_id: str, mission_id: str, enrollment_id: str, status: str, reason: str | None) -> str | None:
        """Insert or update; returns the CRM's new id when the enrollment has none yet (it then needs a link)."""
        self.db.execute(
            "INSERT INTO enrollments (company_id, mission_id, enrollment_id, status, reason) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (company_id, mission_id) DO UPDATE"
            " SET enrollment_id = excluded.enrollment_id, status = excluded.status, reason = excluded.reason",
            (company_id, mission_id, enrollment_id, status, reason),
        )
        enrollment_no, external_id = self.db.execute(
            "SELECT enrollment_no, external_id FROM enrollments WHERE company_id = ? AND mission_id = ?", (company_id, mission_id)
        ).fetchone()
        if external_id is not None:
            return None
        external_id = f"crm-enrollment-{enrollment_no}"
        self.db.execute("UPDATE enrollments SET external_id = ? WHERE enrollment_no = ?", (external_id, enrollment_no))
        return external_id

    def save_meeting(self, meeting: Meeting) -> str | None:
        """Apply a meeting's state unless a newer sequence is stored; returns the CRM's new id for a new meeting."""
        row = self.db.execute("SELECT sequence FROM meetings WHERE meeting_id = ?", (meeting.meeting_id,)).fetchone()
        values = (
            meeting.mission_id,
            json.dumps(meeting.participants),
            meeting.start_utc,
            meeting.end_utc,
            meeting.status,
            meeting.sequence,
        )
        if row is not None:
            if meeting.sequence > row[0]:
                self.db.execute(
                    "UPDATE meetings SET mission_id = ?, participants = ?, start_utc = ?, end_utc = ?, status = ?, sequence = ?"
                    " WHERE meeting_id = ?",
                    (*values, meeting.meeting_id),
                )
            return None
        meeting_no = self.db.execute(
            "INSERT INTO meetings (mission_id, participants, start_utc, end_utc, status, sequence, meeting_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*values, meeting.meeting_id),
        ).lastrowid
        external_id = f"crm-meeting-{meeting_no}"
        self.db.execute("UPDATE meetings SET external_id = ? WHERE meeting_no = ?", (external_id, meeting_no))
        return external_id

    def save_outcome(self, key: tuple[str, str, str], mission_id: str, answers: tuple[object, ...], answered_at: str) -> None:
        """The latest answer (by event time) per meeting, company and kind of follow-up."""
        self.db.execute(
            "INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (meeting_id, company_id, kind) DO UPDATE SET attended = excluded.attended,"
            " satisfaction = excluded.satisfaction, contract_signed = excluded.contract_signed,"
            " under_negotiation = excluded.under_negotiation, comment = excluded.comment, answered_at = excluded.answered_at"
            " WHERE excluded.answered_at >= outcomes.answered_at",
            (*key, mission_id, *answers, answered_at),
        )

    def save_mission(self, mission_id: str, values: tuple[str | None, ...]) -> None:
        self.db.execute("INSERT OR REPLACE INTO missions VALUES (?, ?, ?, ?, ?, ?)", (mission_id, *values))

    def save_activity(self, notification_id: str, company_id: str, values: tuple[str | None, ...]) -> None:
        self.db.execute("INSERT OR REPLACE INTO activities VALUES (?, ?, ?, ?, ?, ?)", (notification_id, company_id, *values))

    # ------------------------------------------------------------ outbox

    def enqueue(self, message: Outgoing) -> None:
        """Idempotent: a link already queued (same id) is not queued again."""
        headers = json.dumps([[name, value.decode()] for name, value in message.headers])
        self.db.execute(
            "INSERT OR IGNORE INTO outbox (link_id, topic, key, value, headers) VALUES (?, ?, ?, ?, ?)",
            (message.link_id, message.topic, message.key, message.value, headers),
        )

    def pending(self) -> list[Outgoing]:
        rows = self.db.execute("SELECT link_id, topic, key, value, headers FROM outbox WHERE sent = 0 ORDER BY rowid").fetchall()
        return [Outgoing(r[0], r[1], r[2], r[3], [(n, v.encode()) for n, v in json.loads(r[4])]) for r in rows]

    def mark_sent(self, link_id: str) -> None:
        self.db.execute("UPDATE outbox SET sent = 1 WHERE link_id = ?", (link_id,))

    def dump(self) -> list[str]:
        """Every row of every table, as SQL: what the replay test compares."""
        return list(self.db.iterdump())
