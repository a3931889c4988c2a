"""What every command shares: the environment it talks to, output, and readable failures.

An operator's mistake or an unreachable server ends the command with one line saying
what is wrong and one saying how to fix it, and a non-zero exit code; never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, RequestTimedOutError, UnknownTopicOrPartitionError
from pydantic import ValidationError
from rich.console import Console

from shared.settings import Settings
from shared.urls import redact_url

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)

T = TypeVar("T")


class CliError(Exception):
    """A failure the operator can act on: what went wrong and the command that fixes it."""

    def __init__(self, problem: str, fix: str | None = None, exit_code: int = 1) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix
        self.exit_code = exit_code


def fail(error: CliError) -> typer.Exit:
    """Print the problem and its fix; a URL in either (a database's, say) without its password."""
    err.print(f"[bold red]error:[/] {redact_url(error.problem)}", markup=True)
    if error.fix:
        err.print(f"  [bold]fix:[/] {redact_url(error.fix)}", markup=True)
    return typer.Exit(error.exit_code)


def settings(ctx: typer.Context | None = None) -> Settings:
    """The environment chosen by the global options, else by OUTGOING_* variables."""
    root = ctx.find_root() if ctx is not None else None
    if root is not None and isinstance(root.obj, Settings):
        return root.obj
    return load_settings({})


def load_settings(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False))
        raise fail(CliError(f"invalid settings: {problems}", "check the OUTGOING_* environment variables")) from None


def run(coro: Coroutine[Any, Any, T], env: Settings) -> T:
    """Run one command's coroutine, turning broker trouble into a readable error."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its connection retries would bury the one line that matters
    try:
        return asyncio.run(coro)
    except CliError as error:
        raise fail(error) from None
    except KafkaConnectionError:
        raise fail(kafka_unreachable(env)) from None
    except (KafkaTimeoutError, RequestTimedOutError, TimeoutError):
        raise fail(
            CliError(
                f"Kafka at {env.kafka_bootstrap} did not answer in time", "check `outgoing dev status`; retry when the broker is ready"
            )
        ) from None
    except UnknownTopicOrPartitionError:
        raise fail(missing_topics(env)) from None
    except KafkaError as error:
        raise fail(
            CliError(f"Kafka at {env.kafka_bootstrap} refused the request: {error}", "check `outgoing dev status` and the broker's log")
        ) from None


def kafka_unreachable(env: Settings) -> CliError:
    return CliError(
        f"Kafka is not reachable at {env.kafka_bootstrap}",
        "start it with `outgoing dev up`, or point OUTGOING_KAFKA_BOOTSTRAP (or --kafka) at a running broker",
    )


def missing_topics(env: Settings, names: list[str] | None = None) -> CliError:
    what = ", ".join(names) if names else f"a topic of environment {env.topic_prefix!r}"
    return CliError(f"{what} does not exist", f"create the topics with `outgoing --prefix {env.topic_prefix} topics create`")


def describe_validation(error: ValidationError, limit: int = 3) -> str:
    """Where and why, never the offending value: it may be personal data."""
    errors = error.errors(include_input=False, include_url=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(whole value)'}: {e['msg']}" for e in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)
