"""`outgoing session plan | attendance`: training and orientation sessions (webinars).

A session is for one mission's companies (``--mission``) or a whole market's
(``--market IN``), optionally only some sectors. Registration invites them, keeps the
seats and the waiting list, and records attendance from the report given here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from pydantic import ValidationError
from rich.table import Table

from outgoing_cli.console import CliError, describe_validation, fail, out, run, settings
from outgoing_cli.publish import envelope_record, publish
from shared.contracts.sessions import AttendanceReport, OrientationSession, SessionAttendanceReported, SessionPlanned
from shared.contracts.topics import Topic, TopicNames

SOURCE = "/outgoing/cli"

app = typer.Typer(no_args_is_help=True)


def parse_start(value: str, zone: str) -> datetime:
    """An ISO date-time; without an offset it is read in ``zone`` (the Lombard firms' by default)."""
    try:
        moment = datetime.fromisoformat(value)
        tz = ZoneInfo(zone)
    except ValueError:
        raise CliError(f"--start {value!r} is not an ISO date-time", "e.g. --start 2020-10-06T10:00") from None
    except ZoneInfoNotFoundError:
        raise CliError(f"unknown time zone {zone!r}", "an IANA zone, e.g. --tz Europe/Rome") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)


@app.command()
def plan(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Option("--id", help="e.g. orientation-india-2020")],
    title_it: Annotated[str, typer.Option("--title-it", help="title in Italian")],
    title_en: Annotated[str, typer.Option("--title-en", help="title in English")],
    start: Annotated[str, typer.Option(help="ISO date-time; without an offset, in --tz")],
    link: Annotated[str, typer.Option(help="the webinar's https link")],
    capacity: Annotated[int, typer.Option(help="seats; the rest wait in order")],
    operator: Annotated[str, typer.Option(help="who plans it, for the record")],
    mission_id: Annotated[str | None, typer.Option("--mission", help="for one mission's companies")] = None,
    market: Annotated[str | None, typer.Option("--market", help="for every mission to this market (ISO country code, e.g. IN)")] = None,
    sector: Annotated[list[str] | None, typer.Option("--sector", help="only these sectors; repeat for each")] = None,
    minutes: Annotated[int, typer.Option(help="how long it lasts")] = 90,
    tz: Annotated[str, typer.Option("--tz", help="zone of --start when it has no offset")] = "Europe/Rome",
    cancel: Annotated[bool, typer.Option("--cancel", help="cancel the session: invitees are told, seats released")] = False,
) -> None:
    """Publish session.planned.v1: plan a session, or change or cancel it by publishing it again."""
    env = settings(ctx)
    try:
        begins = parse_start(start, tz)
        session = OrientationSession(
            session_id=session_id,
            title_it=title_it,
            title_en=title_en,
            mission_id=mission_id,
            country=market.upper() if market else None,
            sectors=sector or [],
            start=begins,
            end=begins + timedelta(minutes=minutes),
            capacity=capacity,
            link=link,
            status="cancelled" if cancel else "planned",
            operator=operator,
        )
    except CliError as error:
        raise fail(error) from None
    except ValidationError as error:
        raise fail(CliError(f"the session is not valid: {describe_validation(error)}")) from None
    topic = TopicNames(env.topic_prefix)(Topic.OPERATOR_COMMANDS)
    run(publish(env, [envelope_record(topic, SessionPlanned.new(source=SOURCE, subject=session.session_id, data=session))]), env)
    out.print(session_table(session, ZoneInfo(tz), title=f"published session.planned.v1 on {topic}"))


@app.command()
def attendance(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="the session")],
    operator: Annotated[str, typer.Option(help="who reports it, for the record")],
    attended: Annotated[list[str] | None, typer.Option("--attended", help="a company id that attended; repeat for each")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", exists=True, dir_okay=False, help="company ids that attended, one per line")
    ] = None,
) -> None:
    """Publish session.attendance_reported.v1: who attended. Report again to correct it; only changes are told."""
    env = settings(ctx)
    ids = list(attended or [])
    if file is not None:
        ids += [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        report = AttendanceReport(session_id=session_id, attended=sorted(set(ids)), operator=operator)
    except ValidationError as error:
        raise fail(CliError(f"the attendance report is not valid: {describe_validation(error)}")) from None
    topic = TopicNames(env.topic_prefix)(Topic.OPERATOR_COMMANDS)
    event = SessionAttendanceReported.new(source=SOURCE, subject=session_id, data=report)
    run(publish(env, [envelope_record(topic, event)]), env)
    out.print(f"published session.attendance_reported.v1 on {topic}: {len(report.attended)} companies attended {session_id}")


def session_table(session: OrientationSession, zone: ZoneInfo, title: str) -> Table:
    table = Table("session", "for", "sectors", f"time ({zone.key})", "seats", "link", "status", title=title)
    table.add_row(
        f"{session.session_id}\n{session.title_it}\n{session.title_en}",
        session.mission_id or f"market {session.country}",
        ", ".join(session.sectors) or "all",
        f"{session.start.astimezone(zone):%Y-%m-%d %H:%M}–{session.end.astimezone(zone):%H:%M %Z}",
        str(session.capacity),
        session.link,
        session.status,
    )
    return table
