"""Eligibility rules for a signup, each with a reason code and a message in Italian and English.

Rules are checked all together so that a rejection lists every failed rule at once: a
company fixing its form should not discover problems one resubmission at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.registration.domain import partita_iva
from shared.contracts.missions import Mission
from shared.contracts.registration import Address, ForeignApplicant, LombardApplicant, Violation

LOMBARD_PROVINCES = frozenset({"BG", "BS", "CO", "CR", "LC", "LO", "MN", "MI", "MB", "PV", "SO", "VA"})

SECTORS: Mapping[str, tuple[str, str]] = {
    "arredo_design": ("arredo e design", "furniture and design"),
    "chimica": ("chimica", "chemicals"),
    "cosmetica": ("cosmetica", "cosmetics"),
    "edilizia": ("edilizia", "construction"),
    "farmaceutico_medicale": ("farmaceutico e medicale", "pharma and medical"),
    "meccanica_metallurgia": ("meccanica e metallurgia", "mechanics and metallurgy"),
    "prodotti_alimentari": ("prodotti alimentari", "food products"),
    "sistema_moda": ("sistema moda", "fashion"),
}

MESSAGES: Mapping[str, tuple[str, str]] = {
    "site.missing": (
        "Indicare la sede legale o una sede operativa.",
        "Give the registered office or an operating site.",
    ),
    "site.not_in_lombardy": (
        "La sede legale o una sede operativa deve trovarsi in una provincia lombarda ({provinces}).",
        "The registered office or an operating site must be in a Lombard province ({provinces}).",
    ),
    "partita_iva.malformed": (
        "La partita IVA deve avere 11 cifre.",
        "The VAT number (partita IVA) must have 11 digits.",
    ),
    "partita_iva.check_digit": (
        "La partita IVA non è valida: la cifra di controllo non corrisponde.",
        "The VAT number (partita IVA) is not valid: its check digit does not match.",
    ),
    "sector.unknown": (
        "Il settore «{sector}» non è tra gli otto settori del progetto.",
        "Sector '{sector}' is not one of the programme's eight sectors.",
    ),
    "sector.not_accepted": (
        "La missione {mission} non accetta il settore «{sector}».",
        "Mission {mission} does not accept sector '{sector}'.",
    ),
    "mission.unknown": (
        "La missione {mission} non esiste.",
        "Mission {mission} does not exist.",
    ),
    "mission.closed": (
        "Le iscrizioni alla missione {mission} sono chiuse.",
        "Enrollment for mission {mission} is closed.",
    ),
    "consent.missing": (
        "È necessario il consenso al trattamento dei dati personali.",
        "Consent to the processing of personal data is required.",
    ),
    "country.mismatch": (
        "Il partner estero deve trovarsi nel paese della missione {mission} ({expected}), non in {country}.",
        "The foreign partner must be in mission {mission}'s country ({expected}), not in {country}.",
    ),
}


def violation(code: str, mission_id: str | None = None, **details: str) -> Violation:
    italian, english = MESSAGES[code]
    values = {"mission": mission_id or "", **details}
    return Violation(code=code, mission_id=mission_id, message_it=italian.format(**values), message_en=english.format(**values))


@dataclass(frozen=True)
class Verdict:
    """Company-level violations bar the company; mission-level ones bar only that enrollment."""

    company_violations: list[Violation] = field(default_factory=list)
    mission_violations: list[Violation] = field(default_factory=list)
    eligible_missions: list[str] = field(default_factory=list)

    @property
    def company_accepted(self) -> bool:
        return not self.company_violations

    @property
    def violations(self) -> list[Violation]:
        return [*self.company_violations, *self.mission_violations]


def assess(applicant: LombardApplicant | ForeignApplicant, missions: Mapping[str, Mission], at: datetime) -> Verdict:
    """Check every rule; ``at`` is the signup's own time, so a replay reaches the same verdict."""
    if isinstance(applicant, LombardApplicant):
        company = _lombard_company_rules(applicant)
        sectors = [applicant.sector]
    else:
        company = _common_company_rules(applicant.privacy_consent, applicant.sectors)
        sectors = applicant.sectors
    mission_violations: list[Violation] = []
    eligible: list[str] = []
    for mission_id in dict.fromkeys(applicant.missions):
        found = _mission_rules(applicant, sectors, mission_id, missions.get(mission_id), at)
        mission_violations.extend(found)
        if not found:
            eligible.append(mission_id)
    return Verdict(company, mission_violations, eligible)


def _lombard_company_rules(applicant: LombardApplicant) -> list[Violation]:
    found = _site_rules([applicant.sede_legale, applicant.sede_operativa])
    vat = partita_iva.normalise(applicant.partita_iva)
    if not partita_iva.is_well_formed(vat):
        found.append(violation("partita_iva.malformed"))
    elif not partita_iva.is_valid(vat):
        found.append(violation("partita_iva.check_digit"))
    return found + _common_company_rules(applicant.privacy_consent, [applicant.sector])


def _site_rules(sites: list[Address | None]) -> list[Violation]:
    given = [site for site in sites if site is not None]
    if not given:
        return [violation("site.missing")]
    if not any(site.province.strip().upper() in LOMBARD_PROVINCES for site in given):
        return [violation("site.not_in_lombardy", provinces=", ".join(sorted(LOMBARD_PROVINCES)))]
    return []


def _common_company_rules(consent: bool, sectors: list[str]) -> list[Violation]:
    found = [violation("sector.unknown", sector=s) for s in sectors if s not in SECTORS]
    if not consent:
        found.append(violation("consent.missing"))
    return found


def _mission_rules(
    applicant: LombardApplicant | ForeignApplicant, sectors: list[str], mission_id: str, mission: Mission | None, at: datetime
) -> list[Violation]:
    if mission is None:
        return [violation("mission.unknown", mission_id)]
    if mission.status != "planned" or at > mission.enrollment_deadline:
        return [violation("mission.closed", mission_id)]
    found: list[Violation] = []
    known = [s for s in sectors if s in SECTORS]
    if known and not any(s in mission.sectors for s in known):
        found.append(violation("sector.not_accepted", mission_id, sector=", ".join(known)))
    if isinstance(applicant, ForeignApplicant) and applicant.country != mission.country:
        found.append(violation("country.mismatch", mission_id, expected=mission.country, country=applicant.country))
    return found
