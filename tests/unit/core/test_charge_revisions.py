"""The dated charge table, revision by revision, against hand-worked rupee figures (L6, 1.11,
1.17, J/1.9): one ₹10 lakh sell in each segment on a day inside each revision."""

from datetime import date

import pytest

from mandi.core.charges import REVISIONS, ChargeBreakdown, charges

LAKH10 = 100_000_000  # ₹10,00,000 in paise: 1000 shares @ ₹1,000, 50 futures @ ₹20,000, ...


def test_revisions_when_listed_are_the_dated_changes_in_order():
    assert [r.effective for r in REVISIONS] == [
        date(2020, 7, 1), date(2021, 1, 1), date(2021, 4, 1), date(2022, 12, 1),
        date(2023, 4, 1), date(2024, 10, 1), date(2026, 4, 1)]


# (day, exchange, segment) → (STT, exchange txn incl. IPFT, SEBI) in paise on a ₹10 lakh SELL.
# Worked by hand: amount = rate % × 10,00,000.
SELL_10L = [
    # Jul–Dec 2020: NSE 0.00325 / 0.0019 / 0.05 %, BSE equity 0.003 %, SEBI ₹5/cr = 0.00005 %
    (date(2020, 9, 15), "NSE", "equity_intraday", (25000, 3250, 50)),   # STT 0.025 % = 250.00
    (date(2020, 9, 15), "BSE", "equity_intraday", (25000, 3000, 50)),   # 0.003 % = 30.00
    (date(2020, 9, 15), "NSE", "futures", (10000, 1900, 50)),           # STT 0.01 % = 100.00
    (date(2020, 9, 15), "NSE", "options", (50000, 50000, 50)),          # 0.05 %: 500 and 500
    # 2021-01-01, NSE +6 %: 0.00345 / 0.002 / 0.053 %; SEBI still ₹5/cr until March
    (date(2021, 2, 15), "NSE", "equity_intraday", (25000, 3450, 50)),   # 34.50
    (date(2021, 2, 15), "NSE", "futures", (10000, 2000, 50)),           # 20.00
    (date(2021, 2, 15), "NSE", "options", (50000, 53000, 50)),          # 530.00
    # 2021-04-01: SEBI ₹10/cr = 0.0001 % = ₹1.00
    (date(2021, 6, 15), "NSE", "equity_delivery", (100000, 3450, 100)),  # STT 0.1 % = 1,000
    (date(2022, 11, 30), "BSE", "equity_delivery", (100000, 3000, 100)),  # BSE still 0.003 %
    # 2022-12-01: BSE equity ₹375/cr = 0.00375 % = 37.50
    (date(2022, 12, 1), "BSE", "equity_delivery", (100000, 3750, 100)),
    # 2023-04-01: STT F&O 0.0125 / 0.0625 %; NSE back to 0.00325 / 0.0019 / 0.05 % plus IPFT
    # 0.0001 / 0.0001 / 0.0005 % = 0.00335 / 0.002 / 0.0505 %
    (date(2024, 1, 15), "NSE", "equity_intraday", (25000, 3350, 100)),  # 33.50
    (date(2024, 1, 15), "NSE", "futures", (12500, 2000, 100)),           # 125.00, 20.00
    (date(2024, 1, 15), "NSE", "options", (62500, 50500, 100)),          # 625.00, 505.00
    (date(2024, 1, 15), "BSE", "equity_intraday", (25000, 3750, 100)),   # no IPFT on BSE
    # 2024-10-01: STT 0.02 / 0.1 %; NSE 0.00297 / 0.00173 / 0.03503 % + IPFT
    # = 0.00307 / 0.00183 / 0.03553 %
    (date(2025, 1, 15), "NSE", "equity_intraday", (25000, 3070, 100)),  # 30.70
    (date(2025, 1, 15), "NSE", "equity_delivery", (100000, 3070, 100)),
    (date(2025, 1, 15), "NSE", "futures", (20000, 1830, 100)),          # 200.00, 18.30
    (date(2025, 1, 15), "NSE", "options", (100000, 35530, 100)),        # 1,000.00, 355.30
    (date(2025, 1, 15), "BSE", "options", (100000, 32500, 100)),        # 0.0325 % = 325.00
    (date(2025, 1, 15), "BSE", "futures", (20000, 0, 100)),             # BSE futures: nil
    # 2026-04-01: STT futures 0.05 % = 500, options 0.15 % = 1,500; exchange charges unchanged
    (date(2026, 6, 1), "NSE", "futures", (50000, 1830, 100)),
    (date(2026, 6, 1), "NSE", "options", (150000, 35530, 100)),
]


@pytest.mark.parametrize(("day", "exchange", "segment", "expected"), SELL_10L)
def test_charges_when_sell_inside_revision_uses_its_rates(day, exchange, segment, expected):
    cb = charges(segment, "SELL", 1000, LAKH10 // 1000, day, exchange)
    assert (cb.stt, cb.exchange_txn, cb.sebi) == expected


@pytest.mark.parametrize(("day", "expected"), [
    # 50 NIFTY futures sold @ ₹20,000 = ₹10 lakh: brokerage 0.03 % = 300 → cap 20; no stamp.
    # 2020: STT 100, txn 19.00, SEBI 0.50, GST 18 % × 39.50 = 7.11 → 146.61
    (date(2020, 9, 15), ChargeBreakdown(2000, 10000, 1900, 50, 0, 711)),
    # 2021-01: txn 20.00, SEBI 0.50, GST 18 % × 40.50 = 7.29 → 147.79
    (date(2021, 2, 15), ChargeBreakdown(2000, 10000, 2000, 50, 0, 729)),
    # 2021-04: SEBI 1.00, GST 18 % × 41 = 7.38 → 148.38
    (date(2021, 6, 15), ChargeBreakdown(2000, 10000, 2000, 100, 0, 738)),
    # 2023-04: STT 125, txn (0.0019 + 0.0001) % = 20.00, GST 7.38 → 173.38
    (date(2024, 1, 15), ChargeBreakdown(2000, 12500, 2000, 100, 0, 738)),
    # 2024-10: STT 200, txn 18.30, GST 18 % × 39.30 = 7.074 → 7.07 → 246.37
    (date(2025, 1, 15), ChargeBreakdown(2000, 20000, 1830, 100, 0, 707)),
    # 2026-04: STT 500 → 546.37
    (date(2026, 6, 1), ChargeBreakdown(2000, 50000, 1830, 100, 0, 707)),
])
def test_charges_when_futures_sell_in_each_revision_totals_hand_figure(day, expected):
    cb = charges("futures", "SELL", 50, 2_000_000, day)
    assert cb == expected
    assert cb.total == {date(2020, 9, 15): 14661, date(2021, 2, 15): 14779,
                        date(2021, 6, 15): 14838, date(2024, 1, 15): 17338,
                        date(2025, 1, 15): 24637, date(2026, 6, 1): 54637}[day]
