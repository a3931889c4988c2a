"""The demo's firms: Lombard companies and foreign partners with realistic names, sites,
products and texts, and the signup forms they send. Seeded: the same seed, the same firms."""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from faker import Faker
from stdnum import luhn

from outgoing_cli.demo.vocabulary import (
    CHINESE_BRANDS,
    LEGAL_FORMS,
    MARKETS,
    PROVINCES,
    SECTORS,
    STREETS,
    transliterate,
)
from shared.contracts.missions import Mission
from shared.contracts.registration import (
    CompanySignupSubmitted,
    ForeignApplicant,
    LombardApplicant,
    Signup,
)

Applicant = LombardApplicant | ForeignApplicant

SIGNUPS_OPEN = datetime(2020, 9, 1, 8, 0, tzinfo=UTC)
SIGNUPS_CLOSE = datetime(2020, 10, 2, 18, 0, tzinfo=UTC)
"""Signups arrive before the earliest deadline (India and Russia: 5 October)."""

TRADE_WORDS = {
    "arredo_design": "Interiors",
    "chimica": "Chemicals",
    "cosmetica": "Beauty",
    "edilizia": "Building Supplies",
    "farmaceutico_medicale": "Healthcare",
    "meccanica_metallurgia": "Machinery",
    "prodotti_alimentari": "Foods",
    "sistema_moda": "Fashion",
}


@dataclass(frozen=True)
class Company:
    handle: str
    """The population's own name for the company, until registration gives it an id."""
    applicant: Applicant

    @property
    def name(self) -> str:
        return self.applicant.company_name


