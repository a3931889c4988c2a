"""What the demo did, counted from what the services published and stored, and printed.

Every figure comes from a topic (the record the CRMs see) or from a read model a service
exposes (``GET /views/figures``), never from what the demo meant to send, so the summary
shows what the system actually did.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from outgoing_cli.agenda import company_names, fold_meetings, latest_summary
from outgoing_cli.demo.programme import ProgrammeFigures, render_programme
from shared.contracts.matching import FollowUpDue, Meeting
from shared.contracts.missions import Mission
from shared.contracts.notifications import NotificationFailedV2, NotificationSentV2
from shared.contracts.registration import CompanyRegistered, CompanyUpdated, EnrollmentConfirmed, SignupRejected


@dataclass(frozen=True)
class MissionFigures:
    mission_id: str
    market: str
    window: str
    lombard: int
    foreign: int
    meetings: int
    unscheduled: int
    breaks: int
    solver: str


@dataclass(frozen=True)
class AgendaLine:
    lombard_time: str
    partner_time: str
    other: str
    """The company met: the partner on a Lombard firm's agenda, the firm on a partner's."""


@dataclass(frozen=True)
class AgendaView:
    company_id: str
    company: str
    role: str
    where: str
    mission_id: str
    lines: list[AgendaLine]


@dataclass
class DemoSummary:
    environment: str
    databases: dict[str, str]
    mail_dir: Path
    signups: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    """registration's decision per signup: accepted, partial (some missions refused), rejected."""
    companies_registered: int = 0
    signups_rejected: int = 0
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    reason_texts: dict[str, str] = field(default_factory=dict)
    enrollments: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    requests_accepted: int = 0
    requests_declined: int = 0
    missions: list[MissionFigures] = field(default_factory=list)
    followups_due: int = 0
    followup_answers: int = 0
    attended: tuple[int, int] = (0, 0)
    satisfaction: list[int] = field(default_factory=list)
    contracts_signed: int = 0
    under_negotiation: int = 0
    emails_expected: int = 0
    emails_sent: int = 0
    """notification.sent.v1 events."""
    emails_failed: int = 0
    emails_superseded: int = 0
    """Overtaken before they went out (a waiting-list notice whose seat came first): planned, never sent."""
    emails_saved: int = 0
    """.eml files the local SMTP server saved."""
    emails_by_kind: dict[str, int] = field(default_factory=dict)
    agendas: list[AgendaView] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    programme: ProgrammeFigures = field(default_factory=ProgrammeFigures)

    @property
    def meetings(self) -> dict[str, int]:
        return {m.mission_id: m.meetings for m in self.missions}

    @property
    def meetings_total(self) -> int:
        return sum(self.meetings.values())


def _window(mission: Mission) -> str:
    start, end = mission.window_start, mission.window_end
    return f"{start:%d}–{end:%d %b}" if start.month == end.month else f"{start:%d %b}–{end:%d %b}"


def unique(events: list[Any]) -> list[Any]:
    """Delivery is at-least-once: a republished event keeps its id, so count each id once."""
    return list({e.id: e for e in events}.values())


def registration_figures(summary: DemoSummary, events: list[Any], figures: dict[str, Any]) -> None:
    """``figures``: registration's ``/views/figures``."""
    events = unique(events)
    summary.signups = int(figures.get("signups", 0))
    summary.outcomes = {k: v for k, v in (figures.get("outcomes") or {}).items() if v}
    summary.companies_registered = len({e.data.company_id for e in events if isinstance(e, CompanyRegistered)})
    rejected = [e for e in events if isinstance(e, SignupRejected)]
    summary.signups_rejected = len(rejected)
    summary.rejection_reasons = dict(Counter(v.code for e in rejected for v in e.data.violations).most_common())
    summary.reason_texts = {v.code: v.message_en for e in reversed(rejected) for v in e.data.violations}
    summary.enrollments = dict(Counter(e.data.mission_id for e in events if isinstance(e, EnrollmentConfirmed)))


