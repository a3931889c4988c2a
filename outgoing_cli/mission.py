"""`outgoing mission plan | list | schedule | agenda`: the catalogue and the agendas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from outgoing_cli.agenda import agenda_rows, breaks_of, company_names, fold_meetings, latest_summary, mission_of
from outgoing_cli.console import CliError, describe_validation, err, fail, out, run, settings
from outgoing_cli.kafka_read import decode, read_topic
from outgoing_cli.mission_input import mission_from_options, missions_from_file
from outgoing_cli.publish import envelope_record, publish
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.matching import MatchingEvent, ScheduleRequest, ScheduleRequested
from shared.contracts.missions import Mission, MissionPlanned
from shared.contracts.registration import RegistrationEvent
from shared.contracts.topics import Topic, TopicNames
from shared.settings import Settings

SOURCE = "/outgoing/cli"

app = typer.Typer(no_args_is_help=True)


# ---------------------------------------------------------------- plan


@app.command()
def plan(
    ctx: typer.Context,
    edition_2020: Annotated[bool, typer.Option("--edition-2020", help="the five missions of the 2020 edition")] = False,
    file: Annotated[Path | None, typer.Option("--file", exists=True, dir_okay=False, help="a mission (or a list) as JSON")] = None,
    mission_id: Annotated[str | None, typer.Option("--id", help="e.g. india-2021")] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2 code of the market, e.g. IN")] = None,
    market: Annotated[str | None, typer.Option(help="market name, e.g. India")] = None,
    market_tz: Annotated[str | None, typer.Option("--market-tz", help="IANA zone of the foreign partners, e.g. Asia/Kolkata")] = None,
    lombard_tz: Annotated[str, typer.Option("--lombard-tz", help="IANA zone of the Lombard firms")] = "Europe/Rome",
    window: Annotated[str | None, typer.Option(help="meeting days, START..END (ISO dates)")] = None,
    lombard_hours: Annotated[str | None, typer.Option("--lombard-hours", help="Lombard local hours, e.g. 9-15")] = None,
    foreign_hours: Annotated[str | None, typer.Option("--foreign-hours", help="partners' local hours, e.g. 10-19")] = None,
    meeting_minutes: Annotated[int, typer.Option("--meeting-minutes")] = 30,
    capacity: Annotated[int, typer.Option(help="meetings that may run at the same time")] = 20,
    max_meetings: Annotated[int, typer.Option("--max-meetings", help="meetings per company at most")] = 8,
    sector: Annotated[list[str] | None, typer.Option("--sector", help="repeat for each sector")] = None,
    deadline: Annotated[str | None, typer.Option(help="enrollment deadline: a date (23:59 Lombard time) or an ISO date-time")] = None,
    status: Annotated[str, typer.Option(help="planned or cancelled")] = "planned",
    orientation_required: Annotated[
        bool, typer.Option("--orientation-required", help="Lombard firms are scheduled only after an orientation session")
    ] = False,
) -> None:
    """Publish mission.planned.v1 for one mission (options), the 2020 edition, or a file."""
    env = settings(ctx)
    sources = sum([edition_2020, file is not None, mission_id is not None])
    if sources != 1:
        raise fail(CliError("say which missions to plan: --edition-2020, --file PATH, or --id with the mission's options"))
    try:
        if edition_2020:
            missions = list(MISSIONS_2020)
        elif file is not None:
            missions = missions_from_file(file)
        else:
            missions = [
                mission_from_options(
                    mission_id,
                    country,
                    market,
                    market_tz,
                    lombard_tz,
                    window,
                    lombard_hours,
                    foreign_hours,
                    meeting_minutes,
                    capacity,
                    max_meetings,
                    sector or [],
                    deadline,
                    status,
                )
            ]
    except CliError as error:
        raise fail(error) from None
    if orientation_required:
        missions = [m.model_copy(update={"orientation_required": True}) for m in missions]
    topic = TopicNames(env.topic_prefix)(Topic.MISSIONS)
    records = [envelope_record(topic, MissionPlanned.new(source=SOURCE, subject=m.mission_id, data=m)) for m in missions]
    run(publish(env, records), env)
    out.print(mission_table(missions, title=f"published {len(missions)} mission.planned.v1 on {topic}"))


# ---------------------------------------------------------------- list


def latest_per_key(records: list[Any]) -> dict[bytes, Any]:
    """What compaction will keep: the last record per key; a tombstone removes the key."""
    latest: dict[bytes, Any] = {}
    for record in records:
        if record.value is None:
            latest.pop(record.key, None)
        else:
            latest[record.key] = record
    return latest


async def catalogue(env: Settings) -> tuple[list[Mission], int]:
    records = await read_topic(env, TopicNames(env.topic_prefix)(Topic.MISSIONS))
    events, skipped = decode(latest_per_key(records).values(), MissionPlanned)
    return sorted((e.data for e in events), key=lambda m: (m.window_start, m.mission_id)), skipped


def mission_table(missions: list[Mission], title: str) -> Table:
    table = Table(
        "mission", "market", "window", "Lombard hours", "partner hours", "meeting", "capacity", "deadline (Lombard)", "status", title=title
    )
    for m in missions:
        deadline = m.enrollment_deadline.astimezone(ZoneInfo(m.lombard_timezone))
        table.add_row(
            m.mission_id,
            f"{m.market} ({m.country})",
            f"{m.window_start} → {m.window_end}",
            f"{m.lombard_hours.start:%H:%M}–{m.lombard_hours.end:%H:%M} {m.lombard_timezone}",
            f"{m.foreign_hours.start:%H:%M}–{m.foreign_hours.end:%H:%M} {m.market_timezone}",
            f"{m.meeting_minutes} min",
            f"{m.parallel_capacity} parallel, ≤{m.max_meetings_per_company}/company",
            f"{deadline:%Y-%m-%d %H:%M %Z}",
            m.status if m.status == "planned" else f"[red]{m.status}[/]",
        )
    return table


@app.command("list")
def list_missions(ctx: typer.Context) -> None:
    """The catalogue: the latest definition of each mission on the compacted missions topic."""
    env = settings(ctx)
    missions, skipped = run(catalogue(env), env)
    out.print(mission_table(missions, title=f"{len(missions)} missions in {env.topic_prefix!r}"))
    if skipped:
        err.print(f"{skipped} records on the catalogue are not valid mission.planned.v1 and were skipped")


# ---------------------------------------------------------------- schedule


@app.command()
def schedule(
    ctx: typer.Context,
    mission_id: Annotated[str, typer.Argument(metavar="MISSION")],
    operator: Annotated[str, typer.Option(help="who asks; recorded in the event")],
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="solver seconds (default: OUTGOING_SCHEDULE_TIME_LIMIT_S)")
    ] = None,
    fairness: Annotated[int | None, typer.Option(help="0-100: how much to even out meetings between companies")] = None,
) -> None:
    """Ask matching to (re)build MISSION's agenda: mission.schedule_requested.v1 on operator.commands."""
    env = settings(ctx)
    try:
        request = ScheduleRequest.model_validate_json(
            json.dumps(
                {
                    "mission_id": mission_id,
                    "operator": operator,
                    "time_limit_s": time_limit or env.schedule_time_limit_s,
                    "fairness": fairness,
                }
            )
        )
    except ValidationError as error:
        raise fail(CliError(f"invalid schedule request: {describe_validation(error)}")) from None
    event = ScheduleRequested.new(source=SOURCE, subject=mission_id, data=request)
    topic = TopicNames(env.topic_prefix)(Topic.OPERATOR_COMMANDS)
    run(_schedule(env, topic, event), env)
    out.print(f"requested the agenda of {mission_id} (event {event.id}, time limit {request.time_limit_s:g}s) on {topic}")


