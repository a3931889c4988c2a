"""``outgoing contracts write|check``: the CRM contract's files."""

from __future__ import annotations

import typer

from outgoing_cli.contracts.files import Comparison, compare, write

app = typer.Typer(no_args_is_help=True)


@app.command("write")
def write_command() -> None:
    """Regenerate docs/schemas/*.json and docs/asyncapi.yaml; refuses to break a published schema."""
    result = write()
    _report(result)
    typer.echo("contracts: written" if result.ok else "contracts: written, except what is reported above")
    raise typer.Exit(0 if result.ok else 1)


@app.command("check")
def check_command() -> None:
    """Fail if the committed schemas or AsyncAPI document differ from the code, or a change breaks a published schema."""
    result = compare()
    _report(result)
    if result.ok:
        typer.echo("contracts: docs/schemas and docs/asyncapi.yaml match the code")
    raise typer.Exit(0 if result.ok else 1)


def _report(result: Comparison) -> None:
    for event_type, problems in result.breaking.items():
        typer.echo(f"breaking change to {event_type} (publish it as a new .vN+1 type instead; see docs/crm.md):", err=True)
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
    for event_type in result.retired:
        typer.echo(
            f"{event_type} was published but is no longer in the code: keep it until its retirement date, "
            'then mark its schema "deprecated": true (docs/crm.md)',
            err=True,
        )
    for path in result.stale:
        typer.echo(f"{path} differs from what the code generates: run `outgoing contracts write` and commit", err=True)
