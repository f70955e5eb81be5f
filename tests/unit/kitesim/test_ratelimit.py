"""kitesim's sliding windows with a hand-driven clock: Kite's figures for orders (10/s,
400/min, 5000/day), refusals not counted, and the record the admin route returns."""

from __future__ import annotations

import pytest

from services.kitesim.ratelimit import LIMITS, RateLimiter, parse_limits


class Wall:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_orders_ten_in_any_second_sliding_not_per_calendar_second() -> None:
    wall = Wall()
    rl = RateLimiter(clock=wall)
    wall.t = 1000.5
    assert all(rl.allow("k", "orders") for _ in range(10))  # 10 at 1000.5
    wall.t = 1001.2  # a new calendar second, but (1000.2, 1001.2] still holds all 10
    assert not rl.allow("k", "orders")
    wall.t = 1001.5  # 1000.5 ≤ 1001.5 - 1: the 10 have left the window
    assert rl.allow("k", "orders")


def test_orders_5000_per_day() -> None:
    wall = Wall()
    rl = RateLimiter(clock=wall)
    ok = 0
    # 13 rounds of 40 s × 10 attempts = 5200; a round starts 100 s after the last one did,
    # so its 400 left the minute window (last at +39 s, +39 + 60 < +100) and 10/s is kept
    for _ in range(13):
        start = wall.t
        for _ in range(40):
            ok += sum(rl.allow("k", "orders") for _ in range(10))
            wall.t += 1.0
        wall.t = start + 100.0
    assert ok == 5000 and rl.refused["orders"] == 200
    wall.t = 1000.0 + 86_400.0  # the first minute's 400 (at 1000.0) leave the day window
    assert rl.allow("k", "orders")


def test_quote_one_per_second_historical_three_other_ten() -> None:
    wall = Wall()
    rl = RateLimiter(clock=wall)
    assert [rl.allow("k", "quote") for _ in range(2)] == [True, False]
    assert sum(rl.allow("k", "historical") for _ in range(5)) == 3
    assert sum(rl.allow("k", "other") for _ in range(15)) == 10
    assert rl.refused == {"quote": 1, "historical": 2, "other": 5}


def test_record_holds_admitted_order_instants_per_key_only() -> None:
    wall = Wall()
    rl = RateLimiter(clock=wall)
    for _ in range(12):
        rl.allow("k1", "orders")
        wall.t += 0.05
    rl.allow("k2", "orders")
    rl.allow("k1", "quote")
    rec = rl.record()
    # k1: 10 admitted at 1000.00 … 1000.45; the 11th and 12th (1000.50, 1000.55) refused
    assert rec["admitted"]["orders"]["k1"] == pytest.approx([1000 + 0.05 * i for i in range(10)])
    assert rec["admitted"]["orders"]["k2"] == [pytest.approx(1000.6)]
    assert "quote" not in rec["admitted"] and rec["refused"] == {"orders": 2}
    rl.reset()
    assert rl.record()["admitted"] == {} and rl.record()["refused"] == {}


def test_parse_limits_shortens_named_classes_and_names_the_error() -> None:
    got = parse_limits({"orders": [[10, 1], [20, 5]]})
    assert got["orders"] == ((10, 1.0), (20, 5.0)) and got["quote"] == LIMITS["quote"]
    with pytest.raises(ValueError, match="unknown limit class 'order'"):
        parse_limits({"order": [[1, 1]]})
    with pytest.raises(ValueError, match=r"limits\.orders"):
        parse_limits({"orders": [[0, 1]]})
    with pytest.raises(ValueError, match=r"limits\.quote"):
        parse_limits({"quote": "fast"})