def matching_figures(
    summary: DemoSummary, missions: list[Mission], events: list[Any], figures: dict[str, dict[str, Any]]
) -> dict[str, Meeting]:
    """``figures``: matching's ``/views/figures``, by mission."""
    meetings = fold_meetings(events)
    events = unique(events)
    for mission in missions:
        known = figures.get(mission.mission_id, {})
        roles = known.get("participants") or {}
        agenda = latest_summary(e for e in events if getattr(e.data, "mission_id", None) == mission.mission_id)
        summary.missions.append(
            MissionFigures(
                mission.mission_id,
                mission.market,
                _window(mission),
                roles.get("lombard", 0),
                roles.get("foreign", 0),
                sum(1 for m in meetings.values() if m.mission_id == mission.mission_id),
                agenda.unscheduled if agenda else 0,
                agenda.total_breaks if agenda else 0,
                f"{agenda.status} {agenda.seconds:.1f}s" if agenda else "no agenda",
            )
        )
    requests = [m.get("requests") or {} for m in figures.values()]
    summary.requests = sum(r.get("recorded", 0) for r in requests)
    summary.requests_accepted = sum(r.get("accepted", 0) for r in requests)
    summary.requests_declined = sum(r.get("declined", 0) for r in requests)
    summary.followups_due = sum(1 for e in events if isinstance(e, FollowUpDue))
    answers = [m.get("followup_answers") or {} for m in figures.values()]
    summary.followup_answers = sum(a.get("total", 0) for a in answers)
    summary.attended = (
        sum((a.get("attendance") or {}).get("attended", 0) for a in answers),
        sum((a.get("attendance") or {}).get("answers", 0) for a in answers),
    )
    summary.satisfaction = sorted(
        int(score) for a in answers for score, count in (a.get("satisfaction") or {}).items() for _ in range(int(count))
    )
    summary.contracts_signed = sum(a.get("contracts_signed", 0) for a in answers)
    summary.under_negotiation = sum(a.get("under_negotiation", 0) for a in answers)
    return meetings


def notification_figures(summary: DemoSummary, events: list[Any], saved: int) -> None:
    events = unique(events)
    sent = [e for e in events if isinstance(e, NotificationSentV2)]
    summary.emails_sent = len({e.data.notification_id for e in sent})
    summary.emails_by_kind = dict(Counter(e.data.kind for e in sent).most_common())
    summary.emails_failed = sum(1 for e in events if isinstance(e, NotificationFailedV2))
    summary.emails_saved = saved


def pick_agendas(summary: DemoSummary, meetings: dict[str, Meeting], registration_events: list[Any]) -> None:
    """The Lombard firm with the most meetings, and a partner whose zone differs most from its market's."""
    names = company_names(registration_events)
    profiles = {e.data.company_id: e.data for e in registration_events if isinstance(e, CompanyRegistered)}
    profiles.update({e.data.profile.company_id: e.data.profile for e in registration_events if isinstance(e, CompanyUpdated)})
    load = Counter(c for m in meetings.values() for c in m.participants)
    lombard = [c for c in load if profiles.get(c) and profiles[c].role == "lombard"]
    foreign = [c for c in load if profiles.get(c) and profiles[c].role == "foreign"]
    usual_zone = {"IN": "Asia/Kolkata", "RU": "Europe/Moscow", "GB": "Europe/London", "CA": "America/Toronto", "CN": "Asia/Shanghai"}
    chosen = []
    if lombard:
        chosen.append(max(lombard, key=lambda c: (load[c], c)))
    if foreign:
        chosen.append(max(foreign, key=lambda c: (profiles[c].timezone != usual_zone.get(profiles[c].country), load[c], c)))
    for company_id in chosen:
        profile = profiles[company_id]
        where = f"{profile.city or profile.province or ''} ({profile.timezone})"
        lines = []
        own = sorted((m for m in meetings.values() if company_id in m.participants), key=lambda m: m.start)
        for meeting in own:
            zones = {lt.role: (lt.company_id, ZoneInfo(lt.timezone)) for lt in meeting.local_times}
            (lombard_id, rome), (partner_id, there) = zones["lombard"], zones["foreign"]
            other = partner_id if company_id == lombard_id else lombard_id
            lines.append(AgendaLine(local_start(meeting.start, rome), local_start(meeting.start, there), names.get(other, other)))
        summary.agendas.append(AgendaView(company_id, names.get(company_id, company_id), profile.role, where, own[0].mission_id, lines))


def local_start(start: datetime, zone: ZoneInfo) -> str:
    """``Mon 19 Oct 09:30 CEST``: the zone's abbreviation shows which side of a DST switch."""
    local = start.astimezone(zone)
    return f"{local:%a %d %b %H:%M} {local.tzname()}"


# ---------------------------------------------------------------- printing


