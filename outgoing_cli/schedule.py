"""`outgoing schedule`: the offline solver (filled in by the matching work)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)


@app.command()
def solve() -> None:
    """Solve a scheduling instance from a JSON file."""
    raise typer.Exit(2)
