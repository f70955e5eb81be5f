"""kitesim's historical route: special sessions with their own hours, and the forming candle
(served mid-session exactly as real Kite does — partial OHLCV at the simulator clock)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from mandi.core.clock import IST

INFY = 408065
FROZEN = 1e-6  # a simulator speed at which the clock does not move during a test


@pytest.fixture(scope="module")
def sim(kitesim_server):  # the shared logged-in simulator (mandi.testing.kitesim)
    return kitesim_server


def _hm(rows):
    return [r["date"].strftime("%H:%M") for r in rows]


def test_muhurat_2024_serves_its_hour_only(sim):
    kite = sim.kite()
    rows = kite.historical_data(INFY, "2024-11-01", "2024-11-01", "minute")
    assert len(rows) == 60  # 18:00 .. 18:59
    assert _hm(rows)[0] == "18:00" and _hm(rows)[-1] == "18:59"
    (day,) = kite.historical_data(INFY, "2024-11-01", "2024-11-01", "day")
    assert (day["open"], day["close"]) == (rows[0]["open"], rows[-1]["close"])
    assert day["high"] == max(r["high"] for r in rows)
    assert day["volume"] == sum(r["volume"] for r in rows)


def test_dr_session_skips_its_break_and_starts_a_grid_per_span(sim):
    kite = sim.kite()
    rows = kite.historical_data(INFY, "2024-03-02", "2024-03-02", "minute")
    assert len(rows) == 105  # 45 (09:15-10:00) + 60 (11:30-12:30)
    assert _hm(rows)[44] == "09:59" and _hm(rows)[45] == "11:30" and _hm(rows)[-1] == "12:29"
    hourly = kite.historical_data(INFY, "2024-03-02", "2024-03-02", "60minute")
    assert _hm(hourly) == ["09:15", "11:30"]
    assert hourly[0]["close"] == rows[44]["close"] and hourly[1]["open"] == rows[45]["open"]


def test_weekend_sessions_trade_and_diwali_laxmi_pujan_does_not(sim):
    kite = sim.kite()
    days = [r["date"].date() for r in
            kite.historical_data(INFY, "2025-01-31", "2025-02-03", "day")]
    # Fri 01-31, Budget Saturday 02-01, Mon 02-03 (Sun 02-02 closed)
    assert days == [date(2025, 1, 31), date(2025, 2, 1), date(2025, 2, 3)]
    assert len(kite.historical_data(INFY, "2024-01-20", "2024-01-20", "minute")) == 375
    # finding F: 2015-11-11 had no session (its Muhurat hours are not in the table)
    assert kite.historical_data(INFY, "2015-11-11", "2015-11-11", "minute") == []


def test_forming_minute_and_day_candles_are_partial_then_final(sim):
    kite = sim.kite()
    sim.admin("clock", {"now": "2025-11-19T10:07:30+05:30", "speed": FROZEN})
    try:
        mins = kite.historical_data(INFY, "2025-11-19 09:15:00", "2025-11-19 15:30:00",
                                    "minute")
        (day_partial,) = kite.historical_data(INFY, "2025-11-19", "2025-11-19", "day")
        ltp = kite.ltp(["NSE:INFY"])["NSE:INFY"]["last_price"]
        forming = mins[-1]
        # 09:15 .. 10:07 is 53 candles, the last of them still forming at 10:07:30
        assert len(mins) == 53 and _hm([forming]) == ["10:07"]
        assert forming["close"] == ltp == day_partial["close"]
        assert day_partial["open"] == mins[0]["open"]
        assert day_partial["volume"] == sum(m["volume"] for m in mins)
        sim.admin("clock", {"now": "2025-11-19T15:45:00+05:30", "speed": FROZEN})
        final = kite.historical_data(INFY, "2025-11-19 10:07:00", "2025-11-19 10:07:00",
                                     "minute")[0]
        (day_final,) = kite.historical_data(INFY, "2025-11-19", "2025-11-19", "day")
    finally:
        sim.admin("clock", {"now": "2025-11-20T10:00:00+05:30", "speed": 1})
    assert final["date"] == forming["date"] and final["open"] == forming["open"]
    # half the minute's seconds had traded: the final bar has more volume and a wider range
    assert final["volume"] > forming["volume"]
    assert final["high"] >= forming["high"] and final["low"] <= forming["low"]
    assert day_final["volume"] > day_partial["volume"]
    assert (day_final["close"], day_final["volume"]) != (day_partial["close"],
                                                          day_partial["volume"])


def test_forming_60_minute_candle_aggregates_the_seconds_so_far(sim):
    kite = sim.kite()
    sim.admin("clock", {"now": "2025-11-19T10:20:10+05:30", "speed": FROZEN})
    try:
        hourly = kite.historical_data(INFY, "2025-11-19", "2025-11-19", "60minute")
        mins = kite.historical_data(INFY, "2025-11-19 10:15:00", "2025-11-19 10:20:00",
                                    "minute")
    finally:
        sim.admin("clock", {"now": "2025-11-20T10:00:00+05:30", "speed": 1})
    assert _hm(hourly) == ["09:15", "10:15"]
    bar = hourly[-1]
    # 10:15-10:19 complete + 10:20 forming (its first 11 seconds)
    assert _hm(mins) == ["10:15", "10:16", "10:17", "10:18", "10:19", "10:20"]
    assert bar["open"] == mins[0]["open"] and bar["close"] == mins[-1]["close"]
    assert bar["high"] == max(m["high"] for m in mins)
    assert bar["volume"] == sum(m["volume"] for m in mins)
    assert datetime(2025, 11, 19, 10, 15, tzinfo=IST) + timedelta(hours=1) > \
        datetime(2025, 11, 19, 10, 20, 10, tzinfo=IST)
