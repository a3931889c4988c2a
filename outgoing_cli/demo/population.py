"""The demo's population: Lombard firms, foreign partners, bad signups and meeting requests.

Pure and deterministic: the same seed and sizes give the same companies, texts and event
ids (Faker instances and ``random.Random`` are seeded; event ids are uuid5 of the seed),
so a demo can be replayed and a test can pin what it generated.

The demo plays the upstream forms, which know a company's id only once registration has
published it: requests are drawn between the population's own handles, and
``Population.meeting_forms`` addresses them with the ids read from ``company.registered.v1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from outgoing_cli.demo.firms import Company, FirmGenerator, event_id, valid_partita_iva
from outgoing_cli.demo.meetings import meeting_requests
from outgoing_cli.demo.vocabulary import (
    SECTORS,
)
from shared.contracts.edition_2020 import MISSIONS_2020
from shared.contracts.matching import (
    MeetingRequestAnswered,
    MeetingRequested,
)
from shared.contracts.missions import Mission, MissionPlanned
from shared.contracts.registration import (
    CompanyRegistered,
    CompanySignupSubmitted,
    ForeignApplicant,
    LombardApplicant,
)

Applicant = LombardApplicant | ForeignApplicant


ORIENTATION_REQUIRED = frozenset({"uk-2020"})
"""The mission whose Lombard firms must attend its orientation webinar before they are scheduled."""


def demo_missions(max_meetings: int) -> list[Mission]:
    """The 2020 edition with a per-company meeting cap sized for a demo on a small machine."""
    return [
        m.model_copy(update={"max_meetings_per_company": max_meetings, "orientation_required": m.mission_id in ORIENTATION_REQUIRED})
        for m in MISSIONS_2020
    ]


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
                source="/outgoing/demo/operator",
                subject=m.mission_id,
                data=m,
                time=datetime(2020, 8, 31, 9, tzinfo=UTC),
                event_id=event_id(self.seed, "mission", m.mission_id),
            )
            for m in self.missions
        ]

    def companies(self) -> dict[str, Company]:
        return {c.handle: c for c in (*self.lombard, *self.foreign)}

    def company_ids(self, registered: Iterable[CompanyRegistered]) -> dict[str, str]:
        """Handle to company id, as registration published them (a profile names its company)."""
        by_name = {(e.data.role, e.data.company_name): e.data.company_id for e in registered}
        return {c.handle: by_name[(c.applicant.role, c.name)] for c in self.companies().values() if (c.applicant.role, c.name) in by_name}

    def meeting_forms(self, ids: Mapping[str, str]) -> list[MeetingRequested | MeetingRequestAnswered]:
        """The requests and answers, addressed with the companies' ids; a company without one is left out."""
        forms: list[MeetingRequested | MeetingRequestAnswered] = []
        for request, answer in zip(self.requests, self.answers, strict=True):
            asked = request.data
            if asked.requester_id not in ids or asked.target_id not in ids:
                continue
            forms.append(
                request.model_copy(
                    update={"data": asked.model_copy(update={"requester_id": ids[asked.requester_id], "target_id": ids[asked.target_id]})}
                )
            )
            forms.append(answer.model_copy(update={"data": answer.data.model_copy(update={"answered_by": ids[answer.data.answered_by]})}))
        return forms


def generate(seed: int = 2020, lombard: int = 60, foreign: int = 75, max_meetings: int = 3) -> Population:
    """Companies spread over the eight sectors and the five markets, plus eight bad signups."""
    missions = demo_missions(max_meetings)
    gen = FirmGenerator.create(seed, missions)
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
    requests, answers = meeting_requests(seed, rng, missions, lombard_companies, foreign_companies)
    return Population(seed, missions, lombard_companies, foreign_companies, bad, signups, requests, answers, enrollments)


def _bad_signups(gen: FirmGenerator) -> list[BadSignup]:
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
