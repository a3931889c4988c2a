"""`outgoing schedule`: the agenda scheduler offline, on a JSON instance file (format in docs/scheduling.md)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from services.matching.domain.scheduling import InstanceError
from services.matching.domain.scheduling import solve as solve_instance
from services.matching.offline import parse, schedule_json

app = typer.Typer(no_args_is_help=True)


@app.command()
def solve(
    instance: Annotated[Path, typer.Argument(help="Instance JSON file.", dir_okay=False)],
    time_limit: Annotated[float, typer.Option("--time-limit", min=0.1, help="Seconds for the whole solve.")] = 30.0,
    fairness: Annotated[
        int | None, typer.Option("--fairness", min=0, help="Max difference of any two participants' breaks; overrides the file.")
    ] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="CP-SAT workers (default 8).")] = None,
) -> None:
    """Solve a scheduling instance from a JSON file; print the agenda as JSON on stdout.

    Exit status: 0 when solved (the status field may still say "infeasible"), 1 when the
    instance is invalid (the problem is named on stderr).
    """
    try:
        text = instance.read_bytes()
    except OSError as error:
        typer.echo(f"cannot read {instance}: {error.strerror or error}", err=True)
        raise typer.Exit(1) from None
    try:
        problem, previous = parse(text)
        if fairness is not None:
            problem = dataclasses.replace(problem, fairness=fairness)
        schedule = solve_instance(problem, time_limit_s=time_limit, previous=previous, workers=workers)
    except InstanceError as error:
        typer.echo(f"invalid instance {instance}: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(schedule_json(schedule), indent=2))
