"""The `outgoing demo` command: options in, the runner does the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from outgoing_cli.console import CliError, fail, out, settings
from outgoing_cli.demo.runner import DemoError, DemoOptions, run_demo
from outgoing_cli.dev import infra_config


def demo(
    ctx: typer.Context,
    lombard: Annotated[int, typer.Option("--lombard", min=1, help="Lombard companies to sign up")] = DemoOptions.lombard,
    foreign: Annotated[int, typer.Option("--foreign", min=5, help="foreign partners, spread over the five markets")] = DemoOptions.foreign,
    seed: Annotated[int, typer.Option(help="same seed, same population")] = DemoOptions.seed,
    max_meetings: Annotated[
        int, typer.Option("--max-meetings", min=1, max=100, help="meetings per company at most, in each mission")
    ] = DemoOptions.max_meetings,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.1, help="CP-SAT seconds for each mission's agenda")
    ] = DemoOptions.time_limit_s,
    stage_timeout: Annotated[
        float, typer.Option("--stage-timeout", min=10, help="seconds a stage may take to settle before the demo gives up")
    ] = DemoOptions.stage_timeout_s,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="leave the services (and any server the demo started) running")
    ] = False,
    mail_dir: Annotated[
        Path | None, typer.Option("--mail-dir", help="where to save the e-mails (default .run/demo/mail/<environment>)")
    ] = None,
) -> None:
    """Replay the 2020 edition end to end: signups, matching, agendas, e-mails, follow-ups."""
    env = settings(ctx)
    options = DemoOptions(
        seed=seed,
        lombard=lombard,
        foreign=foreign,
        max_meetings=max_meetings,
        time_limit_s=time_limit,
        stage_timeout_s=stage_timeout,
        keep_running=keep_running,
        mail_dir=mail_dir,
    )
    try:
        run_demo(options, out, infra_config(env))
    except DemoError as error:
        raise fail(CliError(str(error), "read the services' logs in .run/demo/logs/, then run `outgoing demo` again")) from None
    except KeyboardInterrupt:
        raise fail(CliError("interrupted; the demo's services were stopped", exit_code=130)) from None
