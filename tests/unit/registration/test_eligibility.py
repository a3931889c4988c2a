from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registration.domain.eligibility import LOMBARD_PROVINCES, MESSAGES, SECTORS, assess
from tests.factories import SIGNUP_TIME, foreign, lombard, mission

MISSIONS = {m.mission_id: m for m in [mission("india-2020"), mission("uk-2020"), mission("russia-2020")]}


def codes(applicant, at: datetime = SIGNUP_TIME) -> list[tuple[str, str | None]]:
    return [(v.code, v.mission_id) for v in assess(applicant, MISSIONS, at).violations]


def test_eligible_lombard_company() -> None:
    verdict = assess(lombard(), MISSIONS, SIGNUP_TIME)
    assert verdict.violations == [] and verdict.eligible_missions == ["india-2020"]


def test_eligible_foreign_partner() -> None:
    assert codes(foreign()) == []


@given(st.sampled_from(sorted(LOMBARD_PROVINCES)))
def test_any_lombard_province_qualifies_either_site(province: str) -> None:
    outside = {"city": "Torino", "province": "TO"}
    assert codes(lombard(sede_legale=outside, sede_operativa={"city": "x", "province": province})) == []
    assert codes(lombard(sede_legale={"city": "x", "province": province.lower()}, sede_operativa=None)) == []


def test_sites_outside_lombardy_are_rejected() -> None:
    assert codes(lombard(sede_legale={"city": "Torino", "province": "TO"}, sede_operativa={"city": "Roma", "province": "RM"})) == [
        ("site.not_in_lombardy", None)
    ]


def test_a_site_is_required() -> None:
    assert codes(lombard(sede_legale=None, sede_operativa=None)) == [("site.missing", None)]


@pytest.mark.parametrize(("vat", "code"), [("1234567890", "partita_iva.malformed"), ("01234567890", "partita_iva.check_digit")])
def test_partita_iva_rules(vat: str, code: str) -> None:
    assert codes(lombard(partita_iva=vat)) == [(code, None)]


def test_unknown_sector() -> None:
    assert codes(lombard(sector="aerospazio")) == [("sector.unknown", None)]


def test_sector_not_accepted_by_the_mission() -> None:
    assert codes(lombard(sector="sistema_moda")) == [("sector.not_accepted", "india-2020")]


def test_unknown_and_closed_missions() -> None:
    after_deadline = datetime(2020, 10, 6, tzinfo=UTC)
    assert codes(lombard(missions=["mars-2020"])) == [("mission.unknown", "mars-2020")]
    assert codes(lombard(), at=after_deadline) == [("mission.closed", "india-2020")]


def test_consent_is_required() -> None:
    assert codes(lombard(privacy_consent=False)) == [("consent.missing", None)]


def test_foreign_partner_must_be_in_the_mission_country() -> None:
    assert codes(foreign(country="GB", timezone="Europe/London")) == [("country.mismatch", "india-2020")]


def test_every_failed_rule_is_reported_at_once() -> None:
    applicant = lombard(
        partita_iva="123",
        sector="aerospazio",
        privacy_consent=False,
        sede_legale={"city": "Torino", "province": "TO"},
        missions=["india-2020", "mars-2020"],
    )
    assert sorted(codes(applicant)) == sorted(
        [
            ("site.not_in_lombardy", None),
            ("partita_iva.malformed", None),
            ("sector.unknown", None),
            ("consent.missing", None),
            ("mission.unknown", "mars-2020"),
        ]
    )


def test_mission_level_violations_leave_other_missions_eligible() -> None:
    verdict = assess(lombard(missions=["india-2020", "mars-2020"]), MISSIONS, SIGNUP_TIME)
    assert verdict.company_accepted and verdict.eligible_missions == ["india-2020"]


def test_every_reason_has_both_languages_and_every_sector_a_name() -> None:
    assert all(it and en and it != en for it, en in MESSAGES.values())
    assert len(SECTORS) == 8


def test_messages_are_filled_in() -> None:
    [violation] = assess(lombard(sector="sistema_moda"), MISSIONS, SIGNUP_TIME).violations
    assert "india-2020" in violation.message_en and "sistema_moda" in violation.message_it
