"""/livez and /readyz of a running service, and a partition stuck on one record."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from pymongo.errors import ConnectionFailure

from deploy.local.infra import free_port
from services.registration.app import create_app
from services.registration.use_cases import Registration
from shared.contracts.topics import Topic
from shared.settings import Settings
from tests.factories import lombard, signup
from tests.integration.test_registration import Harness
from tests.support import eventually, running

pytestmark = pytest.mark.integration


async def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    def fetch() -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    return await asyncio.to_thread(fetch)


async def ready_report(port: int) -> dict[str, Any] | None:
    status, report = await get(port, "/readyz")
    return report if status == 200 else None


async def stuck_report(port: int) -> dict[str, Any] | None:
    status, report = await get(port, "/readyz")
    return report if status == 503 and report["stuck"] else None


async def test_ready_then_stuck_on_a_record_that_keeps_failing_then_ready_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    settings = settings.model_copy(update={"health_port": port, "stuck_after_s": 2.0})
    app, runtime = create_app(settings, configure_logs=False)
    async with running(app):
        harness = Harness(settings, runtime)
        await harness.plan_missions()
        assert (await get(port, "/livez"))[0] == 200

        report = await eventually(lambda: ready_report(port), 30)
        assert report["database"] == "answers" and report["stuck"] == []
        assert all(s["running"] for s in report["subscribers"]) and any(s["assigned"] for s in report["subscribers"])

        outage = {"on": True}
        real = Registration.apply_signup

        async def database_gone(self: Registration, event: Any) -> None:
            if outage["on"]:
                raise ConnectionFailure("database unreachable")
            await real(self, event)

        monkeypatch.setattr(Registration, "apply_signup", database_gone)
        event = signup(lombard())
        await harness.send(Topic.SIGNUP_FORMS, event)

        report = await eventually(lambda: stuck_report(port), 30)
        [held] = report["stuck"]
        assert held["topic"] == harness.topics(Topic.REGISTRATION_COMMANDS) and held["for_s"] >= 2.0 and "stuck" in report["problems"]

        outage["on"] = False  # the record goes through on its next retry
        await eventually(lambda: harness._enrolled_and_published(event.id), 60)
        assert (await eventually(lambda: ready_report(port), 30))["stuck"] == []


async def test_an_operator_parks_the_record_a_consumer_is_stuck_on_and_the_consumer_moves_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record never goes through (the database "stays down" for it); `outgoing dlq park`
    dead-letters it with the operator's name, the partition moves on, readiness recovers."""
    from outgoing_cli import console
    from shared.messaging import DLQ_ERRORS, DLQ_REASON, DLQ_SOURCE_OFFSET
    from tests.integration.test_cli import invoke, ok
    from tests.support import topic_records

    port = free_port()
    settings = settings.model_copy(update={"health_port": port, "stuck_after_s": 1.0})
    app, runtime = create_app(settings, configure_logs=False)
    async with running(app):
        harness = Harness(settings, runtime)
        await harness.plan_missions()
        poisoned = signup(lombard(company_name="Bloccata S.r.l."))
        real = Registration.apply_signup

        async def never_for_this_one(self: Registration, event: Any) -> None:
            if event.id == poisoned.id:
                raise ConnectionFailure("database unreachable, for this record only")
            await real(self, event)

        monkeypatch.setattr(Registration, "apply_signup", never_for_this_one)
        await harness.send(Topic.SIGNUP_FORMS, poisoned)

        held = (await eventually(lambda: stuck_report(port), 30))["stuck"][0]
        console.out.width = console.err.width = 250
        ok(
            await invoke(
                settings,
                "dlq",
                "park",
                held["topic"],
                str(held["partition"]),
                str(held["offset"]),
                "--operator",
                "luca.verdi",
                "--reason",
                "blocks the partition",
            )
        )

        async def parked() -> list[Any] | None:
            dead = [
                r
                for r in await topic_records(settings, harness.topics(Topic.REGISTRATION_DLQ))
                if dict(r.headers).get(DLQ_REASON) == b"parked"
            ]
            return dead or None

        [dead] = await eventually(parked, 90)  # handed over again after its retries, then parked
        headers = dict(dead.headers)
        assert int(headers[DLQ_SOURCE_OFFSET]) == held["offset"] and b"luca.verdi" in headers[DLQ_ERRORS]
        assert json.loads(dead.value)["id"] == str(poisoned.id), "the original bytes, copied whole"

        await eventually(lambda: ready_report(port), 30)
        after = signup(lombard(company_name="Bloccata S.r.l."))  # the same company: the same partition, which moved on
        await harness.send(Topic.SIGNUP_FORMS, after)
        await eventually(lambda: harness._enrolled_and_published(after.id), 30)
