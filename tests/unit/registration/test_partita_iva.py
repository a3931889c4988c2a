from hypothesis import given
from hypothesis import strategies as st

from services.registration.domain import partita_iva

ten_digits = st.text(alphabet="0123456789", min_size=10, max_size=10).filter(lambda s: s != "0" * 10)


def test_known_valid_numbers() -> None:
    # Published VAT numbers of well-known Italian companies.
    for number in ["00488410010", "00905811006", "02438750586"]:
        assert partita_iva.is_valid(number), number


@given(ten_digits)
def test_exactly_one_check_digit_is_valid(first_ten: str) -> None:
    valid = [d for d in "0123456789" if partita_iva.is_valid(first_ten + d)]
    assert valid == [str(partita_iva.check_digit(first_ten))]


@given(ten_digits, st.integers(0, 9), st.integers(1, 9))
def test_any_single_digit_typo_is_caught(first_ten: str, position: int, delta: int) -> None:
    number = first_ten + str(partita_iva.check_digit(first_ten))
    typo = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    assert not partita_iva.is_valid(typo)


def test_normalise_accepts_the_it_prefix_and_spaces() -> None:
    assert partita_iva.normalise("IT 004884 10010") == "00488410010"


def test_malformed_numbers() -> None:
    assert not partita_iva.is_well_formed("1234567890")
    assert not partita_iva.is_well_formed("1234567890a")
    assert not partita_iva.is_valid("00000000000")
