"""`outgoing emit`: publish events from a JSON Lines file, all of them or none.

Every line is validated against its contract first, exactly as the consuming service
will decode it (strict JSON mode), so a file with one bad line publishes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from outgoing_cli.console import CliError, describe_validation, err, fail, out, run, settings
from outgoing_cli.publish import envelope_record, publish
from shared.contracts.catalog import EVENT_TYPES
from shared.contracts.crm import CompanyLinked, EnrollmentLinked, MeetingLinked
from shared.contracts.envelope import Envelope
from shared.contracts.matching import MatchingOperatorCommand, MeetingFormEvent
from shared.contracts.missions import MissionPlanned
from shared.contracts.registration import OperatorOverride, SignupFormEvent
from shared.contracts.topics import Topic, TopicNames
from shared.messaging import handled_event_types

MAX_SHOWN_PROBLEMS = 20


class InputTopic(StrEnum):
    """The topics operators, upstream forms and CRMs write to."""

    SIGNUPS = Topic.SIGNUP_FORMS.value
    MEETINGS = Topic.MEETING_FORMS.value
    OPERATOR = Topic.OPERATOR_COMMANDS.value
    MISSIONS = Topic.MISSIONS.value
    CRM_LINKS = Topic.CRM_LINKS.value


def _routes() -> dict[str, Topic]:
    """Each input event type to the topic its consumer reads, derived from the contracts'
    unions; events the services themselves publish have no route."""
    inputs = {
        Topic.SIGNUP_FORMS: SignupFormEvent,
        Topic.MEETING_FORMS: MeetingFormEvent,
        Topic.OPERATOR_COMMANDS: OperatorOverride | MatchingOperatorCommand,
        Topic.MISSIONS: MissionPlanned,
        Topic.CRM_LINKS: CompanyLinked | EnrollmentLinked | MeetingLinked,
    }
    return {event_type: topic for topic, union in inputs.items() for event_type in handled_event_types(union)}


ROUTES = _routes()


def route(event_type: str) -> Topic | None:
    return ROUTES.get(event_type)


@dataclass(frozen=True)
class ValidLine:
    number: int
    event: Envelope[Any]
    raw: bytes
    topic: Topic


@dataclass(frozen=True)
class Problem:
    number: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.number}: {self.reason}"


def validate_line(number: int, raw: bytes, topic: Topic | None = None) -> ValidLine | Problem:
    try:
        declared = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        return Problem(number, f"not valid JSON ({error})")
    if not isinstance(declared, dict):
        return Problem(number, "not a JSON object")
    event_type = declared.get("type")
    if not isinstance(event_type, str):
        return Problem(number, 'no "type" field naming the event type')
    event_class = EVENT_TYPES.get(event_type)
    if event_class is None:
        return Problem(number, f"unknown event type {event_type!r}")
    target = topic or route(event_type)
    if target is None:
        return Problem(number, f"{event_type} is published by the services, not an input; pass --topic to send it anyway")
    try:
        event = event_class.model_validate_json(raw)
    except ValidationError as error:
        return Problem(number, f"{event_type} does not match its contract: {describe_validation(error)}")
    return ValidLine(number, event, raw, target)


def validate_lines(lines: list[bytes], topic: Topic | None = None) -> tuple[list[ValidLine], list[Problem]]:
    """Blank lines are skipped but still counted, so numbers match the operator's editor."""
    valid: list[ValidLine] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, start=1):
        raw = line.strip()
        if not raw:
            continue
        result = validate_line(number, raw, topic)
        (valid if isinstance(result, ValidLine) else problems).append(result)  # type: ignore[arg-type]
    return valid, problems


def emit(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="JSON Lines: one event envelope per line")],
    topic: Annotated[InputTopic | None, typer.Option(help="publish every line here instead of routing by event type")] = None,
) -> None:
    """Publish form or operator events from a file, after validating every line."""
    env = settings(ctx)
    valid, problems = validate_lines(file.read_bytes().splitlines(), Topic(topic.value) if topic else None)
    if problems:
        for problem in problems[:MAX_SHOWN_PROBLEMS]:
            err.print(str(problem), markup=False)
        if len(problems) > MAX_SHOWN_PROBLEMS:
            err.print(f"... and {len(problems) - MAX_SHOWN_PROBLEMS} more bad lines", markup=False)
        raise fail(
            CliError(
                f"{len(problems)} of {len(valid) + len(problems)} events in {file} are invalid; nothing was published",
                "correct those lines and run again",
            )
        )
    if not valid:
        out.print(f"{file} holds no events; nothing to publish")
        return
    names = TopicNames(env.topic_prefix)
    records = [envelope_record(names(line.topic), line.event, line.raw) for line in valid]
    with Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=out) as progress:
        task = progress.add_task("publish", total=len(records))
        run(publish(env, records, on_ack=lambda: progress.advance(task)), env)
    summary = Table("topic", "events", title=f"published {len(records)} events from {file.name}")
    for name, count in sorted(Counter(r.topic for r in records).items()):
        summary.add_row(name, str(count))
    out.print(summary)
