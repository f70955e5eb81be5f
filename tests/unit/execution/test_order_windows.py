"""The order-window table at its edges (IST), and the protected LIMIT price on the tick."""

from __future__ import annotations

from datetime import datetime

import pytest

from mandi.core.clock import IST
from services.execution.order_windows import refusal
from services.execution.risk import protected_limit_price


def _at(hh: int, mm: int, ss: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hh, mm, ss, tzinfo=IST)  # 10th: Tuesday; 14th: Saturday


@pytest.mark.parametrize("when,variety,product,derivative,rule", [
    (_at(8, 59, 59), "regular", "CNC", False, "market_hours"),
    (_at(9, 0), "regular", "CNC", False, None),              # pre-open opens
    (_at(9, 7, 59), "regular", "CNC", False, None),
    (_at(9, 8), "regular", "CNC", False, "market_hours"),    # pre-open closed
    (_at(9, 15), "regular", "CNC", True, None),
    (_at(15, 19, 59), "regular", "MIS", False, None),
    (_at(15, 20), "regular", "MIS", False, "mis_cutoff"),    # equity cut-off
    (_at(15, 24, 59), "regular", "MIS", True, None),
    (_at(15, 25), "regular", "MIS", True, "mis_cutoff"),     # F&O cut-off
    (_at(15, 30), "regular", "CNC", False, "market_hours"),
    (_at(15, 44, 59), "amo", "NRML", True, "amo_window"),
    (_at(15, 45), "amo", "NRML", True, None),                # F&O AMO opens
    (_at(15, 59, 59), "amo", "CNC", False, "amo_window"),
    (_at(16, 0), "amo", "CNC", False, None),                 # equity AMO opens
    (_at(0, 59, 59), "amo", "CNC", False, None),
    (_at(1, 0), "amo", "CNC", False, "amo_window"),          # nightly blackout
    (_at(5, 29, 59), "amo", "CNC", False, "amo_window"),
    (_at(5, 30), "amo", "CNC", False, None),
    (_at(8, 57, 59), "amo", "CNC", False, None),
    (_at(8, 58), "amo", "CNC", False, "amo_window"),         # equity AMO closes
    (_at(9, 9, 59), "amo", "NRML", True, None),
    (_at(9, 10), "amo", "NRML", True, "amo_window"),         # F&O AMO closes
    (_at(12, 0, day=14), "amo", "CNC", False, None),         # Saturday
    (_at(12, 0, day=14), "regular", "CNC", False, "market_hours"),
    (_at(9, 3, day=14), "regular", "CNC", False, "market_hours"),  # no pre-open on Saturday
])
def test_refusal_at_the_edges(when: datetime, variety: str, product: str, derivative: bool,
                              rule: str | None) -> None:
    got = refusal(variety=variety, product=product, derivative=derivative, reducing=False,
                  now=when)
    assert (got[0] if got else None) == rule


def test_refusal_after_mis_cutoff_lets_an_exit_through() -> None:
    assert refusal(variety="regular", product="MIS", derivative=False, reducing=True,
                   now=_at(15, 25)) is None


@pytest.mark.parametrize("side,ref,pct,tick,want", [
    ("BUY", 15000, 2, 5, 15300),     # 150.00 × 1.02 = 153.00 exactly
    ("SELL", 15000, 2, 5, 14700),    # 150.00 × 0.98 = 147.00 exactly
    ("BUY", 12345, 2, 5, 12590),     # 125.919 → down to 125.90
    ("SELL", 12345, 2, 5, 12100),    # 120.981 → up to 121.00
    ("BUY", 12345, 2.5, 1, 12653),   # 126.53625 → down to 126.53 (tick 0.01)
    ("SELL", 5, 50, 5, 5),           # never below one tick
])
def test_protected_limit_price_on_the_tick(side: str, ref: int, pct: float, tick: int,
                                           want: int) -> None:
    assert protected_limit_price(side, ref, pct, tick) == want
