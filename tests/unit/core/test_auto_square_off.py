"""Zerodha's charge for an order its RMS places to square off MIS at the cut-off."""

from __future__ import annotations

from datetime import date

import pytest

from mandi.core.charges import auto_square_off_charges
from mandi.core.errors import InvalidInput


def test_auto_square_off_charges_is_50_rupees_plus_18_pct_gst_per_order() -> None:
    # ₹50 = 5,000 paise; GST 18 % of it = 900 paise; 5,900 paise per order
    assert auto_square_off_charges(1) == 5900
    assert auto_square_off_charges(3, on_date=date(2026, 3, 10)) == 3 * 5900 == 17700
    assert auto_square_off_charges(0) == 0


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_auto_square_off_charges_when_count_invalid_names_the_field(bad: object) -> None:
    with pytest.raises(InvalidInput) as err:
        auto_square_off_charges(bad)  # type: ignore[arg-type]
    assert err.value.field == "orders"
