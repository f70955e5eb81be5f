"""kitesim's admission rules at their boundaries (pure functions of the IST time), the GTT
distance, and the price-band classes that the seeded universe does not exercise."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from fractions import Fraction

import pytest

from mandi.core.clock import IST
from services.kitesim import rules
from services.kitesim.envelope import InputException
from services.kitesim.gtt import min_trigger_gap
from services.kitesim.market import Market

THU, FRI, SAT = date(2025, 11, 20), date(2025, 11, 21), date(2025, 11, 22)


def _t(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=IST)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(1, THU, strikes_each_side=2, weeklies=1)


@pytest.fixture(scope="module")
def eq(market):
    return market.universe.get("NSE", "INFY")


@pytest.fixture(scope="module")
def fut(market):
    return next(i for i in market.universe.instruments if i.name == "NIFTY" and i.kind == "FUT")


@pytest.mark.parametrize(("when", "ok"), [
    (_t(THU, 15, 59, 59), False), (_t(THU, 16, 0), True), (_t(FRI, 0, 59, 59), True),
    (_t(FRI, 1, 0), False), (_t(FRI, 5, 29, 59), False), (_t(FRI, 5, 30), True),
    (_t(FRI, 8, 57, 59), True), (_t(FRI, 8, 58), False), (_t(SAT, 12, 0), True),
    (_t(SAT, 3, 0), False)])
def test_equity_amo_window_is_1600_to_0858_never_0100_to_0530(eq, when, ok):
    if ok:
        rules.admit_amo(eq, when)
    else:
        with pytest.raises(InputException):
            rules.admit_amo(eq, when)


@pytest.mark.parametrize(("when", "ok"), [
    (_t(THU, 15, 44, 59), False), (_t(THU, 15, 45), True), (_t(FRI, 9, 9, 59), True),
    (_t(FRI, 9, 10), False)])
def test_fno_amo_window_is_1545_to_0910(fut, when, ok):
    if ok:
        rules.admit_amo(fut, when)
    else:
        with pytest.raises(InputException):
            rules.admit_amo(fut, when)


def test_amo_release_is_0900_for_equity_market_or_limit_else_0915(eq, fut):
    # placed Thursday evening → Friday; placed Saturday → Monday 24 Nov
    assert rules.amo_release(eq, "LIMIT", _t(THU, 18, 0)) == _t(FRI, 9, 0)
    assert rules.amo_release(eq, "SL", _t(THU, 18, 0)) == _t(FRI, 9, 15)
    assert rules.amo_release(fut, "LIMIT", _t(FRI, 9, 5)) == _t(FRI, 9, 15)
    assert rules.amo_release(eq, "MARKET", _t(SAT, 10, 0)) == _t(date(2025, 11, 24), 9, 0)


@pytest.mark.parametrize(("when", "ok"), [
    (_t(FRI, 8, 59, 59), False), (_t(FRI, 9, 0), True), (_t(FRI, 9, 7, 59), True),
    (_t(FRI, 9, 8), False), (_t(FRI, 9, 15), True), (_t(FRI, 15, 29, 59), True),
    (_t(FRI, 15, 30), False), (_t(SAT, 10, 0), False)])
def test_regular_equity_orders_in_the_pre_open_and_the_session(eq, when, ok):
    if ok:
        rules.admit_regular(eq, "DAY", when)
    else:
        with pytest.raises(InputException, match="Markets are closed"):
            rules.admit_regular(eq, "DAY", when)


def test_mis_cut_off_lets_only_exits_through(eq, fut):
    rules.admit_mis(eq, "BUY", 5, 0, _t(FRI, 15, 19, 59))
    with pytest.raises(InputException, match="15:20"):
        rules.admit_mis(eq, "BUY", 5, 0, _t(FRI, 15, 20))
    rules.admit_mis(eq, "SELL", 5, 5, _t(FRI, 15, 20))  # closes a long of 5
    rules.admit_mis(eq, "BUY", 2, -5, _t(FRI, 15, 20))  # reduces a short of 5
    with pytest.raises(InputException):
        rules.admit_mis(eq, "BUY", 6, 5, _t(FRI, 15, 20))  # adds to a long
    rules.admit_mis(fut, "BUY", 65, 0, _t(FRI, 15, 24, 59))
    with pytest.raises(InputException, match="15:25"):
        rules.admit_mis(fut, "BUY", 65, 0, _t(FRI, 15, 25))


@pytest.mark.parametrize(("raw", "value"), [(None, 0.0), ("", 0.0), ("-1", -1.0), ("1", 1.0),
                                            ("2.5", 2.5), ("100", 100.0)])
def test_market_protection_accepts_auto_none_and_1_to_100(raw, value):
    assert rules.parse_market_protection(raw) == value


@pytest.mark.parametrize("raw", ["0.5", "100.01", "-2", "abc"])
def test_market_protection_outside_kites_values_is_refused(raw):
    with pytest.raises(InputException, match="market_protection"):
        rules.parse_market_protection(raw)


def test_gtt_distance_is_a_quarter_percent_or_nine_paise_below_50_rupees():
    assert min_trigger_gap(150000) == 375  # 0.25 % of ₹1500.00 = ₹3.75
    assert min_trigger_gap(100001) == 251  # 250.0025 paise, rounded up
    assert min_trigger_gap(4999) == 9  # below ₹50: 9 paise
    assert min_trigger_gap(5000) == 13  # ₹50: 12.5 paise, rounded up


@pytest.mark.parametrize(("pct", "lo", "hi"), [(2, Fraction(98, 100), Fraction(102, 100)),
                                               (5, Fraction(95, 100), Fraction(105, 100)),
                                               (20, Fraction(80, 100), Fraction(120, 100))])
def test_circuit_band_classes(market, eq, pct, lo, hi):
    inst = replace(eq, band_pct=pct)
    epoch = _t(THU, 10, 0).timestamp()
    close = market.model.prev_close(inst, THU)  # paise, ends in 0 or 5 (0.05 tick)
    got = market.circuit(inst, epoch)
    # close × (1 ∓ pct %), the lower floored and the upper ceiled to the 0.05 tick (5 paise)
    assert got[0] % 5 == 0 and got[1] % 5 == 0
    assert got[0] <= close * lo < got[0] + 5 and got[1] - 5 < close * hi <= got[1]


def test_in_session_follows_the_calendars_special_sessions() -> None:
    muhurat = datetime(2024, 11, 1, tzinfo=IST)  # Diwali: closed but for 18:00-19:00
    assert rules.in_session(muhurat.replace(hour=18, minute=30))
    assert not rules.in_session(muhurat.replace(hour=11))
    dr = datetime(2024, 3, 2, tzinfo=IST)  # Saturday DR session: 09:15-10:00 and 11:30-12:30
    assert rules.in_session(dr.replace(hour=9, minute=30))
    assert not rules.in_session(dr.replace(hour=11))
