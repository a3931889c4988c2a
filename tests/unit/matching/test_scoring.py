"""Scoring: explainable, and never proposing a pair it must not."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.matching.domain.scoring import PairRules, proposals_by_company, score_pairs
from shared.contracts.registration import CompanyProfile


def profile(company_id: str, role: str, **overrides: Any) -> CompanyProfile:
    data: dict[str, Any] = {
        "company_id": company_id,
        "role": role,
        "company_name": f"Company {company_id}",
        "country": "IT" if role == "lombard" else "IN",
        "timezone": "Europe/Rome" if role == "lombard" else "Asia/Kolkata",
        "sectors": ["cosmetica"],
        "languages": ["en"],
        "preferred_language": "it" if role == "lombard" else "en",
    }
    data.update(overrides)
    return CompanyProfile.model_validate(data)


LOMBARD = profile(
    "lombard-0001",
    "lombard",
    company_name="Bellezza Srl",
    languages=["it", "en"],
    products=[
        {"name": "face creams", "hs_code": "330499"},
        {"name": "shampoo", "hs_code": "330510"},
        {"name": "lipstick", "hs_code": "330410"},
    ],
    offer="organic face creams, shampoo and lipstick made in Italy",
    seeking="importers of cosmetics",
)
FOREIGN = profile(
    "foreign-0001",
    "foreign",
    company_name="Mumbai Beauty Imports",
    languages=["en", "hi"],
    products=[{"name": "creams", "hs_code": "330499"}, {"name": "shampoo", "hs_code": "330510"}, {"name": "lipstick", "hs_code": "3304"}],
    offer="importers of cosmetics with pharmacy distribution",
    seeking="organic face creams and shampoo from Italy",
)
UNRELATED = profile(
    "foreign-0002",
    "foreign",
    company_name="Delhi Steel",
    sectors=["meccanica_metallurgia"],
    languages=["hi"],
    offer="steel pipes",
    seeking="welding machines",
)


def test_a_good_pair_is_explained_in_words() -> None:
    [best, *_] = score_pairs([LOMBARD], [FOREIGN, UNRELATED])
    assert best.pair == ("lombard-0001", "foreign-0001")
    assert "same sector: cosmetica" in best.reasons
    assert "3 HS codes in common" in best.reasons
    assert "both speak English" in best.reasons
    assert any("Bellezza Srl offers fits what Mumbai Beauty Imports looks for" in r for r in best.reasons)


def test_a_pair_with_nothing_in_common_is_not_proposed() -> None:
    assert [s.pair for s in score_pairs([LOMBARD], [UNRELATED])] == []


def test_a_request_lifts_a_weak_pair_and_says_so() -> None:
    rules = PairRules(requests=frozenset({("foreign-0002", "lombard-0001")}))
    [item] = score_pairs([LOMBARD], [UNRELATED], rules)
    assert item.requested == "by_foreign" and "requested by Delhi Steel" in item.reasons


def test_a_mutual_request_scores_above_a_one_sided_one() -> None:
    one_sided = score_pairs([LOMBARD], [FOREIGN], PairRules(requests=frozenset({("lombard-0001", "foreign-0001")})))[0]
    mutual = score_pairs(
        [LOMBARD], [FOREIGN], PairRules(requests=frozenset({("lombard-0001", "foreign-0001"), ("foreign-0001", "lombard-0001")}))
    )[0]
    assert mutual.score > one_sided.score and "both asked to meet" in mutual.reasons


def test_declined_forbidden_and_already_met_pairs_are_never_proposed() -> None:
    pair = ("lombard-0001", "foreign-0001")
    for rules in (PairRules(declined=frozenset({pair})), PairRules(forbidden=frozenset({pair})), PairRules(met_before=frozenset({pair}))):
        assert score_pairs([LOMBARD], [FOREIGN], rules) == []


def test_forcing_a_pair_overrides_history_but_not_a_decline() -> None:
    pair = ("lombard-0001", "foreign-0001")
    [forced] = score_pairs([LOMBARD], [FOREIGN], PairRules(met_before=frozenset({pair}), forced=frozenset({pair})))
    assert forced.forced and "set by the mission's operators" in forced.reasons
    assert score_pairs([LOMBARD], [FOREIGN], PairRules(declined=frozenset({pair}), forced=frozenset({pair}))) == []


SECTORS = ["cosmetica", "chimica", "edilizia", "sistema_moda"]
WORDS = ["creams", "steel", "fabric", "tiles", "resin", "pipes", "shoes", "soap"]


@st.composite
def companies(draw: st.DrawFn, role: str, count: int) -> list[CompanyProfile]:
    return [
        profile(
            f"{role}-{i:04d}",
            role,
            sectors=draw(st.lists(st.sampled_from(SECTORS), min_size=1, max_size=2, unique=True)),
            languages=draw(st.lists(st.sampled_from(["en", "it", "ru", "zh"]), min_size=1, max_size=2, unique=True)),
            offer=" ".join(draw(st.lists(st.sampled_from(WORDS), max_size=4))),
            seeking=" ".join(draw(st.lists(st.sampled_from(WORDS), max_size=4))),
        )
        for i in range(count)
    ]


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_proposal_is_a_lombard_foreign_pair_with_reasons_and_respects_the_rules(data: st.DataObject) -> None:
    lombards = data.draw(companies("lombard", data.draw(st.integers(1, 5))))
    foreigns = data.draw(companies("foreign", data.draw(st.integers(1, 5))))
    all_pairs = [(lc.company_id, fc.company_id) for lc in lombards for fc in foreigns]
    declined = frozenset(data.draw(st.lists(st.sampled_from(all_pairs), max_size=3)))
    forbidden = frozenset(data.draw(st.lists(st.sampled_from(all_pairs), max_size=3)))
    scored = score_pairs(lombards, foreigns, PairRules(declined=declined, forbidden=forbidden))
    lombard_ids = {c.company_id for c in lombards}
    for item in scored:
        assert item.lombard_id in lombard_ids and item.foreign_id not in lombard_ids
        assert item.pair not in declined and item.pair not in forbidden
        assert item.reasons, "a proposal without a reason cannot be explained"
    assert [s.score for s in scored] == sorted((s.score for s in scored), reverse=True)
    limit = data.draw(st.integers(1, 3))
    for company, items in proposals_by_company(scored, limit).items():
        assert 1 <= len(items) <= limit and all(company in item.pair for item in items)


def test_a_meeting_already_on_the_agenda_stays_proposed_when_its_score_drops() -> None:
    pair = ("lombard-0001", "foreign-0002")
    assert score_pairs([LOMBARD], [UNRELATED]) == []
    [kept] = score_pairs([LOMBARD], [UNRELATED], PairRules(on_agenda=frozenset({pair})))
    assert kept.pair == pair