async def _schedule(env: Settings, topic: str, event: ScheduleRequested) -> None:
    missions, _ = await catalogue(env)
    if event.data.mission_id not in {m.mission_id for m in missions}:
        raise CliError(
            f"mission {event.data.mission_id!r} is not in the catalogue of {env.topic_prefix!r}",
            "plan it first with `outgoing mission plan`",
        )
    await publish(env, [envelope_record(topic, event)])


# ---------------------------------------------------------------- agenda


@app.command()
def agenda(
    ctx: typer.Context,
    mission_id: Annotated[str, typer.Argument(metavar="MISSION")],
    company: Annotated[str | None, typer.Option(help="only this company's meetings (company id)")] = None,
    tz: Annotated[str | None, typer.Option(help="show every time in this IANA zone (default: each participant's own)")] = None,
) -> None:
    """MISSION's current meetings, from matching's events, and the breaks per participant."""
    env = settings(ctx)
    try:
        zone = ZoneInfo(tz) if tz else None
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(CliError(f"unknown time zone {tz!r}", "use an IANA name such as Europe/Rome or America/Toronto")) from None
    names = TopicNames(env.topic_prefix)
    matching_records, registration_records = run(_agenda_records(env, names), env)
    events = [e for e in decode(matching_records, MatchingEvent)[0] if mission_of(e) == mission_id]
    summary = latest_summary(events)
    known = company_names(decode(registration_records, RegistrationEvent)[0])
    rows = agenda_rows(fold_meetings(events).values(), known, company, zone)

    heading = f"agenda of {mission_id}"
    if summary is not None:
        heading += f" — version {summary.version}, {summary.status}, {summary.meetings} meetings, {summary.unscheduled} unscheduled"
    if company:
        heading += f" — {_company(company, known)}"
    if zone is None:
        table = Table("Lombard company", "Lombard time", "partner", "partner time", "meeting", title=heading)
        for r in rows:
            table.add_row(
                _company(r.lombard.company_id, known), r.lombard.time, _company(r.partner.company_id, known), r.partner.time, r.meeting_id
            )
    else:
        table = Table(f"time ({tz})", "Lombard company", "partner", "meeting", title=heading)
        for r in rows:
            table.add_row(r.lombard.time, _company(r.lombard.company_id, known), _company(r.partner.company_id, known), r.meeting_id)
    out.print(table)
    out.print(f"{len(rows)} meetings")
    breaks = breaks_of(summary, company)
    if breaks:
        table = Table("participant", "breaks", title="breaks per participant (latest agenda)")
        for company_id, count in breaks.items():
            table.add_row(_company(company_id, known), str(count))
        out.print(table)


async def _agenda_records(env: Settings, names: TopicNames) -> tuple[list[Any], list[Any]]:
    return await read_topic(env, names(Topic.MATCHING_EVENTS)), await read_topic(env, names(Topic.REGISTRATION_EVENTS))


def _company(company_id: str, names: dict[str, str]) -> str:
    name = names.get(company_id)
    return escape(f"{name} ({company_id})" if name else company_id)
