"""Only the company a meeting request was sent to can answer it, whichever arrives first."""

from __future__ import annotations

import pytest

from services.matching.domain.mission import Mission
from shared.aggregate import Refused
from shared.contracts.matching import MeetingRequest, MeetingRequestAnswer, MeetingRequestAnswered, MeetingRequested

REQUESTER, TARGET, INTRUDER = "rossi-meccanica-0001", "mumbai-tools-0002", "delhi-trading-0003"


def requested() -> MeetingRequested:
    return MeetingRequested.new(
        source="forms",
        subject="india-2020",
        data=MeetingRequest(request_id="r1", mission_id="india-2020", requester_id=REQUESTER, target_id=TARGET),
    )


def answered(by: str) -> MeetingRequestAnswered:
    return MeetingRequestAnswered.new(
        source="forms",
        subject="india-2020",
        data=MeetingRequestAnswer(request_id="r1", mission_id="india-2020", answered_by=by, answer="accepted"),
    )


def test_an_answer_by_another_company_that_overtakes_its_request_is_discarded_when_the_request_arrives() -> None:
    mission = Mission(id="india-2020")
    assert mission.apply(answered(INTRUDER)) is False, "no request yet: nothing to re-plan"
    assert mission.apply(requested()) is False, "the intruder's acceptance must not count"
    [request] = mission.requests
    assert request.answer is None and request.discarded_answer is not None and request.discarded_answer["answered_by"] == INTRUDER
    assert mission.warnings and mission.warnings[0][1]["answered_by"] == INTRUDER, "operators are told"
    assert mission.apply(answered(TARGET)) is True


def test_the_target_answering_before_its_request_arrives_counts_once_it_does() -> None:
    mission = Mission(id="india-2020")
    mission.apply(answered(TARGET))
    assert mission.apply(requested()) is True and mission.requests[0].answer == "accepted"


def test_an_answer_by_another_company_after_the_request_is_refused() -> None:
    mission = Mission(id="india-2020")
    mission.apply(requested())
    with pytest.raises(Refused):
        mission.apply(answered(INTRUDER))
