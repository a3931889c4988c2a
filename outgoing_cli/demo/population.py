"""The demo's population: Lombard firms, foreign partners, bad signups and meeting requests.

Pure and deterministic: the same seed and sizes give the same companies, texts and event
ids (Faker instances and ``random.Random`` are seeded; event ids are uuid5 of the seed),
so a demo can be replayed and a test can pin what it generated.

The demo plays the upstream forms, which know a company's id only once registration has
published it: requests are drawn between the population's own handles, and
``Population.meeting_forms`` addresses them with the ids read from ``company.registered.v1``.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable, Mapping
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
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.matching import (
    FollowUpAnswer,
    FollowUpAnswered,
    FollowUpDue,
    MeetingRequest,
    MeetingRequestAnswer,
    MeetingRequestAnswered,
    MeetingRequested,
)
from shared.contracts.missions import Mission, MissionPlanned
from shared.contracts.registration import (
    CompanyRegistered,
    CompanySignupSubmitted,
    ForeignApplicant,
    LombardApplicant,
    Signup,
)

Applicant = LombardApplicant | ForeignApplicant

SIGNUPS_OPEN = datetime(2020, 9, 1, 8, 0, tzinfo=UTC)
SIGNUPS_CLOSE = datetime(2020, 10, 2, 18, 0, tzinfo=UTC)
"""Signups arrive before the earliest deadline (India and Russia: 5 October)."""
REQUESTS_AT = datetime(2020, 10, 8, 9, 0, tzinfo=UTC)
RESPONSE_RATES = {"attendance": 0.6, "satisfaction": 0.45, "outcome": 0.35}
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


def demo_missions(max_meetings: int) -> list[Mission]:
    """The 2020 edition with a per-company meeting cap sized for a demo on a small machine."""
    return [m.model_copy(update={"max_meetings_per_company": max_meetings}) for m in MISSIONS_2020]


@dataclass(frozen=True)
class Company:
    handle: str
    """The population's own name for the company, until registration gives it an id."""
    applicant: Applicant

    @property
    def name(self) -> str:
        return self.applicant.company_name


@dataclass(frozen=True)
class BadSignup:
    """A signup made to fail: what it shows, and the reason codes registration should give."""

    label: str
    signup: CompanySignupSubmitted
    reasons: tuple[str, ...]
    company_registered: bool = False
    """A mission-level problem only: the company is registered, the enrollment is refused."""


@dataclass(frozen=True)
class Population:
    seed: int
    missions: list[Mission]
    lombard: list[Company]
    foreign: list[Company]
    bad: list[BadSignup]
    signups: list[CompanySignupSubmitted]
    """Every signup, good and bad, in publishing order."""
    requests: list[MeetingRequested]
    answers: list[MeetingRequestAnswered]
    enrollments: dict[str, int] = field(default_factory=dict)
    """Enrollments each mission should confirm, by mission id."""

    def mission_events(self) -> list[MissionPlanned]:
        return [
            MissionPlanned.new(
                source="demo-operator",
                subject=m.mission_id,
                payload=m,
                time=datetime(2020, 8, 31, 9, tzinfo=UTC),
                event_id=_id(self.seed, "mission", m.mission_id),
            )
            for m in self.missions
        ]

    def companies(self) -> dict[str, Company]:
        return {c.handle: c for c in (*self.lombard, *self.foreign)}

    def company_ids(self, registered: Iterable[CompanyRegistered]) -> dict[str, str]:
        """Handle to company id, as registration published them (a profile names its company)."""
        by_name = {(e.payload.role, e.payload.company_name): e.payload.company_id for e in registered}
        return {c.handle: by_name[(c.applicant.role, c.name)] for c in self.companies().values() if (c.applicant.role, c.name) in by_name}

    def meeting_forms(self, ids: Mapping[str, str]) -> list[MeetingRequested | MeetingRequestAnswered]:
        """The requests and answers, addressed with the companies' ids; a company without one is left out."""
        forms: list[MeetingRequested | MeetingRequestAnswered] = []
        for request, answer in zip(self.requests, self.answers, strict=True):
            asked = request.payload
            if asked.requester_id not in ids or asked.target_id not in ids:
                continue
            forms.append(
                request.model_copy(
                    update={
                        "payload": asked.model_copy(update={"requester_id": ids[asked.requester_id], "target_id": ids[asked.target_id]})
                    }
                )
            )
            forms.append(
                answer.model_copy(update={"payload": answer.payload.model_copy(update={"answered_by": ids[answer.payload.answered_by]})})
            )
        return forms


