"""The demo population: deterministic, eligible where meant to be, and failing exactly where meant to."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from outgoing_cli.demo.meetings import followup_answers
from outgoing_cli.demo.population import generate
from services.registration.domain.companies import company_id_for, natural_key, profile_of
from services.registration.domain.eligibility import LOMBARD_PROVINCES, assess
from services.registration.domain.partita_iva import is_valid
from shared.contracts.matching import FollowUp, FollowUpDue, MeetingRequested
from shared.contracts.registration import CompanyRegistered, LombardApplicant
from tests.factories import TEST_LINKS


@pytest.fixture(scope="module")
def population():
    return generate(seed=7, lombard=40, foreign=50, max_meetings=3)


def test_same_seed_same_population(population):
    again = generate(seed=7, lombard=40, foreign=50, max_meetings=3)
    assert [s.model_dump_json() for s in again.signups] == [s.model_dump_json() for s in population.signups]
    assert [r.model_dump_json() for r in again.requests] == [r.model_dump_json() for r in population.requests]
    assert [a.model_dump_json() for a in again.answers] == [a.model_dump_json() for a in population.answers]


def test_another_seed_another_population(population):
    other = generate(seed=8, lombard=40, foreign=50, max_meetings=3)
    assert {c.name for c in other.lombard} != {c.name for c in population.lombard}


def test_good_signups_pass_every_rule(population):
    missions = {m.mission_id: m for m in population.missions}
    bad_ids = {b.signup.id for b in population.bad}
    for signup in population.signups:
        if signup.id in bad_ids:
            continue
        verdict = assess(signup.data.applicant, missions, signup.time)
        assert verdict.violations == [], signup.data.applicant.company_name
    assert sum(population.enrollments.values()) == sum(len(c.applicant.missions) for c in population.companies().values())


def test_each_bad_signup_fails_exactly_its_rule(population):
    missions = {m.mission_id: m for m in population.missions}
    for bad in population.bad:
        verdict = assess(bad.signup.data.applicant, missions, bad.signup.time)
        assert tuple(v.code for v in verdict.violations) == bad.reasons, bad.label
        assert verdict.company_accepted == bad.company_registered, bad.label
    assert len({code for bad in population.bad for code in bad.reasons}) == len(population.bad)


def test_every_company_is_distinct_to_registration(population):
    keys = [natural_key(s.data.applicant) for s in population.signups]
    assert len(set(keys)) == len(keys)


def test_meeting_forms_are_addressed_with_the_ids_registration_published(population):
    """The demo learns ids as an upstream form would: from company.registered.v1, by the profile's name."""
    registered = [
        CompanyRegistered.new(
            source="registration",
            subject=company_id_for(natural_key(c.applicant)),
            data=profile_of(company_id_for(natural_key(c.applicant)), c.applicant),
        )
        for c in population.companies().values()
    ]
    ids = population.company_ids(registered)
    assert ids == {c.handle: company_id_for(natural_key(c.applicant)) for c in population.companies().values()}
    forms = population.meeting_forms(ids)
    assert len(forms) == 2 * len(population.requests)
    real = set(ids.values())
    for form in forms:
        p = form.data
        assert {p.requester_id, p.target_id} <= real if isinstance(form, MeetingRequested) else p.answered_by in real
    missing = next(iter(ids))
    fewer = population.meeting_forms({h: i for h, i in ids.items() if h != missing})
    asking = [r for r in population.requests if missing in (r.data.requester_id, r.data.target_id)]
    assert asking and len(fewer) == 2 * (len(population.requests) - len(asking)), "a company without an id yet is left out"


def test_lombard_firms_look_lombard(population):
    for company in population.lombard:
        applicant = company.applicant
        assert isinstance(applicant, LombardApplicant)
        assert is_valid(applicant.partita_iva)
        assert applicant.sede_legale is not None and applicant.sede_legale.province in LOMBARD_PROVINCES
        assert applicant.contact.email.endswith(".example")
        assert all(p.hs_code and len(p.hs_code) == 6 for p in applicant.products)


def test_population_spreads_over_sectors_markets_and_zones():
    big = generate(seed=2020, lombard=80, foreign=100)
    assert {c.applicant.sector for c in big.lombard} == {s for m in big.missions for s in m.sectors}
    assert Counter(c.applicant.country for c in big.foreign) == {"IN": 20, "RU": 20, "GB": 20, "CA": 20, "CN": 20}
    zones = {(c.applicant.country, c.applicant.timezone) for c in big.foreign}
    assert ("CA", "America/Vancouver") in zones
    assert any(country == "RU" and zone != "Europe/Moscow" for country, zone in zones)


def test_requests_stay_inside_their_mission(population):
    companies = population.companies()
    answers = {a.data.request_id: a.data for a in population.answers}
    assert population.requests
    for request in population.requests:
        r = request.data
        assert r.mission_id in companies[r.requester_id].applicant.missions
        assert r.mission_id in companies[r.target_id].applicant.missions
        assert {companies[r.requester_id].applicant.role, companies[r.target_id].applicant.role} == {"lombard", "foreign"}
        assert answers[r.request_id].answered_by == r.target_id
    assert {a.answer for a in answers.values()} == {"accepted", "declined"}


def test_followup_answers_do_not_depend_on_arrival_order(population):
    lombard, partner = population.lombard[0].handle, population.foreign[0].handle
    start = population.missions[0].window_start
    due = []
    for n in range(20):
        for kind in ("attendance", "satisfaction", "outcome"):
            begin = datetime(start.year, start.month, start.day, 9, tzinfo=UTC) + timedelta(hours=n)
            payload = FollowUp(
                meeting_id=f"india-2020:{n:020d}",
                mission_id="india-2020",
                kind=kind,
                participants=[lombard, partner],
                meeting_start=begin,
                meeting_end=begin + timedelta(minutes=30),
                due_at=begin + timedelta(days=7),
            )
            due.append(FollowUpDue.new(source="matching", subject="india-2020", data=payload))
    forward = followup_answers(1, due, TEST_LINKS)
    backward = followup_answers(1, list(reversed(due)), TEST_LINKS)
    assert [a.model_dump_json() for a in forward] == [a.model_dump_json() for a in backward]
    kinds = Counter(a.data.kind for a in forward)
    assert set(kinds) == {"attendance", "satisfaction", "outcome"}
    assert all(a.data.satisfaction in range(1, 6) for a in forward if a.data.kind == "satisfaction")