def render(summary: DemoSummary, console: Console) -> None:
    console.print()
    console.rule("[bold]Outgoing 2020, replayed[/]")
    console.print(_registrations(summary))
    console.print(_missions(summary))
    console.print(_emails_and_followups(summary))
    render_programme(summary.programme, console)
    for view in summary.agendas:
        console.print(_agenda(view))
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(Panel(_inspect(summary), title="look around", expand=False))


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, min_width=len(title))


def _registrations(summary: DemoSummary) -> Table:
    outcomes = summary.outcomes
    table = _table(
        f"registrations: {summary.signups} signups, {summary.companies_registered} companies registered, {summary.signups_rejected} rejections"
    )
    table.add_column("decision")
    table.add_column("count", justify="right")
    table.add_column("reason", overflow="fold")
    table.add_row("accepted", str(outcomes.get("accepted", 0)), "")
    table.add_row("partly accepted", str(outcomes.get("partial", 0)), "company registered, a mission refused")
    table.add_row("rejected", str(outcomes.get("rejected", 0)), "company not registered")
    for code, count in summary.rejection_reasons.items():
        table.add_row(f"  {code}", str(count), escape(summary.reason_texts.get(code, "")))
    return table


def _missions(summary: DemoSummary) -> Table:
    table = _table(f"missions: {summary.meetings_total} meetings scheduled")
    table.caption = "L+F: Lombard firms + foreign partners enrolled; left: candidate meetings without a slot"
    table.caption_justify = "left"
    table.add_column("mission", no_wrap=True)
    table.add_column("window", no_wrap=True)
    table.add_column("L+F", justify="right", no_wrap=True)
    table.add_column("meetings", justify="right")
    table.add_column("left", justify="right")
    table.add_column("breaks", justify="right")
    table.add_column("solver", no_wrap=True)
    for m in summary.missions:
        table.add_row(m.mission_id, m.window, f"{m.lombard}+{m.foreign}", str(m.meetings), str(m.unscheduled), str(m.breaks), m.solver)
    return table


def _emails_and_followups(summary: DemoSummary) -> Group:
    mails = _table(f"e-mails: {summary.emails_sent} sent, {summary.emails_saved} saved as .eml")
    mails.add_column("kind")
    mails.add_column("sent", justify="right")
    for kind, count in summary.emails_by_kind.items():
        mails.add_row(kind, str(count))
    if summary.emails_failed:
        mails.add_row("[red]failed[/]", str(summary.emails_failed))
    attended, asked = summary.attended
    scores = summary.satisfaction
    satisfied = sum(1 for s in scores if s >= 4)
    lines = [
        f"meeting requests: {summary.requests} ({summary.requests_accepted} accepted, {summary.requests_declined} declined)",
        f"follow-ups due: {summary.followups_due}; answers: {summary.followup_answers}",
        f"attended: {attended} of {asked} answers",
        f"satisfaction: {sum(scores) / len(scores):.1f}/5, {satisfied * 100 // len(scores)}% satisfied (4 or 5)"
        if scores
        else "satisfaction: no answers",
        f"contracts: {summary.contracts_signed} signed, {summary.under_negotiation} under negotiation",
    ]
    return Group(mails, Panel("\n".join(lines), title="follow-up answers", expand=False))


def _agenda(view: AgendaView) -> Table:
    who = "Lombard firm" if view.role == "lombard" else "partner"
    table = _table(escape(f"agenda of {view.company}, {who} in {view.where}"))
    table.add_column("Lombard side", no_wrap=True)
    table.add_column("partner side", no_wrap=True)
    table.add_column("meets" if view.role == "lombard" else "meets Lombard firm", overflow="fold")
    for line in view.lines:
        table.add_row(line.lombard_time, line.partner_time, escape(line.other))
    if not view.lines:
        table.add_row("[dim](no meetings)[/]", "", "")
    return table


def _inspect(summary: DemoSummary) -> str:
    env = summary.environment
    first = summary.agendas[0] if summary.agendas else None
    company, mission = (first.company_id, first.mission_id) if first else ("COMPANY_ID", "uk-2020")
    return "\n".join(
        [
            f"environment: topics {env}.*, databases {env}_<service>",
            f"e-mails:     {summary.mail_dir}/",
            "             (.eml files; invitations carry invite.ics)",
            f"agendas:     outgoing --prefix {env} mission agenda canada-2020",
            f"             outgoing --prefix {env} mission agenda \\",
            f"               {mission} --company {company}",
            f"lag, DLQs:   outgoing --prefix {env} dev status",
        ]
    )
