"""`outgoing topics create`: the environment's topics, created once and left alone after."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from outgoing_cli.console import out, run, settings
from shared.contracts.topics import COMPACTED_TOPICS, Topic, TopicNames
from shared.kafka import ensure_topics

app = typer.Typer(no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    partitions: Annotated[int | None, typer.Option(min=1, help="partitions of new topics (default: OUTGOING_TOPIC_PARTITIONS)")] = None,
) -> None:
    """Create every topic that is missing; existing topics are not changed."""
    env = settings(ctx)
    created = set(run(ensure_topics(env, partitions=partitions), env))
    names = TopicNames(env.topic_prefix)
    table = Table("topic", "cleanup", "state", title=f"topics of {env.topic_prefix!r} on {env.kafka_bootstrap}")
    for topic in Topic:
        name = names(topic)
        table.add_row(
            name, "compact" if topic in COMPACTED_TOPICS else "delete", "[green]created[/]" if name in created else "already there"
        )
    out.print(table)
    out.print(f"{len(created)} created, {len(Topic) - len(created)} already there")