def _id(seed: int, *parts: Any) -> UUID:
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
class _Generator:
    seed: int
    missions: list[Mission]
    rng: random.Random
    fakers: dict[str, Faker]
    names_seen: set[str] = field(default_factory=set)
    vats_seen: set[str] = field(default_factory=set)
    counter: int = 0

    @classmethod
    def create(cls, seed: int, missions: list[Mission]) -> _Generator:
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
            source="demo-forms",
            subject=f"form-{self.counter:05d}",
            payload=Signup(applicant=applicant),
            time=at or self.signup_time(),
            event_id=_id(self.seed, "signup", self.counter),
        )


def generate(seed: int = 2020, lombard: int = 60, foreign: int = 75, max_meetings: int = 3) -> Population:
    """Companies spread over the eight sectors and the five markets, plus eight bad signups."""
    missions = demo_missions(max_meetings)
    gen = _Generator.create(seed, missions)
    rng = gen.rng
    sectors = list(SECTORS)
    lombard_companies: list[Company] = []
    enrollments: dict[str, int] = {m.mission_id: 0 for m in missions}
    for index in range(lombard):
        sector = sectors[index % len(sectors)]
        open_to = [m.mission_id for m in missions if sector in m.sectors]
        chosen = sorted(rng.sample(open_to, k=1 if rng.random() < 0.65 else 2), key=open_to.index)
        applicant = LombardApplicant.model_validate(gen.lombard(sector, chosen))
        lombard_companies.append(Company(f"demo-lombard-{index + 1:04d}", applicant))
        for mission_id in chosen:
            enrollments[mission_id] += 1
    foreign_companies: list[Company] = []
    for index in range(foreign):
        mission = missions[index % len(missions)]
        applicant = ForeignApplicant.model_validate(gen.foreign(mission))
        foreign_companies.append(Company(f"demo-foreign-{index + 1:04d}", applicant))
        enrollments[mission.mission_id] += 1

    good = [gen.signup(c.applicant) for c in (*lombard_companies, *foreign_companies)]
    bad = _bad_signups(gen)
    signups = good + [b.signup for b in bad]
    rng.shuffle(signups)
    requests, answers = _meeting_requests(seed, rng, missions, lombard_companies, foreign_companies)
    return Population(seed, missions, lombard_companies, foreign_companies, bad, signups, requests, answers, enrollments)


def _bad_signups(gen: _Generator) -> list[BadSignup]:
    """One signup per eligibility rule, each failing exactly that rule."""
    by_id = {m.mission_id: m for m in gen.missions}

    def lombard(sector: str, missions: list[str], **changes: Any) -> LombardApplicant:
        return LombardApplicant.model_validate({**gen.lombard(sector, missions), **changes})

    def foreign(mission_id: str, **changes: Any) -> ForeignApplicant:
        return ForeignApplicant.model_validate({**gen.foreign(by_id[mission_id]), **changes})

    good_vat = valid_partita_iva(gen.rng, "MI")
    wrong_digit = good_vat[:10] + str((int(good_vat[10]) + 3) % 10)
    turin = {"street": "Corso Francia 12", "city": "Torino", "province": "TO", "postal_code": "10138"}
    late = datetime(2020, 11, 20, 10, 0, tzinfo=UTC)
    cases = [
        BadSignup(
            "registered office in Turin, no site in Lombardy",
            gen.signup(lombard("meccanica_metallurgia", ["india-2020"], sede_legale=turin, sede_operativa=None)),
            ("site.not_in_lombardy",),
        ),
        BadSignup(
            "partita IVA with a wrong check digit",
            gen.signup(lombard("chimica", ["china-2020"], partita_iva=wrong_digit)),
            ("partita_iva.check_digit",),
        ),
        BadSignup(
            "partita IVA of 9 digits", gen.signup(lombard("edilizia", ["uk-2020"], partita_iva="123456789")), ("partita_iva.malformed",)
        ),
        BadSignup(
            "privacy consent not given", gen.signup(lombard("sistema_moda", ["russia-2020"], privacy_consent=False)), ("consent.missing",)
        ),
        BadSignup(
            "cosmetics firm for India, which has no cosmetics",
            gen.signup(lombard("cosmetica", ["india-2020"])),
            ("sector.not_accepted",),
            company_registered=True,
        ),
        BadSignup(
            "signup for China after its deadline (16 Nov)",
            gen.signup(lombard("prodotti_alimentari", ["china-2020"]), at=late),
            ("mission.closed",),
            company_registered=True,
        ),
        BadSignup(
            "British partner signing up for Canada",
            gen.signup(foreign("uk-2020", missions=["canada-2020"], sectors=["prodotti_alimentari"])),
            ("country.mismatch",),
            company_registered=True,
        ),
        BadSignup(
            "partner in a sector outside the programme", gen.signup(foreign("canada-2020", sectors=["automotive"])), ("sector.unknown",)
        ),
    ]
    return cases


