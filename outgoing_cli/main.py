"""`outgoing`: the operator's command line."""

from __future__ import annotations

import typer

from outgoing_cli import schedule

app = typer.Typer(help="Run Outgoing's virtual B2B trade missions.", no_args_is_help=True)
app.add_typer(schedule.app, name="schedule", help="Solve agenda scheduling instances offline.")

if __name__ == "__main__":
    app()
