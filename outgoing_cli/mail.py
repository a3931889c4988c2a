"""`outgoing mail unconfirmed list | resend | drop | delivered`: sends nobody could confirm.

The list folds notifications' public events: each ``notification.unconfirmed.v1`` not yet
followed by its ``notification.unconfirmed_resolved.v1``. Most kinds are resolved by their
policy at once (docs/notifications.md); what stays is what the policy holds for an
operator. The verdict goes to notifications as an operator command on operator.commands,
and its resolution event appears on notifications.events.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from outgoing_cli.console import CliError, out, run, settings
from outgoing_cli.kafka_read import decode, read_topic
from outgoing_cli.publish import envelope_record, publish
from shared.contracts.notifications import (
    NotificationEvent,
    NotificationUnconfirmedResolvedV2,
    NotificationUnconfirmedV2,
    UnconfirmedAction,
    UnconfirmedResolutionRequested,
)
from shared.contracts.topics import Topic, TopicNames
from shared.settings import Settings

SOURCE = "/outgoing/cli"

app = typer.Typer(no_args_is_help=True)
unconfirmed = typer.Typer(no_args_is_help=True)
app.add_typer(unconfirmed, name="unconfirmed", help="Sends the mail server never confirmed: list them, resend, drop or mark delivered.")


def open_unconfirmed(events: list[Any]) -> dict[str, NotificationUnconfirmedV2]:
    """Unconfirmed sends without a resolution yet, by notification id (the latest attempt); from ``.v2``, which every kind has."""
    pending: dict[str, NotificationUnconfirmedV2] = {}
    for event in events:
        if isinstance(event, NotificationUnconfirmedV2):
            pending[event.data.notification_id] = event
        elif isinstance(event, NotificationUnconfirmedResolvedV2):
            held = pending.get(event.data.notification_id)
            if held is not None and held.data.attempt <= event.data.attempt:
                del pending[event.data.notification_id]
    return pending


async def _open(env: Settings) -> dict[str, NotificationUnconfirmedV2]:
    records = await read_topic(env, TopicNames(env.topic_prefix)(Topic.NOTIFICATION_EVENTS))
    events, _ = decode(records, NotificationEvent)
    return open_unconfirmed(sorted(events, key=lambda e: e.time))


@unconfirmed.command("list")
def list_unconfirmed(ctx: typer.Context) -> None:
    """The unconfirmed sends waiting for an operator."""
    env = settings(ctx)
    pending = run(_open(env), env)
    table = Table(
        "notification",
        "kind",
        "company",
        "attempt",
        "policy",
        "noticed at (UTC)",
        "Message-ID",
        title=f"unconfirmed sends in {env.topic_prefix!r}",
    )
    for nid, event in sorted(pending.items(), key=lambda item: item[1].time):
        p = event.data
        table.add_row(nid, p.kind, p.company_id, str(p.attempt), p.policy, event.time.strftime("%Y-%m-%d %H:%M:%S"), p.message_id)
    out.print(table)
    out.print(f"{len(pending)} waiting; resolve each with `outgoing mail unconfirmed resend|drop|delivered NOTIFICATION --operator NAME`")


def _resolve(ctx: typer.Context, notification_id: str, action: str, operator: str, reason: str) -> None:
    env = settings(ctx)
    run(_request(env, notification_id, action, operator, reason), env)
    out.print(
        f"asked notifications to {action} {notification_id}; its resolution appears on {TopicNames(env.topic_prefix)(Topic.NOTIFICATION_EVENTS)}"
    )


async def _request(env: Settings, notification_id: str, action: str, operator: str, reason: str) -> None:
    held = (await _open(env)).get(notification_id)
    if held is None:
        raise CliError(
            f"no unconfirmed send waits under {notification_id!r} in {env.topic_prefix!r}",
            "`outgoing mail unconfirmed list` shows what does",
        )
    order = UnconfirmedResolutionRequested.new(
        source=SOURCE,
        subject=held.data.company_id,
        data=UnconfirmedAction(notification_id=notification_id, action=action, operator=operator, reason=reason),  # type: ignore[arg-type]
    )
    await publish(env, [envelope_record(TopicNames(env.topic_prefix)(Topic.OPERATOR_COMMANDS), order)])


Operator = Annotated[str, typer.Option(help="who decides; recorded in the resolution event")]
Reason = Annotated[str, typer.Option(help="why, for the record")]


@unconfirmed.command()
def resend(
    ctx: typer.Context, notification_id: Annotated[str, typer.Argument(metavar="NOTIFICATION")], operator: Operator, reason: Reason = ""
) -> None:
    """Send it again (same Message-ID; a calendar entry keeps its UID)."""
    _resolve(ctx, notification_id, "resend", operator, reason)


@unconfirmed.command()
def drop(
    ctx: typer.Context, notification_id: Annotated[str, typer.Argument(metavar="NOTIFICATION")], operator: Operator, reason: Reason = ""
) -> None:
    """Give up on it: nothing more is sent."""
    _resolve(ctx, notification_id, "drop", operator, reason)


@unconfirmed.command()
def delivered(
    ctx: typer.Context, notification_id: Annotated[str, typer.Argument(metavar="NOTIFICATION")], operator: Operator, reason: Reason = ""
) -> None:
    """It did arrive (e.g. the mail server's log shows its Message-ID): record it sent."""
    _resolve(ctx, notification_id, "delivered", operator, reason)
