"""`outgoing`: the operator's command line.

Subcommands are imported when they are used: Kafka's client, the demo's data, OR-Tools and
the database driver take seconds to import together, and `outgoing schedule solve` should
not wait for what it does not run (`outgoing --help` still imports them all, for their help).
"""

from __future__ import annotations

from importlib import import_module
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from outgoing_cli.console import load_settings

COMMANDS: dict[str, tuple[str, str, str]] = {
    "schedule": ("outgoing_cli.schedule", "app", "Solve agenda scheduling instances offline."),
    "dev": ("outgoing_cli.dev", "app", "Start, stop and look at the local Kafka, database and services."),
    "topics": ("outgoing_cli.topics", "app", "Create the environment's Kafka topics."),
    "mission": ("outgoing_cli.mission", "app", "Plan missions, list them, request and read their agendas."),
    "session": ("outgoing_cli.session", "app", "Plan training and orientation sessions; report who attended."),
    "dlq": ("outgoing_cli.dlq", "app", "Inspect and replay the services' dead-letter topics."),
    "mail": ("outgoing_cli.mail", "app", "E-mail the mail server never confirmed."),
    "contracts": ("outgoing_cli.contracts.command", "app", "The CRM contract's files: JSON Schemas and the AsyncAPI document."),
    "report": ("outgoing_cli.report.command", "report", ""),
    "emit": ("outgoing_cli.emit", "emit", ""),
    "demo": ("outgoing_cli.demo.command", "demo", ""),
}
"""name -> (module, attribute, help): a Typer app (a group of commands) or one command function."""


class LazyCommands(TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute, help_text = COMMANDS[cmd_name]
        target = getattr(import_module(module), attribute)
        if isinstance(target, typer.Typer):
            command = typer.main.get_group(target)
        else:
            single = typer.Typer()
            single.command(cmd_name)(target)
            command = typer.main.get_command(single)
        command.name = cmd_name
        if help_text:
            command.help = help_text
        return command


app = typer.Typer(cls=LazyCommands, help="Run Outgoing's virtual B2B trade missions.", no_args_is_help=True)


@app.callback()
def environment(
    ctx: typer.Context,
    kafka: Annotated[
        str | None, typer.Option("--kafka", help="broker address (default: OUTGOING_KAFKA_BOOTSTRAP or 127.0.0.1:9092)")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="environment: topic and group prefix (default: OUTGOING_TOPIC_PREFIX or outgoing)")
    ] = None,
    mongo_url: Annotated[str | None, typer.Option("--mongo-url", help="database server (default: OUTGOING_MONGO_URL)")] = None,
    mongo_db: Annotated[str | None, typer.Option("--mongo-db", help="database name (default: OUTGOING_MONGO_DB or outgoing)")] = None,
) -> None:
    """Options here override the OUTGOING_* environment variables for every command."""
    ctx.obj = load_settings({"kafka_bootstrap": kafka, "topic_prefix": prefix, "mongo_url": mongo_url, "mongo_db": mongo_db})


if __name__ == "__main__":
    app()
