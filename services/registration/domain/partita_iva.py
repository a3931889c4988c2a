"""The Italian VAT number (partita IVA): 11 digits, the last a Luhn-style check digit."""

from __future__ import annotations


def normalise(raw: str) -> str:
    """Strip spaces and an optional IT prefix, as people type it."""
    value = raw.replace(" ", "").upper()
    return value.removeprefix("IT")


def check_digit(first_ten: str) -> int:
    """Digits in odd positions count as they are; those in even positions are doubled, minus 9 above 9."""
    total = 0
    for index, char in enumerate(first_ten):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def is_well_formed(value: str) -> bool:
    return len(value) == 11 and value.isascii() and value.isdigit()


def is_valid(value: str) -> bool:
    return is_well_formed(value) and value != "0" * 11 and check_digit(value[:10]) == int(value[10])
