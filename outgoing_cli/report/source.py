"""Where the report's figures come from: matching's ``GET /views/outcomes``, or a copy of it.

By default the matching service running on this machine, found as `outgoing dev status`
finds it (its pid file records its health port); otherwise an http(s) URL to the view, or
a JSON file of the same shape, ``{"missions": [MissionOutcomes, ...]}``, for offline use.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from outgoing_cli.console import CliError, describe_validation
from shared.contracts.reporting import MissionOutcomes
from shared.settings import Settings

VIEW = "outcomes"
START_OR_SOURCE = "start it with `outgoing dev up`, or pass --source URL-or-FILE (a saved copy of /views/outcomes)"


class OutcomesView(BaseModel):
    """The view's body; other keys it may grow are ignored."""

    model_config = ConfigDict(extra="ignore")
    missions: list[MissionOutcomes]


def load_outcomes(source: str | None, env: Settings) -> list[MissionOutcomes]:
    if source is None:
        raw, origin = _from_local_matching(env), "matching's /views/outcomes"
    elif source.startswith(("http://", "https://")):
        raw, origin = _from_url(source), source
    else:
        raw, origin = _from_file(Path(source)), source
    try:
        return OutcomesView.model_validate_json(raw).missions
    except ValidationError as error:
        raise CliError(
            f"{origin} is not a list of mission outcomes: {describe_validation(error)}",
            'the source must be JSON shaped {"missions": [...]}, as GET /views/outcomes answers',
        ) from None


def _from_local_matching(env: Settings) -> bytes:
    from deploy.local import infra
    from outgoing_cli.dev import infra_config

    cfg = infra_config(env)
    pid = infra.running_pid(cfg, "matching")
    if pid is None:
        raise CliError(f"the matching service is not running here (no live pid file in {cfg.run_dir})", START_OR_SOURCE)
    view = infra.service_view(cfg, "matching", VIEW)
    if view is not None:
        return json.dumps(view).encode()
    if infra.service_health(cfg, "matching") is None:
        log = cfg.run_dir / "logs" / "matching.log"
        raise CliError(f"the matching service (pid {pid}) does not answer on its health port", f"check `outgoing dev status` and {log}")
    raise CliError(
        f"the matching service (pid {pid}) answers, but not GET /views/{VIEW} (an older version, or the view failed)",
        "restart it with `outgoing dev down` and `outgoing dev up`, or pass --source URL-or-FILE",
    )


def _from_url(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=15) as reply:
            body: bytes = reply.read()
            return body
    except urllib.error.HTTPError as error:
        raise CliError(f"{url} answered HTTP {error.code}", "check the URL: it should be a matching service's /views/outcomes") from None
    except (OSError, ValueError) as error:
        raise CliError(f"could not read {url}: {error}", "check that the service is up and the URL is right") from None


def _from_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CliError(f"could not read {path}: {error.strerror or error}", "pass an http(s) URL or the path of a JSON file") from None
