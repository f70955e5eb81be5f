"""Rupees ↔ paise at the boundaries: exact, half-up, and a clear ValueError (never a decimal
signal) for anything that is not an amount."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mandi.core.money import paise_to_rupees, rupees_to_paise


@pytest.mark.parametrize(("rupees", "paise"), [
    (812.35, 81235), ("0.005", 1), ("-0.005", -1), (Decimal("1371.20"), 137120), (7, 700),
])
def test_rupees_to_paise_is_exact_and_rounds_half_up(rupees, paise):
    assert rupees_to_paise(rupees) == paise


@pytest.mark.parametrize("bad", ["", "abc", "NaN", "Infinity", float("inf"), "1e200",
                                 1.3719716670592774e+137])
def test_what_is_not_an_amount_is_a_value_error(bad):
    # 1e200 rupees has more digits than the decimal context: it was a decimal.InvalidOperation
    # (a 500 on PATCH /api/v1/orders before the fuzz found it)
    with pytest.raises(ValueError, match="money amount"):
        rupees_to_paise(bad)


def test_paise_to_rupees_has_two_places():
    assert str(paise_to_rupees(137120)) == "1371.20"
