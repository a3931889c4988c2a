"""Folding notifications' events into the unconfirmed sends still waiting for an operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from outgoing_cli.mail import open_unconfirmed
from shared.contracts.notifications import (
    NotificationUnconfirmedResolvedV2,
    NotificationUnconfirmedV2,
    UnconfirmedResolutionV2,
    UnconfirmedSendV2,
)

T0 = datetime(2020, 10, 20, 8, 0, tzinfo=UTC)


def noticed(nid: str, attempt: int, minutes: int = 0) -> NotificationUnconfirmedV2:
    payload = UnconfirmedSendV2(
        notification_id=nid,
        kind="meeting_invitation",
        company_id="rossi-meccanica-0001",
        attempt=attempt,
        message_id=f"<{nid}@x>",
        policy="hold",
    )
    return NotificationUnconfirmedV2.new(
        source="notifications", subject="rossi-meccanica-0001", data=payload, time=T0 + timedelta(minutes=minutes)
    )


def resolved(nid: str, attempt: int, minutes: int = 1) -> NotificationUnconfirmedResolvedV2:
    payload = UnconfirmedResolutionV2(
        notification_id=nid,
        kind="meeting_invitation",
        company_id="rossi-meccanica-0001",
        attempt=attempt,
        resolution="resent",
        by="operator",
        operator="anna",
    )
    return NotificationUnconfirmedResolvedV2.new(
        source="notifications", subject="rossi-meccanica-0001", data=payload, time=T0 + timedelta(minutes=minutes)
    )


def test_a_resolution_closes_its_attempt_and_a_later_unconfirmed_attempt_reopens() -> None:
    events = [noticed("a", 1), noticed("b", 1), resolved("a", 1), noticed("a", 2, minutes=5)]
    pending = open_unconfirmed(events)
    assert sorted(pending) == ["a", "b"] and pending["a"].data.attempt == 2


def test_a_resolution_of_an_earlier_attempt_does_not_close_a_later_one() -> None:
    assert list(open_unconfirmed([noticed("a", 2), resolved("a", 1)])) == ["a"]
