"""Every KPI of `outgoing report`, computed on the real servers from a scenario whose numbers
are worked out by hand below: matching records it, serves it on its health port, and the
command reads it over HTTP."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from deploy.local.infra import free_port
from outgoing_cli.main import app as cli
from services.matching.app import create_app
from services.matching.store import MISSION_STATES
from shared.contracts.matching import (
    FollowUpAnswer,
    FollowUpAnswered,
    MeetingRequest,
    MeetingRequestAnswer,
    MeetingRequestAnswered,
    MeetingRequested,
    PairForcedByOperator,
    PairOrder,
)
from shared.contracts.topics import Topic
from shared.links import LinkKeys, link_keys
from shared.settings import Settings
from tests.factories import mission, mission_planned
from tests.integration.test_matching import Harness, foreign_profile, lombard_profile
from tests.support import eventually, running

pytestmark = pytest.mark.integration

L1, L2, F1, F2 = "lombard-0001", "lombard-0002", "foreign-0001", "foreign-0002"


def answer(keys: LinkKeys, meeting_id: str, company_id: str, kind: str, **fields: Any) -> FollowUpAnswered:
    """With its survey link's token, as the upstream form passes it on."""
    token = keys.survey_token(meeting_id, company_id, kind)
    data = FollowUpAnswer(meeting_id=meeting_id, mission_id="india-2020", company_id=company_id, kind=kind, token=token, **fields)  # type: ignore[arg-type]
    return FollowUpAnswered.new(source="forms", subject="india-2020", data=data)


