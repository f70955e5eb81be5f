"""Charges: Zerodha's calculator figures, per-fill rounding, the dated table, and the int path."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from mandi.core.charges import (
    REVISIONS,
    ChargeBreakdown,
    Segment,
    _pct,
    charges,
    revision_on,
    round_trip_charges,
)
from mandi.core.charges_int import fill_charges_int, rate_vector
from mandi.core.errors import InvalidInput

TABLE_DATE = date(2025, 1, 15)  # inside the 2024-10-01 revision


def rupees(cb: ChargeBreakdown) -> dict[str, str]:
    return {k: str(v) for k, v in cb.as_rupees().items()}


# Zerodha brokerage calculator (zerodha.com/brokerage-calculator), rates of the 2024-10-01
# revision with NSE's IPFT levy folded into the transaction charges (0.00307 / 0.00183 / 0.03553 %,
# as Zerodha's page shows them), worked by hand with the calculator's published method (STT to the
# rupee, the rest to the paisa, GST on brokerage + exchange charges + SEBI fee). No DP charge:
# the calculator prices one same-quantity round trip.
CALCULATOR_CASES = [
    # equity intraday, buy ₹1000 sell ₹1100 × 400: turnover 4,00,000 + 4,40,000 = 8,40,000;
    # brokerage 120 → 20 and 132 → 20; STT 0.025 % × 4,40,000 = 110; txn 0.00307 % × 8,40,000 =
    # 25.788 → 25.79; SEBI 0.84; stamp 0.003 % × 4,00,000 = 12; GST 18 % × 66.63 = 11.9934
    ("equity_intraday", 400, 100000, 110000,
     {"brokerage": "40.00", "stt": "110.00", "exchange_txn": "25.79", "sebi": "0.84",
      "stamp": "12.00", "gst": "11.99", "dp": "0.00", "total": "200.62"}),
    # equity delivery, same prices: STT 0.1 % × 8,40,000 = 840, stamp 0.015 % × 4,00,000 = 60,
    # GST 18 % × (25.79 + 0.84) = 4.7934 → 4.79
    ("equity_delivery", 400, 100000, 110000,
     {"brokerage": "0.00", "stt": "840.00", "exchange_txn": "25.79", "sebi": "0.84",
      "stamp": "60.00", "gst": "4.79", "dp": "0.00", "total": "931.42"}),
    # NIFTY futures, 1 lot of 75, buy 24000 sell 24100: STT 0.02 % × 18,07,500 = 361.50 → 362;
    # txn 0.00183 % × 36,07,500 = 66.01725 → 66.02; SEBI 3.6075 → 3.61; stamp 0.002 % × 18 lakh
    # = 36; GST 18 % × (40 + 66.02 + 3.61) = 19.7334 → 19.73
    ("futures", 75, 2400000, 2410000,
     {"brokerage": "40.00", "stt": "362.00", "exchange_txn": "66.02", "sebi": "3.61",
      "stamp": "36.00", "gst": "19.73", "dp": "0.00", "total": "527.36"}),
    # NIFTY options, 1 lot, premium 100 → 110: flat ₹20 per order, STT 0.1 % × 8,250 = 8.25 → 8;
    # txn 0.03553 % × 15,750 = 5.595975 → 5.60 (5.52 without IPFT); SEBI 0.01575 → 0.02;
    # stamp 0.003 % × 7,500 = 0.225 → 0.23; GST 18 % × 45.62 = 8.2116 → 8.21
    ("options", 75, 10000, 11000,
     {"brokerage": "40.00", "stt": "8.00", "exchange_txn": "5.60", "sebi": "0.02",
      "stamp": "0.23", "gst": "8.21", "dp": "0.00", "total": "62.06"}),
    # small intraday trade: brokerage is 0.03 % (₹3.00 and ₹3.03), not the ₹20 cap; STT 2.525 → 3;
    # txn 0.00307 % × 20,100 = 0.61707 → 0.62; GST 18 % × (6.03 + 0.62 + 0.02) = 1.2006 → 1.20
    ("equity_intraday", 10, 100000, 101000,
     {"brokerage": "6.03", "stt": "3.00", "exchange_txn": "0.62", "sebi": "0.02",
      "stamp": "0.30", "gst": "1.20", "dp": "0.00", "total": "11.17"}),
]


@pytest.mark.parametrize(("segment", "qty", "buy", "sell", "expected"), CALCULATOR_CASES)
def test_round_trip_when_sample_trade_equals_zerodha_calculator(segment, qty, buy, sell, expected):
    assert rupees(round_trip_charges(segment, qty, buy, sell, TABLE_DATE)) == expected


def test_round_trip_when_after_budget_2026_uses_higher_futures_stt():
    before = round_trip_charges("futures", 75, 2400000, 2410000, date(2026, 3, 31))
    after = round_trip_charges("futures", 75, 2400000, 2410000, date(2026, 4, 1))
    assert before.stt == 36200
    assert after.stt == 90400  # 0.05 % of 18,07,500 = 903.75 → ₹904


def test_charges_when_single_intraday_sell_rounds_each_component_to_paisa():
    cb = charges(Segment.EQUITY_INTRADAY, "SELL", 400, 110000, TABLE_DATE)
    # turnover 4,40,000: brokerage 132 → cap 20; STT 110; txn 0.00307 % = 13.508 → 13.51;
    # SEBI 0.44; GST 18 % × 33.95 = 6.111 → 6.11; no stamp on a sell
    assert cb == ChargeBreakdown(2000, 11000, 1351, 44, 0, 611)
    assert cb.total == 2000 + 11000 + 1351 + 44 + 611


def test_charges_when_delivery_buy_pays_stt_and_stamp():
    cb = charges("equity_delivery", "BUY", 7, 123455, TABLE_DATE)
    # turnover 8,641.85: STT 8.64185 → 8.64; txn 0.00307 % = 0.2653... → 0.27; SEBI 0.0086 →
    # 0.01; stamp 1.2962775 → 1.30; GST 18 % × 0.28 = 0.0504 → 0.05
    assert cb == ChargeBreakdown(0, 864, 27, 1, 130, 5)


def test_charges_when_option_order_pays_flat_brokerage():
    assert charges("options", "BUY", 75, 500, TABLE_DATE).brokerage == 2000


def test_revision_on_when_date_precedes_table_raises_naming_on_date():
    with pytest.raises(InvalidInput) as e:
        revision_on(date(2020, 1, 1))
    assert e.value.field == "on_date"
    assert revision_on(date(2024, 10, 1)).effective == date(2024, 10, 1)


def test_revision_on_when_between_revisions_picks_the_one_in_force():
    assert revision_on(date(2020, 7, 1)) is REVISIONS[0]
    assert revision_on(date(2024, 1, 15)).effective == date(2023, 4, 1)
    assert revision_on(date(2024, 9, 30)).effective == date(2023, 4, 1)
    # Finance Act 2023 STT on futures 0.0125 % (sell): 1 lot of 50 at ₹20,000 → ₹125
    assert charges("futures", "SELL", 50, 2_000_000, date(2024, 1, 15)).stt == 12_500


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"segment": "crypto"}, "segment"),
    ({"side": "HOLD"}, "side"),
    ({"qty": 0}, "qty"),
    ({"price_paise": 10.5}, "price_paise"),
    ({"exchange": "MCX"}, "exchange"),
])
def test_charges_when_input_invalid_names_the_field(kwargs, field):
    args = {"segment": "equity_intraday", "side": "BUY", "qty": 1, "price_paise": 100,
            "on_date": TABLE_DATE} | kwargs
    with pytest.raises(InvalidInput) as e:
        charges(**args)
    assert e.value.field == field


@settings(max_examples=300, deadline=None)
@given(seg=hs.sampled_from(list(Segment)), buy=hs.booleans(), qty=hs.integers(1, 200_000),
       price=hs.integers(5, 5_000_000), rev=hs.sampled_from(REVISIONS),
       exchange=hs.sampled_from(["NSE", "BSE"]))
def test_fill_charges_int_when_any_fill_equals_decimal_charges(seg, buy, qty, price, rev,
                                                               exchange):
    d = rev.effective
    expected = charges(seg, "BUY" if buy else "SELL", qty, price, d, exchange).total
    got = fill_charges_int(rate_vector(seg, d, exchange), buy, np.int64(qty), np.int64(price))
    assert got == expected


def test_as_rupees_when_converted_is_exact_decimal():
    assert ChargeBreakdown(stt=12345).as_rupees()["total"] == Decimal("123.45")


_EVERY_RATE = sorted({pct for rev in REVISIONS for r in rev.rates.values()
                      for pct in (r.brokerage_pct, r.stt_buy_pct, r.stt_sell_pct, r.sebi_pct,
                                  r.stamp_buy_pct, r.gst_pct, *r.txn_pct.values())})


def _decimal_half_up(amount: int, pct: Decimal, unit: int) -> int:
    exact = Decimal(amount) * pct / 100 / unit
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)) * unit


@settings(max_examples=3000, deadline=None)
@given(amount=hs.integers(-10**9, 10**15), pct=hs.sampled_from(_EVERY_RATE),
       unit=hs.sampled_from([1, 100]))
def test_integer_rounding_when_compared_with_decimal_half_up_agrees(amount: int, pct: Decimal,
                                                                     unit: int) -> None:
    assert _pct(amount, pct, unit) == _decimal_half_up(amount, pct, unit)


@pytest.mark.parametrize("pct", _EVERY_RATE)
def test_integer_rounding_at_exact_halves_rounds_away_from_zero(pct: Decimal) -> None:
    num, den = (pct / 100).as_integer_ratio()
    halves = [((2 * k + 1) * den) // (2 * num) for k in range(1, 400)] if num else [0]
    for a in halves:
        for amount in (a - 1, a, a + 1, -a):
            assert _pct(amount, pct) == _decimal_half_up(amount, pct, 1), amount