def _meeting_requests(
    seed: int, rng: random.Random, missions: list[Mission], lombard: list[Company], foreign: list[Company]
) -> tuple[list[MeetingRequested], list[MeetingRequestAnswered]]:
    """About a third of the firms ask for a partner with a sector in common; most say yes."""
    requests: list[MeetingRequested] = []
    answers: list[MeetingRequestAnswered] = []
    for mission in missions:
        here_l = [c for c in lombard if mission.mission_id in c.applicant.missions]
        here_f = [c for c in foreign if mission.mission_id in c.applicant.missions]
        if not here_l or not here_f:
            continue
        asked: set[tuple[str, str]] = set()
        for requester in here_l + here_f:
            if rng.random() >= (0.35 if requester in here_l else 0.15):
                continue
            others = here_f if requester in here_l else here_l
            fitting = [o for o in others if set(_sectors(o)) & set(_sectors(requester))] or others
            target = rng.choice(fitting)
            pair = tuple(sorted((requester.handle, target.handle)))
            if pair in asked:
                continue
            asked.add(pair)
            request_id = f"req-{len(requests) + 1:04d}"
            at = REQUESTS_AT + timedelta(minutes=len(requests))
            payload = MeetingRequest(
                request_id=request_id,
                mission_id=mission.mission_id,
                requester_id=requester.handle,
                target_id=target.handle,
                note=f"{requester.name} would like to meet {target.name}.",
            )
            requests.append(
                MeetingRequested.new(
                    source="demo-forms", subject=mission.mission_id, payload=payload, time=at, event_id=_id(seed, "request", request_id)
                )
            )
            answer = MeetingRequestAnswer(
                request_id=request_id,
                mission_id=mission.mission_id,
                answered_by=target.handle,
                answer="accepted" if rng.random() < 0.8 else "declined",
            )
            answers.append(
                MeetingRequestAnswered.new(
                    source="demo-forms",
                    subject=mission.mission_id,
                    payload=answer,
                    time=at + timedelta(days=1),
                    event_id=_id(seed, "answer", request_id),
                )
            )
    return requests, answers


def _sectors(company: Company) -> list[str]:
    applicant = company.applicant
    return [applicant.sector] if isinstance(applicant, LombardApplicant) else list(applicant.sectors)


def followup_answers(seed: int, due: Iterable[FollowUpDue]) -> list[FollowUpAnswered]:
    """Each participant's answer to each follow-up it was sent, or silence.

    Drawn per (meeting, company, kind), so the answers do not depend on the order the
    follow-ups arrived in. Fewer answer each later survey, as with real ones; most attend,
    satisfaction leans high, as the programme reported; some meetings lead to contracts.
    """
    answers = []
    for event in sorted(due, key=lambda e: (e.payload.meeting_id, e.payload.kind)):
        followup = event.payload
        for company_id in followup.participants:
            rng = random.Random(f"{seed}:{followup.meeting_id}:{company_id}:{followup.kind}")
            if rng.random() >= RESPONSE_RATES[followup.kind]:
                continue
            fields: dict[str, Any]
            match followup.kind:
                case "attendance":
                    fields = {"attended": rng.random() < 0.93}
                case "satisfaction":
                    fields = {"satisfaction": rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 4, 14, 12])[0]}
                case _:
                    signed = rng.random() < 0.12
                    fields = {"contract_signed": signed, "under_negotiation": not signed and rng.random() < 0.3}
            payload = FollowUpAnswer(
                meeting_id=followup.meeting_id, mission_id=followup.mission_id, company_id=company_id, kind=followup.kind, **fields
            )
            answers.append(
                FollowUpAnswered.new(
                    source="demo-forms",
                    subject=followup.mission_id,
                    payload=payload,
                    time=followup.due_at + timedelta(days=2),
                    event_id=_id(seed, "followup", followup.meeting_id, company_id, followup.kind),
                )
            )
    return answers