async def test_each_kpi_of_the_report_matches_the_scenario_counted_by_hand(settings: Settings) -> None:
    now = [datetime(2020, 9, 1, tzinfo=UTC)]
    port = free_port()
    settings = settings.model_copy(update={"schedule_time_limit_s": 5.0, "health_port": port})
    app, runtime = create_app(settings, configure_logs=False, clock=lambda: now[0])
    keys = link_keys(settings)
    async with running(app):
        harness = Harness(settings, runtime)
        await harness.send(Topic.MISSIONS, mission_planned(mission("india-2020")))
        await eventually(lambda: runtime.db["missions"].count_documents({}))
        for company in (lombard_profile(1), lombard_profile(2, sectors=["chimica"]), foreign_profile(1), foreign_profile(2)):
            await harness.enroll(company)
        await harness.wait_enrolled(4)
        for lombard, foreign in ((L1, F1), (L1, F2), (L2, F1), (L2, F2)):
            order = PairOrder(mission_id="india-2020", lombard_id=lombard, foreign_id=foreign, operator="Giulia", reason="all four")
            await harness.send(Topic.OPERATOR_COMMANDS, PairForcedByOperator.new(source="operators", subject="india-2020", data=order))
        request = MeetingRequest(request_id="r1", mission_id="india-2020", requester_id=F2, target_id=L2)
        await harness.send(Topic.MEETING_FORMS, MeetingRequested.new(source="forms", subject="india-2020", data=request))
        reply = MeetingRequestAnswer(request_id="r1", mission_id="india-2020", answered_by=L2, answer="accepted")
        await harness.send(Topic.MEETING_FORMS, MeetingRequestAnswered.new(source="forms", subject="india-2020", data=reply))
        await harness.schedule()
        await harness.wait_for(1, "agenda.published.v1")
        meetings = {tuple(m["participants"]): m["meeting_id"] for m in (await harness.current_meetings()).values()}
        assert set(meetings) == {(L1, F1), (L1, F2), (L2, F1), (L2, F2)}
        m1, m2, m3 = meetings[(L1, F1)], meetings[(L1, F2)], meetings[(L2, F1)]
        now[0] = datetime(2021, 6, 1, tzinfo=UTC)
        await harness.wait_for(12, "followup.due.v1")
        answers = [
            answer(keys, m1, L1, "attendance", attended=True),
            answer(keys, m1, F1, "attendance", attended=True),
            answer(keys, m2, L1, "attendance", attended=True),
            answer(keys, m2, F2, "attendance", attended=False),
            answer(keys, m3, L2, "attendance", attended=False),
            answer(keys, m1, L1, "satisfaction", satisfaction=5),
            answer(keys, m1, F1, "satisfaction", satisfaction=4),
            answer(keys, m2, L1, "satisfaction", satisfaction=2),
            answer(keys, m1, L1, "outcome", outcome="contract_signed", contract_value=100000, currency="EUR"),
            answer(keys, m1, F1, "outcome", outcome="contract_signed", contract_value=120000, currency="EUR"),
            answer(keys, m2, F2, "outcome", outcome="negotiation"),
            answer(keys, m3, L2, "outcome", contract_signed=False, under_negotiation=False),
        ]
        for event in answers:
            await harness.send(Topic.MEETING_FORMS, event)

        async def recorded() -> bool:
            doc = await runtime.db[MISSION_STATES].find_one({"_id": "india-2020"}) or {}
            return len(doc.get("followup_answers") or {}) == len(answers)

        await eventually(recorded)
        source = f"http://127.0.0.1:{port}/views/outcomes"
        # In a thread: the command blocks on its HTTP request, and the view is served by this event loop.
        as_json = await asyncio.to_thread(CliRunner().invoke, cli, ["report", "--source", source, "--format", "json", "--by", "sector"])
        assert as_json.exit_code == 0, as_json.output
        as_csv = await asyncio.to_thread(CliRunner().invoke, cli, ["report", "--source", source, "--format", "csv", "--by", "sector"])
        assert as_csv.exit_code == 0, as_csv.output

    report = json.loads(as_json.stdout)
    total = report["total"]
    # 2 + 2 companies; four forced meetings, one of them also requested (F2 asked L2)
    assert (total["lombard_companies"], total["foreign_companies"], total["companies"]) == (2, 2, 4)
    assert (total["meetings_requested"], total["meetings_scheduled"]) == (1, 4)
    # m1 both yes: held; m2 yes and no: contradictory; m3 the one answer no: no-show; m4 silent
    assert (total["meetings_held"], total["meetings_contradictory"], total["meetings_no_show"]) == (1, 1, 1)
    assert total["meetings_per_lombard_company"] == 2.0
    # scores 5, 4, 2 of 8 surveys due (4 meetings x 2 companies): mean 11/3, 2 of 3 satisfied, 3/8 answered
    assert (total["satisfaction_5"], total["satisfaction_4"], total["satisfaction_2"], total["satisfaction_answers"]) == (1, 1, 1, 3)
    assert total["satisfaction_mean"] == pytest.approx(11 / 3) and total["share_satisfied"] == pytest.approx(2 / 3)
    assert (total["satisfaction_surveys"], total["response_rate"]) == (8, 3 / 8)
    # m1 a contract both sides report (one contract, the larger value), m2 a negotiation, m3 nothing further
    assert (total["contract_signed"], total["negotiation"], total["no_further_contact"]) == (1, 1, 1)
    assert total["contracts_signed_or_negotiating"] == 2 and total["contract_values"] == {"EUR": 120000.0}
    sectors = {row["group"]: row for row in report["rows"]}
    mecc, chim = sectors["meccanica_metallurgia"], sectors["chimica"]
    assert (mecc["meetings_scheduled"], mecc["meetings_held"], mecc["meetings_contradictory"], mecc["satisfaction_answers"]) == (2, 1, 1, 3)
    assert (chim["meetings_scheduled"], chim["meetings_no_show"], chim["meetings_requested"], chim["lombard_companies"]) == (2, 1, 1, 1)
    [edition] = report["editions"]
    assert edition["summary"] == (
        "2020 edition: 1 mission in 1 market; 4 companies involved; 67% satisfied (4 or 5 of 5); 2 contracts signed or under negotiation"
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows[-1]["by"] == "total" and rows[-1]["meetings_held"] == "1" and rows[-1]["contract_values"] == "EUR=120000.0"
