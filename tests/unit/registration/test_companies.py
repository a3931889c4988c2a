"""How foreign partners are recognised by name and country."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.registration.domain.companies import company_id_for, normalise_name


def test_case_accents_and_punctuation_do_not_make_another_company() -> None:
    assert normalise_name("Société Générale, S.p.A.") == normalise_name("SOCIETE  GENERALE S.P.A.") == "societe generale s p a"


def test_names_in_other_scripts_stay_distinct() -> None:
    names = ["Ромашка", "Северсталь", "华为技术", "海尔集团"]
    assert len({company_id_for(f"ru:{normalise_name(n)}") for n in names}) == len(names)
    assert all(normalise_name(n) for n in names)


@given(st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=30))
def test_normalising_is_stable_and_keeps_something_of_every_real_name(name: str) -> None:
    once = normalise_name(name)
    assert normalise_name(once) == once == normalise_name(f"  {name}, ")
    assert once != "" or not any(ch.isalnum() for ch in name)
