"""Historical candles through kiteconnect: shapes, limits, determinism, aggregation."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import date, datetime, timedelta

import pytest
from kiteconnect.exceptions import InputException, NetworkException

from mandi.core.clock import IST
from mandi.testing.kitesim import kite_sample, shape_diff, start_kitesim

INFY, NIFTY = 408065, 256265
IST_OFFSET = timedelta(hours=5, minutes=30)


def test_minute_candles_are_tz_aware_ist_and_aligned_to_the_session(kitesim_server):
    kite = kitesim_server.kite()
    rows = kite.historical_data(INFY, datetime(2025, 11, 19), datetime(2025, 11, 19, 23, 59),
                                "minute")
    assert len(rows) == 375
    assert all(r["date"].utcoffset() == IST_OFFSET for r in rows)
    assert rows[0]["date"].time().isoformat() == "09:15:00"
    assert rows[-1]["date"].time().isoformat() == "15:29:00"
    assert all(r["low"] <= min(r["open"], r["close"]) <= max(r["open"], r["close"]) <= r["high"]
               for r in rows)
    assert all(round(r["close"] * 100) % 5 == 0 for r in rows)


def test_day_candles_are_stamped_midnight_ist_and_skip_holidays(kitesim_server):
    kite = kitesim_server.kite()
    rows = kite.historical_data(INFY, date(2025, 10, 1), date(2025, 10, 31), "day")
    days = [r["date"].date() for r in rows]
    assert all(r["date"].utcoffset() == IST_OFFSET and r["date"].hour == 0 for r in rows)
    assert date(2025, 10, 2) not in days and date(2025, 10, 22) not in days  # holidays
    # 23 weekdays - 3 holidays (10-02, 10-21, 10-22) + the 10-21 Muhurat session = 21
    assert date(2025, 10, 21) in days
    assert all(d.weekday() < 5 for d in days) and len(days) == 21


def test_day_candle_equals_aggregate_of_its_minutes(kitesim_server):
    kite = kitesim_server.kite()
    mins = kite.historical_data(INFY, "2025-11-18", "2025-11-18", "minute")
    (day,) = kite.historical_data(INFY, "2025-11-18", "2025-11-18", "day")
    assert day["open"] == mins[0]["open"] and day["close"] == mins[-1]["close"]
    assert day["high"] == max(m["high"] for m in mins)
    assert day["low"] == min(m["low"] for m in mins)
    assert day["volume"] == sum(m["volume"] for m in mins)


@pytest.mark.parametrize(("interval", "step"), [("3minute", 3), ("15minute", 15),
                                                ("60minute", 60)])
def test_n_minute_candles_aggregate_minutes_from_0915(kitesim_server, interval, step):
    kite = kitesim_server.kite()
    mins = kite.historical_data(NIFTY, "2025-11-18", "2025-11-18", "minute")
    agg = kite.historical_data(NIFTY, "2025-11-18", "2025-11-18", interval)
    assert len(agg) == -(-375 // step)
    for i, candle in enumerate(agg):
        part = mins[i * step:(i + 1) * step]
        assert candle["date"] == part[0]["date"]
        assert (candle["open"], candle["close"]) == (part[0]["open"], part[-1]["close"])
        assert candle["high"] == max(p["high"] for p in part)
        assert candle["low"] == min(p["low"] for p in part)
        assert candle["volume"] == sum(p["volume"] for p in part)
    # the last candle starts at 09:15 + (ceil(375 / step) - 1) × step minutes:
    # 3 → 124 × 3 = 372 min → 15:27; 15 → 24 × 15 = 360 → 15:15; 60 → 6 × 60 = 360 → 15:15
    last = {3: "15:27:00", 15: "15:15:00", 60: "15:15:00"}[step]
    assert agg[-1]["date"].time().isoformat() == last


def test_history_ends_at_the_simulated_now_and_starts_in_2015(kitesim_server):
    kite = kitesim_server.kite()
    now = kitesim_server.now()
    rows = kite.historical_data(INFY, now - timedelta(hours=3), now + timedelta(days=3),
                                "minute")
    # the last candle is the one still forming at the simulated now, as real Kite serves it
    assert rows[-1]["date"] <= now < rows[-1]["date"] + timedelta(minutes=1)
    first = kite.historical_data(INFY, "2014-12-01", "2015-01-10", "day")
    assert first[0]["date"].date() == date(2015, 1, 1)


def test_oi_param_adds_open_interest_for_futures(kitesim_server):
    kite = kitesim_server.kite()
    fut = next(r for r in kite.instruments("NFO") if r["tradingsymbol"].startswith("NIFTY")
               and r["instrument_type"] == "FUT")
    rows = kite.historical_data(fut["instrument_token"], "2025-11-19", "2025-11-19", "minute",
                                oi=True)
    assert rows and all(r["oi"] > 0 for r in rows)
    plain = kite.historical_data(INFY, "2025-11-19", "2025-11-19", "day", oi=True)
    assert plain[0]["oi"] == 0


@pytest.mark.parametrize(("interval", "days"), [("minute", 61), ("5minute", 101),
                                                ("60minute", 401), ("day", 2001)])
def test_range_over_kites_limit_raises_input_exception(kitesim_server, interval, days):
    kite = kitesim_server.kite()
    to = datetime(2025, 11, 19)
    with pytest.raises(InputException) as exc:
        kite.historical_data(INFY, to - timedelta(days=days), to, interval)
    assert f"{days - 1} days" in str(exc.value) and exc.value.code == 400
    kite.historical_data(INFY, to - timedelta(days=days - 1), to, interval)


def test_unknown_token_raises_input_exception(kitesim_server):
    with pytest.raises(InputException):
        kitesim_server.kite().historical_data(12345, "2025-11-18", "2025-11-18", "day")


def _burst_until_refused(server, call, allowed: int, attempts: int = 5):
    """`allowed` calls then one more, from fresh windows; the NetworkException of the extra
    call. A burst the machine could not fit inside one second proves nothing and is retried
    (bounded); a burst inside the second that was served is a failure."""
    for _ in range(attempts):
        server.admin("ratelimit", {"enabled": True})  # resets every window
        t0 = time.monotonic()
        for _ in range(allowed):
            call()
        try:
            call()
        except NetworkException as exc:
            return exc
        assert time.monotonic() - t0 >= 1.0, f"call {allowed + 1} inside one second served"
    raise AssertionError(f"no burst of {allowed + 1} calls fitted in one second")


def test_fourth_historical_call_in_a_second_gets_429_network_exception():
    server = start_kitesim(rate_limits=True)
    try:
        kite = server.kite()
        exc = _burst_until_refused(
            server, lambda: kite.historical_data(INFY, "2025-11-18", "2025-11-18", "day"), 3)
        assert exc.code == 429 and str(exc) == "Too many requests"
        time.sleep(1.05)  # the window is one second: after it the class is served again
        assert kite.historical_data(INFY, "2025-11-18", "2025-11-18", "day")
        exc = _burst_until_refused(server, lambda: kite.ltp(["NSE:INFY"]), 1)  # quote: 1/s
        assert exc.code == 429
    finally:
        server.stop()


def _raw(server, path: str) -> bytes:
    req = urllib.request.Request(server.url + path, headers={
        "Authorization": f"token {server.api_key}:{server.access_token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def test_same_seed_gives_byte_identical_historical_responses():
    paths = ["/instruments/historical/408065/minute?from=2025-09-22+09:15:00"
             "&to=2025-11-19+15:30:00",
             "/instruments/historical/256265/day?from=2020-01-01&to=2025-06-01",
             "/instruments/historical/738561/15minute?from=2016-03-01&to=2016-05-01&oi=1"]
    start = datetime(2025, 11, 20, 10, 0, tzinfo=IST)
    bodies = []
    for seed in (7, 7, 8):
        server = start_kitesim(seed=seed, start=start, rate_limits=False)
        try:
            server.login()
            bodies.append([_raw(server, p) for p in paths])
        finally:
            server.stop()
    assert bodies[0] == bodies[1]
    assert all(len(b) > 1000 for b in bodies[0])
    assert bodies[0][0] != bodies[2][0]


@pytest.mark.parametrize(("oi", "sample"), [(False, "historical_minute"),
                                            (True, "historical_oi")])
def test_raw_historical_envelope_has_zerodhas_shape(kitesim_server, oi, sample):
    # every candle, position by position, against Zerodha's samples (oi adds a 7th number)
    kite = kitesim_server.kite()
    fut = next(r for r in kite.instruments("NFO") if r["tradingsymbol"].startswith("NIFTY")
               and r["instrument_type"] == "FUT")
    token = fut["instrument_token"] if oi else INFY
    body = json.loads(_raw(kitesim_server, f"/instruments/historical/{token}/minute"
                                           f"?from=2025-11-19+09:15:00&to=2025-11-19+09:30:00"
                                           f"{'&oi=1' if oi else ''}"))
    assert len(body["data"]["candles"]) == 16  # 09:15 … 09:30: `to` is inclusive
    assert shape_diff(body, kite_sample(sample)) == []
    assert all(len(c) == (7 if oi else 6) for c in body["data"]["candles"])
