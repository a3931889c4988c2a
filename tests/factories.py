"""Valid events for tests, with overrides: one place that knows what a good signup looks like."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.registration.domain.partita_iva import check_digit
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.missions import Mission, MissionPlanned
from shared.contracts.registration import (
    CompanySignupSubmitted,
    ForeignApplicant,
    LombardApplicant,
    Signup,
)
from shared.links import LinkKeys

SIGNUP_TIME = datetime(2020, 9, 15, 10, 0, tzinfo=UTC)
TEST_LINKS = LinkKeys(b"unit-test-link-secret")
"""The key of rooms and survey tokens in tests on fakes (shared/links.py)."""


def valid_partita_iva(first_ten: str = "0123456789") -> str:
    return first_ten + str(check_digit(first_ten))


def lombard(**overrides: Any) -> LombardApplicant:
    data: dict[str, Any] = {
        "company_name": "Rossi Meccanica S.r.l.",
        "partita_iva": valid_partita_iva(),
        "sede_legale": {"street": "Via Roma 1", "city": "Bergamo", "province": "BG", "postal_code": "24121"},
        "sector": "meccanica_metallurgia",
        "ateco_code": "28.41",
        "size": "small",
        "website": "https://rossi.example",
        "products": [{"name": "CNC lathes", "hs_code": "845811"}],
        "offer": "Precision CNC machining and lathes",
        "seeking": "Distributors of machine tools",
        "languages": ["it", "en"],
        "contact": {"name": "Mario Rossi", "email": "mario.rossi@rossi.example", "phone": "+39 035 123456", "preferred_language": "it"},
        "privacy_consent": True,
        "missions": ["india-2020"],
    }
    data.update(overrides)
    return LombardApplicant.model_validate(data)


def foreign(**overrides: Any) -> ForeignApplicant:
    data: dict[str, Any] = {
        "company_name": "Mumbai Machine Tools Pvt Ltd",
        "country": "IN",
        "city": "Mumbai",
        "timezone": "Asia/Kolkata",
        "sectors": ["meccanica_metallurgia"],
        "products_sought": [{"name": "lathes", "hs_code": "845811"}],
        "offer": "Distribution network across Maharashtra",
        "seeking": "Italian CNC lathes",
        "languages": ["en", "hi"],
        "contact": {"name": "Priya Shah", "email": "priya@mmt.example", "preferred_language": "en"},
        "privacy_consent": True,
        "missions": ["india-2020"],
    }
    data.update(overrides)
    return ForeignApplicant.model_validate(data)


def signup(
    applicant: LombardApplicant | ForeignApplicant, time: datetime = SIGNUP_TIME, subject: str | None = None
) -> CompanySignupSubmitted:
    return CompanySignupSubmitted.new(
        source="forms", subject=subject or applicant.company_name[:50], data=Signup(applicant=applicant), time=time
    )


def mission(mission_id: str = "india-2020") -> Mission:
    return next(m for m in MISSIONS_2020 if m.mission_id == mission_id)


def mission_planned(m: Mission) -> MissionPlanned:
    return MissionPlanned.new(source="operators", subject=m.mission_id, data=m, time=datetime(2020, 9, 1, tzinfo=UTC))