def event_id(seed: int, *parts: Any) -> UUID:
    return uuid5(NAMESPACE_URL, "outgoing-demo:" + ":".join(str(p) for p in (seed, *parts)))


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _folded(name: str) -> str:
    """Names that differ only in case, accents, punctuation or spacing count as one: no two
    firms of the population may look like the same company to anyone."""
    decomposed = unicodedata.normalize("NFKD", name)
    return re.sub(r"[\W_]+", " ", "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()).strip()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _ascii(text).lower()).strip("-")[:40].strip("-")


def valid_partita_iva(rng: random.Random, province: str) -> str:
    """Seven digits of company number, the province office code, the check digit."""
    first_ten = f"{rng.randrange(10**6, 10**7)}{PROVINCES[province][0]}"
    return first_ten + luhn.calc_check_digit(first_ten)


@dataclass
class FirmGenerator:
    seed: int
    missions: list[Mission]
    rng: random.Random
    fakers: dict[str, Faker]
    names_seen: set[str] = field(default_factory=set)
    vats_seen: set[str] = field(default_factory=set)
    counter: int = 0

    @classmethod
    def create(cls, seed: int, missions: list[Mission]) -> FirmGenerator:
        locales = {"it_IT", *(loc for market in MARKETS.values() for loc in market.faker_locales)}
        fakers = {}
        for index, locale in enumerate(sorted(locales)):
            fake = Faker(locale)
            fake.seed_instance(seed * 101 + index)
            fakers[locale] = fake
        return cls(seed, missions, random.Random(seed), fakers)

    def mission(self, mission_id: str) -> Mission:
        return next(m for m in self.missions if m.mission_id == mission_id)

    def signup_time(self) -> datetime:
        span = (SIGNUPS_CLOSE - SIGNUPS_OPEN).total_seconds()
        return SIGNUPS_OPEN + timedelta(seconds=int(self.rng.uniform(0, span)))

    def unique(self, make: Any) -> str:
        for _ in range(50):
            name = make()
            key = _folded(name)
            if key and key not in self.names_seen:
                self.names_seen.add(key)
                return name
        self.counter += 1
        name = f"{make()} {self.counter}"
        self.names_seen.add(_folded(name))
        return name

    # ------------------------------------------------------------ Lombard firms

    def lombard(self, sector: str, missions: list[str]) -> dict[str, Any]:
        fake, rng, vocab = self.fakers["it_IT"], self.rng, SECTORS[sector]
        name = self.unique(lambda: f"{fake.last_name()} {vocab.word_it} {rng.choice(LEGAL_FORMS)}")
        province = rng.choices(list(PROVINCES), weights=[9, 8, 4, 2, 3, 1, 2, 14, 6, 2, 1, 5])[0]
        vat = valid_partita_iva(rng, province)
        while vat in self.vats_seen:
            vat = valid_partita_iva(rng, province)
        self.vats_seen.add(vat)
        products = rng.sample(vocab.products, k=min(len(vocab.products), rng.choice((2, 2, 3))))
        first, last = fake.first_name(), fake.last_name()
        slug = _slug(name.rsplit(" ", 1)[0])
        markets = " and ".join(self.mission(m).market for m in missions)
        extra_languages = rng.choice([[], [], [], ["fr"], ["de"], ["es"], ["ru"]])
        applicant: dict[str, Any] = {
            "company_name": name,
            "partita_iva": vat,
            "sede_legale": self.address(province),
            "sector": sector,
            "ateco_code": vocab.ateco,
            "size": rng.choices(["micro", "small", "medium", "large"], weights=[2, 5, 3, 1])[0],
            "website": f"https://www.{slug}.example",
            "products": [{"name": n, "hs_code": hs} for n, hs in products],
            "offer": f"{rng.choice(vocab.capabilities)} {products[0][0]} and {products[1][0]} for {rng.choice(vocab.customers)}. {rng.choice(vocab.qualities)}",
            "seeking": f"Importers and distributors of {products[0][0]} in {markets}; partners serving {rng.choice(vocab.customers)}.",
            "languages": ["it", "en", *extra_languages],
            "contact": {
                "name": f"{first} {last}",
                "email": f"{_slug(first).replace('-', '')}.{_slug(last).replace('-', '')}@{slug}.example",
                "phone": f"+39 0{rng.randrange(2, 4)} {rng.randrange(1_000_000, 9_999_999)}",
                "preferred_language": "it",
            },
            "privacy_consent": True,
            "missions": missions,
        }
        if rng.random() < 0.15:
            other = rng.choice([p for p in PROVINCES if p != province])
            applicant["sede_operativa"] = self.address(other)
        return applicant

    def address(self, province: str) -> dict[str, Any]:
        city, postal = self.rng.choice(PROVINCES[province][1])
        return {
            "street": f"{self.rng.choice(STREETS)} {self.rng.randrange(1, 180)}",
            "city": city,
            "province": province,
            "postal_code": postal,
        }

    # ------------------------------------------------------------ foreign partners

    def foreign(self, mission: Mission) -> dict[str, Any]:
        rng, market = self.rng, MARKETS[mission.country]
        city, zone, _ = rng.choices(market.cities, weights=[c[2] for c in market.cities])[0]
        locale = "fr_CA" if city == "Montréal" else market.faker_locales[0]
        fake = self.fakers[locale]
        sectors = rng.sample(mission.sectors, k=1 if rng.random() < 0.7 else 2)
        vocab = SECTORS[sectors[0]]
        trade = TRADE_WORDS[sectors[0]]
        name = self.unique(lambda: self.foreign_name(mission.country, fake, city, trade))
        wanted = [p for s in sectors for p in SECTORS[s].products]
        sought = rng.sample(wanted, k=min(len(wanted), rng.choice((2, 3))))
        languages = list(market.languages)
        if mission.country in ("RU", "CN") and rng.random() < 0.3:
            languages = languages[:1]
        if locale == "fr_CA":
            languages = ["fr", "en"]
        elif mission.country == "CA":
            languages = ["en"] if rng.random() < 0.7 else ["en", "fr"]
        contact_name = fake.name()
        role = rng.choice(("export", "purchasing", "b2b", "sourcing", "info"))
        local = role if mission.country in ("RU", "CN") else ".".join(_slug(p).replace("-", "") for p in contact_name.split()[:2])
        return {
            "company_name": name,
            "country": mission.country,
            "city": city,
            "timezone": zone,
            "sectors": sectors,
            "products_sought": [{"name": n, "hs_code": hs} for n, hs in sought],
            "offer": f"{rng.choice(vocab.partner_channels)} {rng.choice(vocab.customers)} across {rng.choice(market.regions)}.",
            "seeking": f"Italian {sought[0][0]} and {sought[1][0]} {rng.choice(vocab.partner_needs)}.",
            "languages": languages,
            "contact": {"name": contact_name, "email": f"{local}@{_slug(name)}.example", "preferred_language": "en"},
            "privacy_consent": True,
            "missions": [mission.mission_id],
        }

    def foreign_name(self, country: str, fake: Faker, city: str, trade: str) -> str:
        form = self.rng.choice(MARKETS[country].company_forms)
        match country:
            case "RU":
                return f"{form} {transliterate(fake.last_name_male())} {trade}"
            case "CN":
                return f"{city} {self.rng.choice(CHINESE_BRANDS)} {trade} {form}"
            case "GB" | "CA" if self.rng.random() < 0.3:
                return f"{fake.last_name()} & {fake.last_name()} {form}"
        return f"{fake.last_name()} {trade} {form}"

    # ------------------------------------------------------------ events

    def signup(self, applicant: Applicant, at: datetime | None = None) -> CompanySignupSubmitted:
        self.counter += 1
        return CompanySignupSubmitted.new(
            source="/outgoing/demo/forms",
            subject=f"form-{self.counter:05d}",
            data=Signup(applicant=applicant),
            time=at or self.signup_time(),
            event_id=event_id(self.seed, "signup", self.counter),
        )
