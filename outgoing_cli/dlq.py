"""`outgoing dlq list | show | replay | park`: what the services gave up on, and sending it back.

A dead-lettered record keeps the original bytes as its value and the original key; its
headers (shared/messaging.py, x-dlq-*) say why and where it came from. Values may hold
personal data, so they are shown only on request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from outgoing_cli.console import CliError, fail, out, run, settings
from outgoing_cli.kafka_read import Record, read_records, read_tail, read_topic, topic_sizes
from outgoing_cli.publish import Outgoing, envelope_record, publish
from shared.contracts.catalog import declared_event_types
from shared.contracts.operations import RecordPark, RecordParkRequested
from shared.contracts.topics import DEAD_LETTER_TOPICS, Topic, TopicNames
from shared.logging import redact_personal_data, redact_text
from shared.messaging import (
    DLQ_ERRORS,
    DLQ_REASON,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TOPIC,
    DLQ_TIME,
    DLQ_TRUNCATED,
    event_headers,
)
from shared.settings import Settings

REPLAYED_FROM = "x-replayed-from"
REPLAYED_AT = "x-replayed-at"
PREVIEW_CHARS = 300

Service = StrEnum("Service", {t.value.split(".")[0]: t.value.split(".")[0] for t in DEAD_LETTER_TOPICS})  # type: ignore[misc]
"""The services that have a dead-letter topic, named as on the command line."""

app = typer.Typer(no_args_is_help=True)


def dlq_topic(env: Settings, service: str) -> str:
    return TopicNames(env.topic_prefix)(Topic(f"{service}.dlq"))


def headers_of(record: Record) -> dict[str, str]:
    return {key: (value or b"").decode(errors="replace") for key, value in record.headers or ()}


@dataclass(frozen=True)
class DeadLetter:
    service: str
    partition: int
    offset: int
    reason: str
    source: str
    event_type: str
    time: str
    size: int


def dead_letter(service: str, record: Record) -> DeadLetter:
    headers = headers_of(record)
    source = f"{headers.get(DLQ_SOURCE_TOPIC, '?')}[{headers.get(DLQ_SOURCE_PARTITION, '?')}]@{headers.get(DLQ_SOURCE_OFFSET, '?')}"
    return DeadLetter(
        service,
        record.partition,
        record.offset,
        headers.get(DLQ_REASON, "?"),
        source,
        declared_type(record.value),
        headers.get(DLQ_TIME, _kafka_time(record)),
        len(record.value or b""),
    )


def declared_type(value: bytes | None) -> str:
    """The event type the value claims, if it is JSON at all; it is no personal data."""
    try:
        declared = json.loads(value or b"").get("type")
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return "(not JSON)"
    return declared if isinstance(declared, str) else "(no type)"


def _kafka_time(record: Record) -> str:
    return datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat()


def redacted_preview(value: bytes | None, limit: int = PREVIEW_CHARS) -> str:
    """Contact fields blanked and e-mail addresses and phone numbers masked, then cut short."""
    text = (value or b"").decode(errors="replace")
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            text = json.dumps(redact_personal_data(None, "", parsed), ensure_ascii=False)
    except ValueError:
        pass
    text = redact_text(text)
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------- list


@app.command("list")
def list_dead_letters(
    ctx: typer.Context,
    service: Annotated[Service | None, typer.Option(help="only this service's DLQ")] = None,
    limit: Annotated[int, typer.Option(min=1, help="latest records shown per service")] = 10,
) -> None:
    """Records per DLQ and the latest of them: why, from where, which event type, when."""
    env = settings(ctx)
    services = [service.value] if service else [s.value for s in Service]
    sizes, latest = run(_list(env, services, limit), env)
    counts = Table("service", "dead-letter topic", "records", title="dead-letter topics")
    for name in services:
        size = sizes[dlq_topic(env, name)]
        counts.add_row(name, dlq_topic(env, name), "[dim]missing[/]" if size is None else str(size))
    out.print(counts)
    table = Table(
        "service",
        "partition",
        "offset",
        "reason",
        escape("source topic[partition]@offset"),
        "event type",
        "dead-lettered at",
        "bytes",
        title="latest records",
    )
    for d in latest:
        table.add_row(
            d.service, str(d.partition), str(d.offset), escape(d.reason), escape(d.source), escape(d.event_type), d.time, str(d.size)
        )
    if latest:
        out.print(table)


async def _list(env: Settings, services: list[str], limit: int) -> tuple[dict[str, int | None], list[DeadLetter]]:
    sizes = await topic_sizes(env, [dlq_topic(env, s) for s in services])
    latest: list[DeadLetter] = []
    for service in services:
        if sizes[dlq_topic(env, service)]:
            records = await read_tail(env, dlq_topic(env, service), per_partition=limit)
            newest = sorted(records, key=lambda r: (r.timestamp, r.offset), reverse=True)[:limit]
            latest.extend(dead_letter(service, r) for r in newest)
    return sizes, latest


# ---------------------------------------------------------------- show


@app.command()
def show(
    ctx: typer.Context,
    service: Annotated[Service, typer.Argument()],
    offset: Annotated[int, typer.Argument(min=0)],
    partition: Annotated[int, typer.Option(min=0)] = 0,
    reveal: Annotated[bool, typer.Option("--reveal", help="print the value as is: it may hold personal data")] = False,
) -> None:
    """One dead-lettered record: its headers, and its value (redacted unless --reveal)."""
    env = settings(ctx)
    topic = dlq_topic(env, service.value)
    found = run(read_records(env, topic, [(partition, offset)]), env)
    record = found.get((partition, offset))
    if record is None:
        raise fail(
            CliError(
                f"no record at offset {offset} of partition {partition} of {topic}",
                f"`outgoing dlq list --service {service.value}` shows what is there",
            )
        )
    table = Table("header", "value", title=f"{topic} partition {partition} offset {offset}", show_lines=True)
    table.add_row("key", escape((record.key or b"").decode(errors="replace")))
    for key, value in headers_of(record).items():
        table.add_row(escape(key), escape(_pretty(value) if key == DLQ_ERRORS else value))
    out.print(table)
    size = len(record.value or b"")
    if reveal:
        out.print(f"value ({size} bytes):")
        out.print((record.value or b"").decode(errors="replace"), markup=False, highlight=False, soft_wrap=True)
    else:
        out.print(f"value ({size} bytes, personal data redacted; --reveal prints it as is):")
        out.print(redacted_preview(record.value), markup=False, highlight=False, soft_wrap=True)


def _pretty(errors: str) -> str:
    try:
        return json.dumps(json.loads(errors), indent=1)
    except ValueError:
        return errors


# ---------------------------------------------------------------- replay


def replay_record(dlq: str, record: Record, now: datetime) -> Outgoing | None:
    """The original bytes and key, back to their source topic, marked as a replay; None when
    the record does not say where it came from, is a tombstone, or holds only the beginning
    of a record too large to dead-letter whole (its source position still has it all)."""
    headers = headers_of(record)
    source = headers.get(DLQ_SOURCE_TOPIC)
    if not source or record.value is None or headers.get(DLQ_TRUNCATED) == "true":
        return None
    replayed = {REPLAYED_FROM: f"{dlq}:{record.partition}:{record.offset}", REPLAYED_AT: now.isoformat()}
    return Outgoing(source, record.value, record.key, _event_headers_of(record.value) | replayed)


def _event_headers_of(value: bytes) -> dict[str, str]:
    """A replayed event carries the headers every event carries (content type, id, type, correlation id),
    rebuilt from its bytes; bytes that are no event of ours are replayed with none, to be dead-lettered again."""
    declared = declared_event_types().get(declared_type(value))
    try:
        return event_headers(declared.model_validate_json(value)) if declared is not None else {}
    except ValueError:
        return {}


@app.command()
def replay(
    ctx: typer.Context,
    service: Annotated[Service, typer.Argument()],
    offset: Annotated[list[int] | None, typer.Option("--offset", min=0, help="replay this offset (repeat for more)")] = None,
    partition: Annotated[int, typer.Option(min=0, help="the partition of --offset")] = 0,
    replay_all: Annotated[bool, typer.Option("--all", help="replay every record on the DLQ")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be replayed, publish nothing")] = False,
) -> None:
    """Re-publish dead-lettered records to their source topics, with their original key.

    At-least-once: a replayed event may be handled twice; the services deduplicate by event id.
    """
    env = settings(ctx)
    if replay_all == bool(offset):
        raise fail(CliError("say what to replay: --offset N (repeatable, with --partition P) or --all"))
    topic = dlq_topic(env, service.value)
    replayed = run(_replay(env, topic, None if replay_all else [(partition, o) for o in offset or []], dry_run), env)
    table = Table(
        "DLQ partition", "DLQ offset", "to topic", "event type", title=f"{'would replay' if dry_run else 'replayed'} from {topic}"
    )
    for record, outgoing in replayed:
        table.add_row(str(record.partition), str(record.offset), escape(outgoing.topic), escape(declared_type(record.value)))
    out.print(table)
    out.print(f"{len(replayed)} records {'would be ' if dry_run else ''}replayed (header {REPLAYED_FROM} names each one's DLQ position)")


async def _replay(env: Settings, topic: str, positions: list[tuple[int, int]] | None, dry_run: bool) -> list[tuple[Record, Outgoing]]:
    """All or nothing: every requested record must exist and name its source before any is sent."""
    if positions is None:
        records = await read_topic(env, topic)
    else:
        found = await read_records(env, topic, positions)
        missing = [f"{p}:{o}" for p, o in positions if (p, o) not in found]
        if missing:
            raise CliError(
                f"no record at partition:offset {', '.join(missing)} of {topic}; nothing was replayed",
                "`outgoing dlq list` shows what is there",
            )
        records = [found[p] for p in positions]
    now = datetime.now(UTC)
    pairs = [(record, replay_record(topic, record, now)) for record in records]
    unsendable = [f"{r.partition}:{r.offset}" for r, o in pairs if o is None]
    if unsendable:
        raise CliError(
            f"records {', '.join(unsendable)} of {topic} have no {DLQ_SOURCE_TOPIC} header, no value, or only a truncated value; nothing was replayed",
            "a truncated record is whole at its source topic, partition and offset (`outgoing dlq show`)",
        )
    ready: list[tuple[Record, Any]] = pairs
    if not dry_run and ready:
        await publish(env, [o for _, o in ready])
    return ready


# ---------------------------------------------------------------- park


@app.command()
def park(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="the full topic name, e.g. outgoing.registration.commands")],
    partition: Annotated[int, typer.Argument(min=0)],
    offset: Annotated[int, typer.Argument(min=0)],
    operator: Annotated[str, typer.Option(help="who decides; recorded with the dead letter")],
    reason: Annotated[str, typer.Option(help="why, for the record")] = "",
    service: Annotated[str | None, typer.Option(help="only this service's consumers (default: every service reading the topic)")] = None,
) -> None:
    """Last resort for a consumer stuck on one record: dead-letter it and move past it.

    The services skip the record the next time they are handed it (a stuck consumer is
    handed it again and again); `outgoing dev status` shows which partition is stuck.
    """
    env = settings(ctx)
    order = RecordParkRequested.new(
        source="/outgoing/cli",
        subject=topic,
        data=RecordPark(topic=topic, partition=partition, offset=offset, service=service, operator=operator, reason=reason),  # type: ignore[arg-type]
    )
    run(_park(env, order), env)
    out.print(
        f"asked {'the ' + service + ' service' if service else 'every service reading it'} to park {topic}[{partition}]@{offset}; it goes to the DLQ with reason 'parked'"
    )


async def _park(env: Settings, order: RecordParkRequested) -> None:
    p = order.data
    if (p.partition, p.offset) not in await read_records(env, p.topic, [(p.partition, p.offset)]):
        raise CliError(
            f"no record at {p.topic}[{p.partition}]@{p.offset}; nothing was parked",
            "`outgoing dev status` names a stuck partition and its offset",
        )
    await publish(env, [envelope_record(TopicNames(env.topic_prefix)(Topic.OPERATOR_COMMANDS), order)])
