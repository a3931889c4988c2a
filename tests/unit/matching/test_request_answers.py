"""Only the company a meeting request was sent to can answer it, whichever arrives first."""

from __future__ import annotations

from typing import Any

import pytest

from services.matching.use_cases import apply_input
from shared.contracts.matching import MeetingRequest, MeetingRequestAnswer, MeetingRequestAnswered, MeetingRequested
from shared.messaging import PermanentFailure

REQUESTER, TARGET, INTRUDER = "rossi-meccanica-0001", "mumbai-tools-0002", "delhi-trading-0003"


def requested() -> MeetingRequested:
    return MeetingRequested.new(source="forms", subject="india-2020", payload=MeetingRequest(request_id="r1", mission_id="india-2020", requester_id=REQUESTER, target_id=TARGET))


def answered(by: str) -> MeetingRequestAnswered:
    return MeetingRequestAnswered.new(source="forms", subject="india-2020", payload=MeetingRequestAnswer(request_id="r1", mission_id="india-2020", answered_by=by, answer="accepted"))


def test_an_answer_by_another_company_that_overtakes_its_request_is_discarded_when_the_request_arrives() -> None:
    doc: dict[str, Any] = {}
    assert apply_input(doc, answered(INTRUDER)) is False, "no request yet: nothing to re-plan"
    assert apply_input(doc, requested()) is False, "the intruder's acceptance must not count"
    [request] = doc["requests"]
    assert request.get("answer") is None and request["discarded_answer"]["answered_by"] == INTRUDER
    assert apply_input(doc, answered(TARGET)) is True


def test_the_target_answering_before_its_request_arrives_counts_once_it_does() -> None:
    doc: dict[str, Any] = {}
    apply_input(doc, answered(TARGET))
    assert apply_input(doc, requested()) is True and doc["requests"][0]["answer"] == "accepted"


def test_an_answer_by_another_company_after_the_request_is_refused() -> None:
    doc: dict[str, Any] = {}
    apply_input(doc, requested())
    with pytest.raises(PermanentFailure):
        apply_input(doc, answered(INTRUDER))
