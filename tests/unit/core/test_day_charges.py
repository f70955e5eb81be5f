"""One scrip-day's charges as a contract note prices them (findings B, C, J/1.14): brokerage per
executed order however many trades fill it, CNC bought and sold the same day at intraday rates,
the DP charge once on a day with a delivery sell. Figures worked by hand at the 2024-10-01 rates
(NSE txn with IPFT: equity 0.00307 %, options 0.03553 %)."""

from datetime import date

import pytest

from mandi.core.charges import ChargeBreakdown, Execution, day_charges
from mandi.core.errors import InvalidInput

DAY = date(2026, 3, 10)


def test_day_charges_when_option_order_fills_in_three_trades_pays_one_flat_brokerage():
    fills = [Execution("o1", "BUY", 250, 10000)] * 3  # 750 @ ₹100 premium in 3 trades
    # turnover 75,000: brokerage ₹20 once (₹60 if per trade); txn 0.03553 % = 26.6475 → 26.65;
    # SEBI 0.075 → 0.08; stamp 0.003 % = 2.25; GST 18 % × (20 + 26.65 + 0.08) = 8.4114 → 8.41
    cb = day_charges("options", fills, DAY)
    assert cb == ChargeBreakdown(2000, 0, 2665, 8, 225, 841)
    assert cb.total == 5739  # ₹57.39


def test_day_charges_when_mis_order_fills_in_four_trades_caps_brokerage_once():
    fills = [Execution("o1", "BUY", 100, 20000)] * 4  # 400 sh @ ₹200 in 4 trades
    # turnover 80,000: 0.03 % = 24 → cap ₹20 (per trade: 4 × ₹6 = ₹24); txn 2.456 → 2.46;
    # SEBI 0.08; stamp 0.003 % = 2.40; GST 18 % × 22.54 = 4.0572 → 4.06; total ₹29.00
    cb = day_charges("equity_intraday", fills, DAY)
    assert cb == ChargeBreakdown(2000, 0, 246, 8, 240, 406)
    assert cb.total == 2900


def test_day_charges_when_two_orders_each_pays_its_own_brokerage():
    fills = [Execution("o1", "BUY", 200, 20000), Execution("o2", "BUY", 200, 20000)]
    # each order ₹40,000 × 0.03 % = ₹12, below the cap: ₹24 in all
    assert day_charges("equity_intraday", fills, DAY).brokerage == 2400


def test_day_charges_when_cnc_bought_and_sold_same_day_prices_as_intraday():
    fills = [Execution("b", "BUY", 100, 150000), Execution("s", "SELL", 100, 151000)]
    # 100 INFY ₹1,500 → ₹1,510: buy 1,50,000, sell 1,51,000, turnover 3,01,000.
    # brokerage 0.03 % = 45 and 45.30 → 20 + 20; STT 0.025 % × 1,51,000 = 37.75;
    # txn 0.00307 % × 3,01,000 = 9.2407 → 9.24; SEBI 0.301 → 0.30; stamp 0.003 % × 1,50,000 = 4.50;
    # GST 18 % × (40 + 9.24 + 0.30) = 8.9172 → 8.92; no DP (nothing leaves the demat).
    # Total ₹100.71 (at delivery rates it was ₹334.40 before IPFT).
    cb = day_charges("equity_delivery", fills, DAY)
    assert cb == ChargeBreakdown(4000, 3775, 924, 30, 450, 892, 0)
    assert cb.total == 10071


def test_day_charges_when_cnc_sells_holdings_pays_delivery_stt_and_dp_once():
    fills = [Execution("s1", "SELL", 30, 151000), Execution("s2", "SELL", 20, 151000)]
    # 50 sold from holdings @ ₹1,510 = 75,500: STT 0.1 % = 75.50; txn 2.31785 → 2.32;
    # SEBI 0.0755 → 0.08; DP ₹13 once for the scrip-day; GST 18 % × (2.32 + 0.08 + 13) = 2.772
    # → 2.77 (DP with its GST = 15.34); total 75.50 + 2.32 + 0.08 + 13 + 2.77 = ₹93.67
    cb = day_charges("equity_delivery", fills, DAY)
    assert cb == ChargeBreakdown(0, 7550, 232, 8, 0, 277, 1300)
    assert cb.total == 9367


def test_day_charges_when_cnc_day_mixes_holdings_and_same_day_splits_quantity():
    # 40 held from before; buy 60 @ 1,500 then sell 100 @ 1,510: 60 are intraday, 40 delivery
    fills = [Execution("b", "BUY", 60, 150000), Execution("s", "SELL", 100, 151000)]
    # intraday: buy 90,000, sell 60 × 1,510 = 90,600; delivery sell 40 × 1,510 = 60,400.
    # brokerage: order b 27 → 20, order s intraday part 27.18 → 20, delivery part 0 → 40;
    # STT 0.025 % × 90,600 = 22.65 + 0.1 % × 60,400 = 60.40 → 83.05; stamp 0.003 % × 90,000
    # = 2.70; txn 0.00307 % × 1,80,600 = 5.54442 → 5.54 + 0.00307 % × 60,400 = 1.85428 → 1.85
    # = 7.39; SEBI 0.1806 → 0.18 + 0.0604 → 0.06 = 0.24; DP 13;
    # GST 18 % × (40 + 7.39 + 0.24 + 13) = 10.9134 → 10.91; total ₹157.29
    cb = day_charges("equity_delivery", fills, DAY)
    assert cb == ChargeBreakdown(4000, 8305, 739, 24, 270, 1091, 1300)
    assert cb.total == 15729


def test_day_charges_when_side_invalid_names_the_field():
    with pytest.raises(InvalidInput) as e:
        day_charges("equity_delivery", [Execution("o", "HOLD", 1, 100)], DAY)
    assert e.value.field == "side"
