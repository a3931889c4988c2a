"""`outgoing`: the operator's command line."""

from __future__ import annotations

from typing import Annotated

import typer

from outgoing_cli import dev, dlq, emit, mail, mission, schedule, topics
from outgoing_cli.console import load_settings
from outgoing_cli.contracts import command as contracts_command
from outgoing_cli.demo import command as demo_command

app = typer.Typer(help="Run Outgoing's virtual B2B trade missions.", no_args_is_help=True)
app.add_typer(schedule.app, name="schedule", help="Solve agenda scheduling instances offline.")
app.add_typer(dev.app, name="dev", help="Start, stop and look at the local Kafka, database and services.")
app.add_typer(topics.app, name="topics", help="Create the environment's Kafka topics.")
app.add_typer(mission.app, name="mission", help="Plan missions, list them, request and read their agendas.")
app.add_typer(dlq.app, name="dlq", help="Inspect and replay the services' dead-letter topics.")
app.add_typer(mail.app, name="mail", help="E-mail the mail server never confirmed.")
app.add_typer(contracts_command.app, name="contracts", help="The CRM contract's files: JSON Schemas and the AsyncAPI document.")
app.command("emit")(emit.emit)
app.command("demo")(demo_command.demo)


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
