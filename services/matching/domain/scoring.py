"""Who should meet whom, and why: an explainable score for every Lombard-foreign pair.

The score adds up independent, nameable signals so that every proposal can say in words
why it was made. Text fit uses TF-IDF over character n-grams (scikit-learn, nothing
downloaded): it tolerates plurals and small spelling differences ("lathe"/"lathes").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from shared.contracts.registration import CompanyProfile

Pair = tuple[str, str]
"""(Lombard company id, foreign partner id): the only kind of pair a mission makes."""

SECTOR_WEIGHT = 0.35
HS_WEIGHT = 0.25
HS_SATURATION = 3
TEXT_WEIGHT = 0.25
LANGUAGE_WEIGHT = 0.15
ONE_SIDED_REQUEST_BONUS = 0.3
MUTUAL_REQUEST_BONUS = 0.6
MIN_SCORE = 0.2
"""Below this a pair has too little in common to be proposed unless someone asked for it."""

LANGUAGE_NAMES = {
    "it": "Italian",
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "pt": "Portuguese",
    "ru": "Russian",
    "zh": "Chinese",
    "hi": "Hindi",
    "ar": "Arabic",
    "ja": "Japanese",
}


@dataclass(frozen=True)
class PairRules:
    """What operators and participants said about pairs, beyond their profiles."""

    requests: frozenset[tuple[str, str]] = frozenset()
    """(requester, target) for every request not declined."""
    declined: frozenset[Pair] = frozenset()
    forbidden: frozenset[Pair] = frozenset()
    forced: frozenset[Pair] = frozenset()
    met_before: frozenset[Pair] = frozenset()
    on_agenda: frozenset[Pair] = frozenset()
    """Pairs already meeting: kept even if their profiles no longer score high enough."""

    def excluded(self, pair: Pair) -> bool:
        """Declined, forbidden or already-met pairs are never proposed again; forcing overrides only history."""
        if pair in self.declined or pair in self.forbidden:
            return True
        return pair in self.met_before and pair not in self.forced

    def requested(self, pair: Pair) -> str:
        lombard, foreign = pair
        by_lombard = (lombard, foreign) in self.requests
        by_foreign = (foreign, lombard) in self.requests
        if by_lombard and by_foreign:
            return "mutual"
        if by_lombard:
            return "by_lombard"
        if by_foreign:
            return "by_foreign"
        return "none"


@dataclass(frozen=True)
class ScoredPair:
    lombard_id: str
    foreign_id: str
    score: float
    reasons: tuple[str, ...]
    requested: str = "none"
    forced: bool = False

    @property
    def pair(self) -> Pair:
        return (self.lombard_id, self.foreign_id)


@dataclass
class _TextFit:
    """Cosine similarity between one side's offer and the other's needs, over the mission's texts."""

    lombards: list[CompanyProfile]
    foreigns: list[CompanyProfile]
    lombard_offer_fit: list[list[float]] = field(init=False)
    foreign_offer_fit: list[list[float]] = field(init=False)

    def __post_init__(self) -> None:
        offers_l = [_offer_text(c) for c in self.lombards]
        seeks_l = [c.seeking for c in self.lombards]
        offers_f = [c.offer for c in self.foreigns]
        seeks_f = [_seeking_text(c) for c in self.foreigns]
        corpus = [t for t in offers_l + seeks_l + offers_f + seeks_f if t.strip()]
        if not corpus:
            zeros = [[0.0] * len(self.foreigns) for _ in self.lombards]
            self.lombard_offer_fit = self.foreign_offer_fit = zeros
            return
        vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True)
        vectoriser.fit(corpus)
        self.lombard_offer_fit = cosine_similarity(vectoriser.transform(offers_l), vectoriser.transform(seeks_f)).tolist()
        self.foreign_offer_fit = cosine_similarity(vectoriser.transform(seeks_l), vectoriser.transform(offers_f)).tolist()


def _offer_text(company: CompanyProfile) -> str:
    return " ".join([company.offer, *(p.name for p in company.products)])


