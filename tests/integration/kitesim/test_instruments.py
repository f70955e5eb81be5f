"""The instrument dump as parsed by kiteconnect."""

from __future__ import annotations

import urllib.request
from datetime import date

import pytest

from mandi.testing.kitesim import KITE_MOCKS

SEG_CODE = {"NSE": 1, "NFO-FUT": 2, "NFO-OPT": 2, "BSE": 4, "BFO-OPT": 5, "INDICES": 9}


@pytest.fixture(scope="module")
def dump(kitesim_server):
    return kitesim_server.kite().instruments()


@pytest.mark.parametrize("exchange", ["NSE", "BSE", "NFO", "BFO"])
def test_instruments_per_exchange_parse_in_the_client(kitesim_server, exchange):
    rows = kitesim_server.kite().instruments(exchange)
    assert rows and all(r["exchange"] == exchange for r in rows)
    assert all(isinstance(r["instrument_token"], int) and isinstance(r["strike"], float)
               for r in rows)


@pytest.mark.parametrize("path, sample", [("/instruments/NSE", "instruments_nse.csv"),
                                          ("/instruments", "instruments_all.csv")])
def test_csv_header_is_zerodhas_dump_header_exactly(kitesim_server, path, sample):
    # the expected header is read from Zerodha's own dumps, never from kitesim's constant
    want = (KITE_MOCKS / sample).read_text().splitlines()[0]
    with urllib.request.urlopen(kitesim_server.url + path, timeout=5) as resp:
        assert "csv" in resp.headers["Content-Type"]
        assert resp.read().decode().splitlines()[0] == want


def test_tokens_follow_exchange_token_times_256_plus_segment(dump):
    for r in dump:
        assert r["instrument_token"] == int(r["exchange_token"]) * 256 + SEG_CODE[r["segment"]]
    assert len({r["instrument_token"] for r in dump}) == len(dump)


def test_universe_has_required_names_on_both_exchanges_and_indices(dump):
    keys = {(r["exchange"], r["tradingsymbol"]) for r in dump}
    for sym in ("RELIANCE", "TCS", "INFY", "HDFCBANK", "SBIN"):
        assert ("NSE", sym) in keys and ("BSE", sym) in keys
    idx = {r["tradingsymbol"]: r for r in dump if r["segment"] == "INDICES"}
    assert set(idx) == {"NIFTY 50", "NIFTY BANK", "SENSEX"}
    assert idx["NIFTY 50"]["instrument_token"] == 256265
    nse = [r for r in dump if r["segment"] == "NSE"]
    assert len(nse) >= 50 and all(r["lot_size"] == 1 for r in nse)


def test_stocks_and_stock_futures_below_250_rupees_tick_at_one_paisa(kitesim_server, dump):
    # NSE since 10 Jun 2024: 0.01 below ₹250 for stocks and stock futures, 0.05 otherwise;
    # TATASTEEL (~₹172) and WIPRO (~₹245) are the seeded names below ₹250, INFY (~₹1500) not
    ticks = {(r["exchange"], r["tradingsymbol"]): r["tick_size"] for r in dump}
    for sym in ("TATASTEEL", "WIPRO"):
        assert ticks[("NSE", sym)] == 0.01
        futs = [t for (e, s), t in ticks.items() if e == "NFO" and s.startswith(sym)
                and s.endswith("FUT")]
        assert len(futs) == 3 and set(futs) == {0.01}
    assert ticks[("NSE", "INFY")] == 0.05
    nifty_opts = {r["tick_size"] for r in dump if r["name"] == "NIFTY"
                  and r["segment"] == "NFO-OPT"}
    assert nifty_opts == {0.05}  # index options stay at 0.05
    ltp = kitesim_server.kite().ltp(["NSE:TATASTEEL"])["NSE:TATASTEEL"]["last_price"]
    assert ltp < 250


def test_derivatives_have_real_lot_sizes_expiries_and_strikes_around_spot(kitesim_server, dump):
    lots = {(r["name"], r["segment"]): r["lot_size"] for r in dump if r["segment"] != "NSE"}
    assert lots[("NIFTY", "NFO-OPT")] == 65 and lots[("BANKNIFTY", "NFO-OPT")] == 30
    assert lots[("SENSEX", "BFO-OPT")] == 20
    nifty_opts = [r for r in dump if r["name"] == "NIFTY" and r["segment"] == "NFO-OPT"]
    assert all(isinstance(r["expiry"], date) and r["expiry"].weekday() in (0, 1)
               for r in nifty_opts)  # Tuesday, or Monday when Tuesday is a holiday
    assert len({r["expiry"] for r in nifty_opts}) >= 4  # weeklies
    spot = kitesim_server.kite().ltp(["NSE:NIFTY 50"])["NSE:NIFTY 50"]["last_price"]
    strikes = sorted({r["strike"] for r in nifty_opts})
    assert strikes[0] < spot < strikes[-1] and all(s % 50 == 0 for s in strikes)
    futs = [r for r in dump if r["segment"] == "NFO-FUT" and r["name"] == "NIFTY"]
    assert len(futs) == 3 and all(r["tradingsymbol"].endswith("FUT") for r in futs)
