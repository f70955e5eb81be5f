"""Matching against bars and quotes, slippage, protective exits and the trailing stop."""

from itertools import pairwise

import pytest
from hypothesis import example, given
from hypothesis import strategies as hs

from mandi.core.charges import Side
from mandi.core.errors import InvalidInput
from mandi.core.fills import (
    BarPrices,
    FillDecision,
    Order,
    OrderType,
    Quote,
    Slippage,
    exit_on_bar,
    match_bar,
    match_quote,
    pct_level,
    trail_stop,
)

BAR = BarPrices(open=10000, high=10300, low=9800, close=10100)
NONE = Slippage()


def test_market_buy_when_bar_given_fills_at_open_or_close():
    o = Order(Side.BUY, 10)
    assert match_bar(o, BAR, NONE) == FillDecision(10000, 10)
    assert match_bar(o, BAR, NONE, at="close") == FillDecision(10100, 10)


def test_slippage_when_bps_and_ticks_moves_price_against_trader_to_tick():
    s = Slippage(bps=5, ticks=1, tick_paise=5)
    # 100.00 × 1.0005 = 100.05 exactly; +1 tick → 100.10; sell: 99.95 − 0.05 = 99.90
    assert s.apply(10000, Side.BUY) == 10010
    assert s.apply(10000, Side.SELL) == 9990
    # 123.45 × 1.0003 = 123.487 → rounded up to 123.50 for a buy, down to 123.40 for a sell
    assert Slippage(bps=3).apply(12345, Side.BUY) == 12350
    assert Slippage(bps="3").apply(12345, Side.SELL) == 12340


@given(p=hs.integers(1, 10**8), bps=hs.integers(0, 500), ticks=hs.integers(0, 5))
def test_slippage_when_any_price_is_never_favourable(p, bps, ticks):
    s = Slippage(bps=bps, ticks=ticks)
    assert s.apply(p, Side.BUY) >= p
    assert s.apply(p, Side.SELL) <= p


def test_limit_buy_when_bar_opens_below_limit_fills_at_open_else_at_limit():
    assert match_bar(Order(Side.BUY, 1, OrderType.LIMIT, limit_paise=10050), BAR, NONE) \
        == FillDecision(10000, 1)
    assert match_bar(Order(Side.BUY, 1, OrderType.LIMIT, limit_paise=9900), BAR, NONE) \
        == FillDecision(9900, 1)
    assert match_bar(Order(Side.BUY, 1, OrderType.LIMIT, limit_paise=9700), BAR, NONE) is None


def test_stop_market_sell_when_bar_gaps_through_trigger_fills_at_open_with_slippage():
    o = Order(Side.SELL, 1, OrderType.SL_M, trigger_paise=10200)
    assert match_bar(o, BAR, Slippage(ticks=2)) == FillDecision(9990, 1)
    o = Order(Side.SELL, 1, OrderType.SL_M, trigger_paise=9900)
    assert match_bar(o, BAR, NONE) == FillDecision(9900, 1)
    assert match_bar(Order(Side.SELL, 1, OrderType.SL_M, trigger_paise=9700), BAR, NONE) is None


def test_stop_limit_buy_when_triggered_above_limit_waits_for_limit():
    o = Order(Side.BUY, 1, OrderType.SL, limit_paise=10150, trigger_paise=10200)
    assert match_bar(o, BAR, NONE) == FillDecision(10150, 1)


def test_quote_matching_when_market_or_limit_uses_touch_price():
    q = Quote(bid=9995, ask=10005, last=10000)
    assert match_quote(Order(Side.BUY, 3), q, NONE) == FillDecision(10005, 3)
    assert match_quote(Order(Side.SELL, 3), q, Slippage(ticks=1)) == FillDecision(9990, 3)
    assert match_quote(Order(Side.BUY, 3, OrderType.LIMIT, limit_paise=10000), q, NONE) is None
    assert match_quote(Order(Side.SELL, 3, OrderType.SL_M, trigger_paise=10000), q, NONE) \
        == FillDecision(9995, 3)


def test_order_when_limit_missing_names_the_field():
    with pytest.raises(InvalidInput) as e:
        Order(Side.BUY, 1, OrderType.LIMIT)
    assert e.value.field == "limit_paise"


def test_exit_on_bar_when_stop_and_target_both_touched_takes_the_stop():
    assert exit_on_bar(True, 9900, 10200, BAR, NONE) == (9900, "stop")
    assert exit_on_bar(False, 10200, 9900, BAR, NONE) == (10200, "stop")


def test_exit_on_bar_when_gapping_fills_at_open():
    assert exit_on_bar(True, 10050, None, BAR, NONE) == (10000, "stop")
    assert exit_on_bar(True, 9000, 9950, BAR, NONE) == (10000, "target")
    assert exit_on_bar(True, 9000, 10250, BAR, NONE) == (10250, "target")
    assert exit_on_bar(True, 9000, 11000, BAR, NONE) is None


def test_pct_level_when_stop_and_target_round_to_nearest_tick():
    assert pct_level(10000, 2.5, up=False, tick_paise=5) == 9750
    assert pct_level(12345, 5.0, up=True, tick_paise=5) == 12960  # 129.6225 → 129.60


def test_trail_stop_when_price_falls_is_not_lowered():
    s = trail_stop(None, 10000, 2.5, 5)
    assert s == 9750
    assert trail_stop(s, 10400, 2.5, 5) == 10140
    assert trail_stop(10140, 10100, 2.5, 5) == 10140


@given(highs=hs.lists(hs.integers(100, 10**7), min_size=1, max_size=60),
       pct=hs.floats(0.1, 20.0), tick=hs.sampled_from([1, 5, 10]))
@example(highs=[137], pct=1.0, tick=10)  # 135.63 rounds to 140, above the high: must be 130
def test_trail_stop_when_any_price_path_never_decreases_for_a_long(highs, pct, tick):
    stop, highest, seen = None, 0, []
    for h in highs:
        highest = max(highest, h)
        stop = trail_stop(stop, highest, pct, tick)
        seen.append(stop)
    assert all(b >= a for a, b in pairwise(seen))
    assert stop <= highest


def test_match_quote_when_limit_buy_marketable_on_arrival_fills_at_the_ask():
    order = Order(Side.BUY, 10, OrderType.LIMIT, limit_paise=81235)
    got = match_quote(order, Quote(bid=81220, ask=81225, last=81230), Slippage())
    assert got is not None and got.price_paise == 81225  # price improvement, not the last


def test_match_quote_when_resting_limit_buy_is_crossed_fills_at_its_limit():
    order = Order(Side.BUY, 10, OrderType.LIMIT, limit_paise=81235)
    quote = Quote(bid=81220, ask=81225, last=81230)
    got = match_quote(order, quote, Slippage(), resting=True)
    assert got is not None and got.price_paise == 81235  # as the exchange fills a resting order
    assert match_quote(order, Quote(bid=81235, ask=81240, last=81240), Slippage(),
                       resting=True) is None
