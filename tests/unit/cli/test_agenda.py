"""Folding matching's events into the current agenda, and showing it in each side's time zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from outgoing_cli.agenda import agenda_rows, breaks_of, company_names, fold_meetings, format_span, latest_summary, mission_of
from shared.contracts.registration import CompanyChange, CompanyErased, CompanyUpdated, Erasure
from tests.unit.cli.builders import (
    LOMBARD,
    OTHER,
    PARTNER,
    agenda_published,
    cancelled,
    meeting,
    registered,
    rescheduled,
    scheduled,
    utc,
)

ROME, TORONTO, KOLKATA = ZoneInfo("Europe/Rome"), ZoneInfo("America/Toronto"), ZoneInfo("Asia/Kolkata")
FIRST = meeting("canada-2020:m-0001", utc(2020, 11, 16, 14, 0))
SECOND = meeting("canada-2020:m-0002", utc(2020, 11, 16, 15, 0), partner="vancouver-wood-01")


def test_a_reschedule_with_a_higher_sequence_replaces_the_meeting() -> None:
    moved = meeting(FIRST.meeting_id, utc(2020, 11, 17, 14, 0), sequence=1)
    current = fold_meetings([scheduled(FIRST), scheduled(SECOND), rescheduled(moved, FIRST)])
    assert current == {FIRST.meeting_id: moved, SECOND.meeting_id: SECOND}


def test_an_older_sequence_arriving_late_changes_nothing() -> None:
    moved = meeting(FIRST.meeting_id, utc(2020, 11, 17, 14, 0), sequence=2)
    stale = meeting(FIRST.meeting_id, utc(2020, 11, 18, 14, 0), sequence=1)
    assert fold_meetings([rescheduled(moved, FIRST), rescheduled(stale, FIRST), scheduled(FIRST)]) == {FIRST.meeting_id: moved}


def test_a_cancellation_removes_the_meeting_until_a_later_sequence_brings_it_back() -> None:
    assert fold_meetings([scheduled(FIRST), cancelled(FIRST, 1), scheduled(SECOND)]) == {SECOND.meeting_id: SECOND}
    back = meeting(FIRST.meeting_id, utc(2020, 11, 20, 14, 0), sequence=2)
    assert fold_meetings([scheduled(FIRST), cancelled(FIRST, 1), rescheduled(back, FIRST)]) == {FIRST.meeting_id: back}


def test_at_equal_sequence_a_cancellation_wins_whatever_the_order() -> None:
    assert fold_meetings([cancelled(FIRST, 0), scheduled(FIRST)]) == {}
    assert fold_meetings([scheduled(FIRST), cancelled(FIRST, 0)]) == {}


@given(st.permutations(range(4)))
def test_the_highest_sequence_wins_in_any_order(order: list[int]) -> None:
    versions = [meeting(FIRST.meeting_id, utc(2020, 11, 16 + n, 14, 0), sequence=n) for n in range(4)]
    events = [scheduled(versions[0])] + [rescheduled(v, versions[0]) for v in versions[1:]]
    assert fold_meetings([events[i] for i in order]) == {FIRST.meeting_id: versions[3]}


def test_replaying_every_event_gives_the_same_agenda() -> None:
    moved = meeting(FIRST.meeting_id, utc(2020, 11, 17, 14, 0), sequence=1)
    events = [scheduled(FIRST), scheduled(SECOND), rescheduled(moved, FIRST), cancelled(SECOND, 1)]
    assert fold_meetings(events + events) == fold_meetings(events) == {FIRST.meeting_id: moved}


def test_the_latest_agenda_is_the_highest_version() -> None:
    events = [
        agenda_published(2, {LOMBARD: 1}, time=utc(2020, 11, 1)),
        agenda_published(1, {LOMBARD: 5}, time=utc(2020, 11, 2)),
        scheduled(FIRST),
    ]
    summary = latest_summary(events)
    assert summary is not None and summary.version == 2
    assert breaks_of(summary) == {LOMBARD: 1}
    assert latest_summary([scheduled(FIRST)]) is None


def test_breaks_are_filtered_by_company() -> None:
    summary = agenda_published(1, {LOMBARD: 2, PARTNER: 0, OTHER: 3}).data
    assert breaks_of(summary, OTHER) == {OTHER: 3}
    assert breaks_of(summary) == {OTHER: 3, PARTNER: 0, LOMBARD: 2}
    assert breaks_of(None, OTHER) == {}


def test_mission_of_reads_every_kind_of_event() -> None:
    moved = meeting(FIRST.meeting_id, utc(2020, 11, 17, 14, 0), sequence=1, mission="uk-2020")
    assert [mission_of(e) for e in (scheduled(FIRST), rescheduled(moved, FIRST), cancelled(FIRST, 1), agenda_published(1, {}))] == [
        "canada-2020",
        "uk-2020",
        "canada-2020",
        "canada-2020",
    ]


def test_company_names_follow_registration_and_forget_erased_companies() -> None:
    renamed = registered(PARTNER, "Toronto Tools Inc.", role="foreign").data.model_copy(update={"company_name": "Toronto Tools Ltd."})
    events = [
        registered(LOMBARD, "Rossi Meccanica S.r.l."),
        registered(PARTNER, "Toronto Tools Inc.", role="foreign"),
        CompanyUpdated.new(source="registration", subject=PARTNER, data=CompanyChange(profile=renamed, changed_fields=["company_name"])),
        registered(OTHER, "Moda Milano S.p.A."),
        CompanyErased.new(source="registration", subject=OTHER, data=Erasure(company_id=OTHER)),
    ]
    assert company_names(events) == {LOMBARD: "Rossi Meccanica S.r.l.", PARTNER: "Toronto Tools Ltd."}


# ---------------------------------------------------------------- time zones


def test_europe_and_north_america_switch_a_week_apart_in_2020() -> None:
    """Europe left summer time on Oct 25, North America on Nov 1: the gap is 5 hours, then 6."""
    before = (utc(2020, 10, 23, 13, 0), utc(2020, 10, 23, 13, 30))
    between = (utc(2020, 10, 30, 14, 0), utc(2020, 10, 30, 14, 30))
    after = (utc(2020, 11, 2, 14, 0), utc(2020, 11, 2, 14, 30))
    assert format_span(*before, ROME) == "Fri 2020-10-23 15:00–15:30 CEST"
    assert format_span(*before, TORONTO) == "Fri 2020-10-23 09:00–09:30 EDT"
    assert format_span(*between, ROME) == "Fri 2020-10-30 15:00–15:30 CET"
    assert format_span(*between, TORONTO) == "Fri 2020-10-30 10:00–10:30 EDT"
    assert format_span(*after, ROME) == "Mon 2020-11-02 15:00–15:30 CET"
    assert format_span(*after, TORONTO) == "Mon 2020-11-02 09:00–09:30 EST"


def test_india_does_not_switch_so_only_the_lombard_time_moves() -> None:
    friday = (utc(2020, 10, 23, 9, 0), utc(2020, 10, 23, 9, 30))
    monday = (utc(2020, 10, 26, 9, 0), utc(2020, 10, 26, 9, 30))
    assert format_span(*friday, KOLKATA) == "Fri 2020-10-23 14:30–15:00 IST"
    assert format_span(*monday, KOLKATA) == "Mon 2020-10-26 14:30–15:00 IST"
    assert format_span(*friday, ROME) == "Fri 2020-10-23 11:00–11:30 CEST"
    assert format_span(*monday, ROME) == "Mon 2020-10-26 10:00–10:30 CET"


def test_a_meeting_that_ends_on_the_next_local_day_says_so() -> None:
    assert (
        format_span(utc(2020, 11, 30, 15, 45), utc(2020, 11, 30, 16, 15), ZoneInfo("Asia/Shanghai"))
        == "Mon 2020-11-30 23:45–00:15 (+1d) CST"
    )


def test_rows_show_each_side_in_its_own_zone_lombard_first_whatever_the_order() -> None:
    m = meeting("canada-2020:m-0003", utc(2020, 10, 30, 14, 0), foreign_first=True)
    names = {LOMBARD: "Rossi Meccanica S.r.l."}
    [row] = agenda_rows([m], names)
    assert (row.lombard.company_id, row.lombard.name, row.lombard.time) == (
        LOMBARD,
        "Rossi Meccanica S.r.l.",
        "Fri 2020-10-30 15:00–15:30 CET",
    )
    assert (row.partner.company_id, row.partner.name, row.partner.time) == (PARTNER, "", "Fri 2020-10-30 10:00–10:30 EDT")


def test_a_chosen_zone_shows_both_sides_there() -> None:
    [row] = agenda_rows([meeting("canada-2020:m-0004", utc(2020, 11, 2, 14, 0))], {}, zone=KOLKATA)
    assert row.lombard.time == row.partner.time == "Mon 2020-11-02 19:30–20:00 IST"


def test_rows_are_in_start_order_and_filtered_by_company() -> None:
    late = meeting("canada-2020:m-0005", utc(2020, 11, 17, 14, 0))
    early = meeting("canada-2020:m-0006", utc(2020, 11, 16, 14, 0), lombard=OTHER)
    assert [r.meeting_id for r in agenda_rows([late, early], {})] == [early.meeting_id, late.meeting_id]
    assert [r.meeting_id for r in agenda_rows([late, early], {}, company=OTHER)] == [early.meeting_id]
    assert [r.meeting_id for r in agenda_rows([late, early], {}, company=PARTNER)] == [early.meeting_id, late.meeting_id]
    assert agenda_rows([late, early], {}, company="nobody-at-all") == []
