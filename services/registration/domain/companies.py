"""What a company record is made of, how companies are recognised, and what erasure keeps."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal
from uuid import UUID, uuid5

from services.registration.domain import partita_iva
from services.registration.domain.eligibility import LOMBARD_PROVINCES
from shared.contracts.registration import Address, CompanyProfile, ForeignApplicant, LombardApplicant

COMPANY_NAMESPACE = UUID("6f1c1f0e-2b7a-4a57-9a53-1c0d5e2f7a10")

STATISTICAL_FIELDS = frozenset({"company_id", "role", "country", "province", "sectors", "size", "ateco_code", "timezone"})
"""What survives erasure: enough to count participation by sector, territory and size."""


def natural_key(applicant: LombardApplicant | ForeignApplicant) -> str:
    """Lombard companies are known by partita IVA; foreign partners by name and country."""
    if isinstance(applicant, LombardApplicant):
        return f"it:{partita_iva.normalise(applicant.partita_iva)}"
    return f"{applicant.country.lower()}:{normalise_name(applicant.company_name)}"


def normalise_name(name: str) -> str:
    """Case, accents, punctuation and spacing do not make a different company; the script does
    (names written in Cyrillic or Chinese stay distinct)."""
    decomposed = unicodedata.normalize("NFKD", name)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[\W_]+", " ", folded).strip()


def company_id_for(key: str) -> str:
    """Deterministic, so concurrent instances handling duplicates compute the same id."""
    return str(uuid5(COMPANY_NAMESPACE, key))


def enrollment_id_for(company_id: str, mission_id: str) -> str:
    return f"{company_id}:{mission_id}"


def preferred_language(applicant: LombardApplicant | ForeignApplicant) -> Literal["it", "en"]:
    """The contact's choice, else Italian for Lombard companies and English for foreign partners."""
    return applicant.contact.preferred_language or ("it" if applicant.role == "lombard" else "en")


def profile_of(company_id: str, applicant: LombardApplicant | ForeignApplicant) -> CompanyProfile:
    if isinstance(applicant, LombardApplicant):
        site = _lombard_site(applicant.sede_operativa, applicant.sede_legale)
        return CompanyProfile(
            company_id=company_id,
            role="lombard",
            company_name=applicant.company_name,
            country="IT",
            province=site.province.strip().upper() if site else None,
            city=site.city if site else None,
            timezone="Europe/Rome",
            sectors=[applicant.sector],
            ateco_code=applicant.ateco_code,
            size=applicant.size,
            website=applicant.website,
            products=applicant.products,
            offer=applicant.offer,
            seeking=applicant.seeking,
            languages=applicant.languages,
            preferred_language=preferred_language(applicant),
            availability=applicant.availability,
        )
    return CompanyProfile(
        company_id=company_id,
        role="foreign",
        company_name=applicant.company_name,
        country=applicant.country,
        city=applicant.city,
        timezone=applicant.timezone,
        sectors=applicant.sectors,
        products=applicant.products_sought,
        offer=applicant.offer,
        seeking=applicant.seeking,
        languages=applicant.languages,
        preferred_language=preferred_language(applicant),
        availability=applicant.availability,
    )


def _lombard_site(*sites: Address | None) -> Address | None:
    """The first site in Lombardy, preferring the operating site; else whichever was given."""
    given = [s for s in sites if s is not None]
    for site in given:
        if site.province.strip().upper() in LOMBARD_PROVINCES:
            return site
    return given[0] if given else None


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(k for k in after.keys() | before.keys() if before.get(k) != after.get(k))


def statistical_remainder(profile: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in profile.items() if k in STATISTICAL_FIELDS}