def _seeking_text(company: CompanyProfile) -> str:
    """A foreign partner's products are the ones it looks for."""
    return " ".join([company.seeking, *(p.name for p in company.products)])


def _hs_codes(company: CompanyProfile) -> set[str]:
    """Compared at the 6-digit subheading, or the heading when that is all that was given."""
    return {p.hs_code[:6] for p in company.products if p.hs_code}


def _hs_in_common(a: set[str], b: set[str]) -> int:
    return sum(1 for code in a if any(code.startswith(other) or other.startswith(code) for other in b))


def _language_list(codes: Iterable[str]) -> str:
    names = [LANGUAGE_NAMES.get(code, code) for code in sorted(codes, key=lambda c: (c != "en", c))]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def score_pairs(lombards: Iterable[CompanyProfile], foreigns: Iterable[CompanyProfile], rules: PairRules = PairRules()) -> list[ScoredPair]:
    """Every admissible Lombard-foreign pair with its score and reasons, best first."""
    lombard_list = sorted(lombards, key=lambda c: c.company_id)
    foreign_list = sorted(foreigns, key=lambda c: c.company_id)
    if not lombard_list or not foreign_list:
        return []
    fit = _TextFit(lombard_list, foreign_list)
    scored = []
    for i, lombard in enumerate(lombard_list):
        lombard_hs = _hs_codes(lombard)
        for j, foreign in enumerate(foreign_list):
            pair = (lombard.company_id, foreign.company_id)
            if rules.excluded(pair):
                continue
            score, reasons = 0.0, []
            sectors = sorted(set(lombard.sectors) & set(foreign.sectors))
            if sectors:
                score += SECTOR_WEIGHT
                reasons.append(f"same sector: {', '.join(sectors)}")
            common_hs = _hs_in_common(lombard_hs, _hs_codes(foreign))
            if common_hs:
                score += HS_WEIGHT * min(1.0, common_hs / HS_SATURATION)
                reasons.append(f"{common_hs} HS code{'s' if common_hs > 1 else ''} in common")
            offer_fit, need_fit = fit.lombard_offer_fit[i][j], fit.foreign_offer_fit[i][j]
            score += TEXT_WEIGHT * (offer_fit + need_fit) / 2
            if offer_fit >= 0.2:
                reasons.append(f"what {lombard.company_name} offers fits what {foreign.company_name} looks for ({offer_fit:.2f})")
            if need_fit >= 0.2:
                reasons.append(f"what {foreign.company_name} offers fits what {lombard.company_name} looks for ({need_fit:.2f})")
            languages = set(lombard.languages) & set(foreign.languages)
            if languages:
                score += LANGUAGE_WEIGHT
                reasons.append(f"both speak {_language_list(languages)}")
            requested = rules.requested(pair)
            if requested == "mutual":
                score += MUTUAL_REQUEST_BONUS
                reasons.append("both asked to meet")
            elif requested == "by_lombard":
                score += ONE_SIDED_REQUEST_BONUS
                reasons.append(f"requested by {lombard.company_name}")
            elif requested == "by_foreign":
                score += ONE_SIDED_REQUEST_BONUS
                reasons.append(f"requested by {foreign.company_name}")
            forced = pair in rules.forced
            if forced:
                reasons.append("set by the mission's operators")
            if score < MIN_SCORE and requested == "none" and not forced and pair not in rules.on_agenda:
                continue
            scored.append(ScoredPair(pair[0], pair[1], round(score, 4), tuple(reasons), requested, forced))
    scored.sort(key=lambda s: (-s.score, s.lombard_id, s.foreign_id))
    return scored


def proposals_by_company(scored: Iterable[ScoredPair], limit: int) -> Mapping[str, list[ScoredPair]]:
    """Each company's best ``limit`` partners, from both sides of every pair."""
    by_company: dict[str, list[ScoredPair]] = {}
    for item in scored:
        for company in item.pair:
            bucket = by_company.setdefault(company, [])
            if len(bucket) < limit:
                bucket.append(item)
    return by_company
