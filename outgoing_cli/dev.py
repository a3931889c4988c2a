"""`outgoing dev up | down | status`: the local servers and services, through deploy/local/infra.py."""

from __future__ import annotations

import dataclasses
import os
from typing import Annotated, Any

import typer
from rich.table import Table

from deploy.local import infra
from outgoing_cli.console import CliError, fail, kafka_unreachable, out, run, settings
from outgoing_cli.kafka_read import GroupLag, consumer_group_lags, topic_sizes
from shared.contracts.topics import DEAD_LETTER_TOPICS, TopicNames
from shared.settings import Settings

app = typer.Typer(no_args_is_help=True)


def infra_config(env: Settings) -> infra.Config:
    """infra's configuration, pointed at the environment the CLI options chose."""
    cfg = infra.Config.from_env()
    host, _, port = env.kafka_bootstrap.split(",")[0].rpartition(":")
    controller = cfg.kafka_controller_port if "OUTGOING_KAFKA_CONTROLLER_PORT" in os.environ else int(port) + 1
    return dataclasses.replace(
        cfg,
        kafka_host=host or "127.0.0.1",
        kafka_port=int(port),
        kafka_controller_port=controller,
        mongo_url=env.mongo_url,
        mongo_url_explicit=cfg.mongo_url_explicit or env.mongo_url != cfg.mongo_url,
    )


def _exported(env: Settings) -> None:
    """infra.up and the services it spawns read OUTGOING_* themselves: hand them this environment."""
    os.environ.update(
        OUTGOING_KAFKA_BOOTSTRAP=env.kafka_bootstrap,
        OUTGOING_TOPIC_PREFIX=env.topic_prefix,
        OUTGOING_MONGO_URL=env.mongo_url,
        OUTGOING_MONGO_DB=env.mongo_db,
    )


@app.command()
def up(
    ctx: typer.Context,
    services: Annotated[bool, typer.Option("--services/--no-services", help="also create the topics and start the three services")] = True,
) -> None:
    """Install what is missing, then start Kafka, the database and the services."""
    env = settings(ctx)
    _exported(env)
    cfg = infra_config(env)
    try:
        infra.install(cfg)
        infra.up(cfg, services=services)
    except infra.InfraError as error:
        raise fail(CliError(error.problem, error.fix)) from None


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the services, the database and Kafka, if this machine's `dev up` started them."""
    infra.down(infra_config(settings(ctx)))


@app.command()
def status(ctx: typer.Context) -> None:
    """Which processes run, how far behind each consumer group is, and what each DLQ holds."""
    env = settings(ctx)
    cfg = infra_config(env)
    processes = Table("process", "state", title="processes")
    report = infra.status(cfg)
    for name, state in report.items():
        processes.add_row(name, f"[{'green' if healthy(state) else 'red'}]{state}[/]")
    out.print(processes)
    out.print(health_table([(name, infra.service_health(cfg, name)) for name in infra.SERVICES if infra.running_pid(cfg, name)]))
    if not report["kafka"].endswith(", answering"):
        raise fail(kafka_unreachable(env))
    lags, sizes = run(_kafka_state(env), env)
    out.print(lag_table(env, lags))
    out.print(dlq_table(env, sizes))


def health_table(reports: list[tuple[str, dict[str, Any] | None]]) -> Table:
    """Each running service's own /readyz: database, consumers, stuck partitions, lag."""
    table = Table("service", "ready", "database", "consumers", "lag", "stuck", title="service health (/readyz)")
    for name, report in reports:
        if report is None:
            table.add_row(name, "[red]no answer[/]", "", "", "", "")
            continue
        subscribers = report.get("subscribers", [])
        running = sum(1 for s in subscribers if s.get("running"))
        stuck = ", ".join(f"{s['topic']}[{s['partition']}]@{s['offset']} for {s['for_s']:.0f}s" for s in report.get("stuck", [])) or "none"
        table.add_row(
            name,
            "[green]yes[/]" if report.get("ready") else f"[red]no[/] ({', '.join(report.get('problems', []))})",
            str(report.get("database", "")),
            f"{running}/{len(subscribers)} running",
            str(sum(s.get("lag", 0) for s in subscribers)),
            stuck if stuck == "none" else f"[red]{stuck}[/]",
        )
    if not reports:
        table.add_row("[dim]no service running here[/]", "", "", "", "", "")
    return table


def healthy(state: str) -> bool:
    """A server counts as up when it answers, even if another run started it."""
    return "not answering" not in state and (state.startswith("running") or state.endswith(", answering"))


async def _kafka_state(env: Settings) -> tuple[list[GroupLag], dict[str, int | None]]:
    names = TopicNames(env.topic_prefix)
    return await consumer_group_lags(env), await topic_sizes(env, [names(t) for t in DEAD_LETTER_TOPICS])


def lag_table(env: Settings, lags: list[GroupLag]) -> Table:
    table = Table("consumer group", "topics", "lag", title=f"consumer groups of {env.topic_prefix!r}")
    for lag in lags:
        shown = "[dim]topic gone[/]" if lag.lag is None else (f"[yellow]{lag.lag}[/]" if lag.lag else "0")
        table.add_row(lag.group, ", ".join(lag.topics), shown)
    if not lags:
        table.add_row("[dim](none yet)[/]", "", "")
    return table


def dlq_table(env: Settings, sizes: dict[str, int | None]) -> Table:
    table = Table("dead-letter topic", "records", title="dead-letter topics")
    for name, size in sizes.items():
        table.add_row(name, "[dim]missing[/]" if size is None else (f"[red]{size}[/]" if size else "0"))
    return table
