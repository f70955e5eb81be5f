"""Kite's and the exchanges' order rules in kitesim, through the unmodified kiteconnect client:
tick sizes, market protection, blocked order types, AMO windows and release, pre-open, the MIS
cut-off, TTL, price bands, GTT rules and which changes send a postback."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from kiteconnect.exceptions import InputException

from mandi.core.clock import IST
from mandi.testing.kitesim import start_kitesim

MP = 2  # market protection, percent


def _ltp(kite, key: str) -> float:
    return kite.ltp([key])[key]["last_price"]


def _tick(x: float, tick: float = 0.05) -> float:
    return round(round(x / tick) * tick, 2)


def _status(kite, oid: str) -> str:
    return kite.order_history(oid)[-1]["status"]


def _instrument(kite, exchange: str, pred) -> dict:
    return next(i for i in kite.instruments(exchange) if pred(i))


def test_stocks_and_stock_futures_below_250_take_one_paisa_prices(kitesim_server):
    kite = kitesim_server.kite()
    ltp = _ltp(kite, "NSE:TATASTEEL")  # ~₹172: tick 0.01
    price = math.floor(ltp * 0.97 * 20) / 20 + 0.03  # x.x3 / x.x8: not a 0.05 multiple
    oid = kite.place_order("regular", "NSE", "TATASTEEL", "BUY", 1, "CNC", "LIMIT",
                           price=round(price, 2))
    assert _status(kite, oid) == "OPEN"
    assert kite.order_history(oid)[-1]["price"] == round(price, 2)
    with pytest.raises(InputException, match=r"Tick size for this script is 0\.01"):
        kite.place_order("regular", "NSE", "TATASTEEL", "BUY", 1, "CNC", "LIMIT",
                         price=round(price, 2) + 0.005)
    fut = _instrument(kite, "NFO", lambda i: i["name"] == "TATASTEEL"
                      and i["instrument_type"] == "FUT")
    fprice = math.floor(_ltp(kite, f"NFO:{fut['tradingsymbol']}") * 0.97 * 20) / 20 + 0.01
    foid = kite.place_order("regular", "NFO", fut["tradingsymbol"], "BUY", fut["lot_size"],
                            "NRML", "LIMIT", price=round(fprice, 2))
    assert _status(kite, foid) == "OPEN"
    with pytest.raises(InputException, match=r"Tick size for this script is 0\.05"):
        kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT", price=1000.03)
    kite.cancel_order("regular", oid)
    kite.cancel_order("regular", foid)


def test_market_and_sl_m_orders_need_market_protection_in_kites_bounds(kitesim_server):
    kite = kitesim_server.kite()
    with pytest.raises(InputException, match="Market orders without market protection"):
        kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "MARKET")
    with pytest.raises(InputException, match="Market orders without market protection"):
        kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "SL-M",
                         trigger_price=_tick(_ltp(kite, "NSE:SBIN") * 1.02),
                         market_protection=0)
    for bad in (101, 0.5, -2):
        with pytest.raises(InputException, match="market_protection"):
            kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "MARKET",
                             market_protection=bad)
    with pytest.raises(InputException, match="failed to decode market_protection"):
        kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "MARKET",
                         market_protection="lots")
    auto = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "MARKET",
                            market_protection=-1)
    last = kite.order_history(auto)[-1]
    assert last["status"] == "COMPLETE" and last["market_protection"] == -1
    # modify: a LIMIT order turned MARKET needs protection too (Kite rejects 0 on modify)
    lim = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "LIMIT",
                           price=_tick(_ltp(kite, "NSE:SBIN") * 0.95))
    with pytest.raises(InputException, match="Market orders without market protection"):
        kite.modify_order("regular", lim, order_type="MARKET")
    assert _status(kite, lim) == "OPEN"
    kite.modify_order("regular", lim, order_type="MARKET", market_protection=3)
    last = kite.order_history(lim)[-1]
    assert last["status"] == "COMPLETE" and last["order_type"] == "MARKET"


def test_a_refused_modification_changes_nothing_and_bad_fields_are_4xx(kitesim_server):
    kite = kitesim_server.kite()
    price = _tick(_ltp(kite, "NSE:SBIN") * 0.95)
    oid = kite.place_order("regular", "NSE", "SBIN", "BUY", 2, "CNC", "LIMIT", price=price)
    market = {"order_type": "MARKET", "market_protection": MP}
    for bad in ({**market, "quantity": "two"}, {"price": "cheap"},
                {"quantity": 3, "price": round(price + 0.01, 2)},  # SBIN ticks at 0.05
                {**market, "validity": "TTL"}):  # TTL without validity_ttl
        with pytest.raises(InputException):  # HTTP 400, never a 500
            kite.modify_order("regular", oid, **bad)
    last = kite.order_history(oid)[-1]
    assert (last["status"], last["order_type"], last["quantity"], last["price"],
            last["market_protection"], last["modified"]) == ("OPEN", "LIMIT", 2, price, 0,
                                                              False)
    kite.cancel_order("regular", oid)


def test_zerodha_blocks_market_in_stock_options_and_sl_m_on_options_and_bse(kitesim_server):
    kite = kitesim_server.kite()
    opt = _instrument(kite, "NFO", lambda i: i["name"] == "RELIANCE"
                      and i["instrument_type"] == "CE")
    sym, lot = opt["tradingsymbol"], opt["lot_size"]
    with pytest.raises(InputException, match="blocked for stock option"):
        kite.place_order("regular", "NFO", sym, "BUY", lot, "NRML", "MARKET",
                         market_protection=MP)
    oid = kite.place_order("regular", "NFO", sym, "BUY", lot, "NRML", "LIMIT",
                           price=_tick(_ltp(kite, f"NFO:{sym}") * 0.9))
    assert _status(kite, oid) == "OPEN"
    kite.cancel_order("regular", oid)
    nifty = _instrument(kite, "NFO", lambda i: i["name"] == "NIFTY"
                        and i["instrument_type"] == "PE")
    ltp = _ltp(kite, f"NFO:{nifty['tradingsymbol']}")
    with pytest.raises(InputException, match="SL-M orders are blocked"):
        kite.place_order("regular", "NFO", nifty["tradingsymbol"], "BUY", 65, "NRML", "SL-M",
                         trigger_price=_tick(ltp * 1.1), market_protection=MP)
    sbin = _ltp(kite, "BSE:SBIN")
    with pytest.raises(InputException, match="SL-M orders are blocked"):
        kite.place_order("regular", "BSE", "SBIN", "BUY", 1, "MIS", "SL-M",
                         trigger_price=_tick(sbin * 1.02), market_protection=MP)
    # still allowed: SL-M in NSE equity, MARKET in index options
    ok = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "SL-M",
                          trigger_price=_tick(_ltp(kite, "NSE:SBIN") * 1.05),
                          market_protection=MP)
    assert _status(kite, ok) == "TRIGGER PENDING"
    kite.cancel_order("regular", ok)
    idx = kite.place_order("regular", "NFO", nifty["tradingsymbol"], "BUY", 65, "NRML",
                           "MARKET", market_protection=MP)
    assert _status(kite, idx) != "REJECTED"


def _band(ref: float, pct: int, tick: str = "0.05") -> tuple[float, float]:
    """ref × (1 ∓ pct %), the lower floored and the upper ceiled to the tick, by Decimal."""
    ref_d, t = Decimal(str(ref)), Decimal(tick)
    lo = (ref_d * (100 - pct) / 100 / t).quantize(Decimal(1), rounding=ROUND_FLOOR) * t
    hi = (ref_d * (100 + pct) / 100 / t).quantize(Decimal(1), rounding=ROUND_CEILING) * t
    return float(lo), float(hi)


def test_price_bands_follow_the_exchange_classes_and_orders_outside_are_rejected(
        kitesim_server):
    kite = kitesim_server.kite()
    fut = _instrument(kite, "NFO", lambda i: i["name"] == "NIFTY"
                      and i["instrument_type"] == "FUT")["tradingsymbol"]
    q = kite.quote(["NSE:INFY", f"NFO:{fut}"])
    infy = q["NSE:INFY"]
    # INFY is an F&O stock: NSE's dynamic band starts at ±10 % of the previous close
    lo, hi = _band(infy["ohlc"]["close"], 10)
    assert (infy["lower_circuit_limit"], infy["upper_circuit_limit"]) == (lo, hi)
    # index futures: the F&O operating range, ±10 % of the previous close
    f = q[f"NFO:{fut}"]
    assert (f["lower_circuit_limit"], f["upper_circuit_limit"]) == _band(f["ohlc"]["close"], 10)
    oid = kite.place_order("regular", "NSE", "INFY", "SELL", 1, "CNC", "LIMIT",
                           price=round(hi + 0.05, 2))
    last = kite.order_history(oid)[-1]
    assert last["status"] == "REJECTED" and "upper circuit limit of" in last["status_message"]
    inside = kite.place_order("regular", "NSE", "INFY", "SELL", 1, "CNC", "LIMIT",
                              price=round(hi - 0.05, 2))
    assert _status(kite, inside) == "OPEN"  # inside the band (the old ±20 % said so too)
    kite.cancel_order("regular", inside)
    low = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT",
                           price=round(lo - 0.05, 2))  # was inside the old flat ±20 %
    assert "lower circuit limit" in kite.order_history(low)[-1]["status_message"]


def test_option_band_tracks_the_premium_like_lpp(kitesim_server):
    kite = kitesim_server.kite()
    opts = [i for i in kite.instruments("NFO") if i["name"] == "NIFTY"
            and i["instrument_type"] == "CE"]
    spot = _ltp(kite, "NSE:NIFTY 50")
    near = min(opts, key=lambda i: (i["expiry"], abs(i["strike"] - spot)))
    cheap = max((i for i in opts if i["expiry"] == near["expiry"]), key=lambda i: i["strike"])
    keys = [f"NFO:{near['tradingsymbol']}", f"NFO:{cheap['tradingsymbol']}"]
    q = kite.quote(keys)
    rich, poor = q[keys[0]], q[keys[1]]
    assert rich["last_price"] > 50 >= poor["last_price"]
    # above ₹50: ±40 % of the last price; at or below: ±₹20 (never below one tick)
    assert (rich["lower_circuit_limit"], rich["upper_circuit_limit"]) == \
        _band(rich["last_price"], 40)
    want_hi = float(Decimal(str(poor["last_price"])) + 20)
    assert poor["lower_circuit_limit"] == 0.05 and poor["upper_circuit_limit"] == want_hi


def test_postbacks_skip_placement_and_amo_changes_as_kite_does(kitesim_server):
    kite = kitesim_server.kite()
    frames: list[dict] = []
    kitesim_server.sim.oms.listeners.append(frames.append)  # the WS postback feed
    try:
        oid = kite.place_order("regular", "NSE", "ITC", "BUY", 1, "CNC", "LIMIT",
                               price=_tick(_ltp(kite, "NSE:ITC") * 0.95))
        assert _status(kite, oid) == "OPEN"
        assert [f["status"] for f in frames if f["order_id"] == oid] == []
        kite.modify_order("regular", oid, price=_tick(_ltp(kite, "NSE:ITC") * 0.94))
        kite.cancel_order("regular", oid)
        assert [f["status"] for f in frames if f["order_id"] == oid] == ["UPDATE", "CANCELLED"]
    finally:
        kitesim_server.sim.oms.listeners.remove(frames.append)


def _at(server, iso: str):
    """Move the simulated clock and log in again (tokens lapse at 06:00)."""
    server.admin("clock", {"now": iso})
    return server.kite(server.login())


def test_amo_windows_release_at_0900_or_0915_and_the_pre_open_takes_equity_orders():
    server = start_kitesim(start=datetime(2025, 11, 20, 15, 50, tzinfo=IST), rate_limits=False)
    try:
        kite = server.kite()
        infy = _ltp(kite, "NSE:INFY")
        fut = _instrument(kite, "NFO", lambda i: i["name"] == "NIFTY"
                          and i["instrument_type"] == "FUT")["tradingsymbol"]
        fut_ltp = _ltp(kite, f"NFO:{fut}")
        # 15:50 Thursday: the F&O AMO window has opened (15:45), the equity one not (16:00)
        with pytest.raises(InputException, match="AMO orders for this segment"):
            kite.place_order("amo", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT",
                             price=_tick(infy * 0.97))
        f_oid = kite.place_order("amo", "NFO", fut, "BUY", 65, "NRML", "LIMIT",
                                 price=_tick(fut_ltp * 0.97))
        kite = _at(server, "2025-11-20T16:05:00+05:30")
        e_oid = kite.place_order("amo", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT",
                                 price=_tick(infy * 0.97))
        sl_oid = kite.place_order("amo", "NSE", "INFY", "BUY", 1, "CNC", "SL",
                                  price=_tick(infy * 1.06), trigger_price=_tick(infy * 1.05))
        frames: list[dict] = []
        server.sim.oms.listeners.append(frames.append)
        kite.modify_order("amo", e_oid, price=_tick(infy * 0.96))
        assert frames == []  # no postback for AMO modifications
        kite = _at(server, "2025-11-21T01:30:00+05:30")
        with pytest.raises(InputException, match="between 01:00 AM and 05:30 AM"):
            kite.place_order("amo", "NFO", fut, "BUY", 65, "NRML", "LIMIT",
                             price=_tick(fut_ltp * 0.97))
        kite = _at(server, "2025-11-21T08:59:00+05:30")
        with pytest.raises(InputException, match="AMO orders for this segment"):
            kite.place_order("amo", "NSE", "SBIN", "BUY", 1, "CNC", "LIMIT", price=900)
        with pytest.raises(InputException, match="Markets are closed"):
            kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "CNC", "LIMIT", price=900)
        f2 = kite.place_order("amo", "NFO", fut, "BUY", 65, "NRML", "LIMIT",
                              price=_tick(fut_ltp * 0.97))  # F&O AMOs until 09:10
        kite = _at(server, "2025-11-21T09:02:00+05:30")
        # an equity LIMIT AMO goes to the exchange at 09:00 (pre-open); SL and F&O at 09:15
        hist = kite.order_history(e_oid)
        assert [h["status"] for h in hist][-3:] == ["AMO REQ RECEIVED", "OPEN PENDING", "OPEN"]
        assert hist[-1]["exchange_timestamp"] == datetime(2025, 11, 21, 9, 0)
        assert _status(kite, sl_oid) == "AMO REQ RECEIVED"
        assert _status(kite, f_oid) == _status(kite, f2) == "AMO REQ RECEIVED"
        # the pre-open (09:00-09:08) takes equity DAY orders, not F&O, not IOC
        sbin = _ltp(kite, "NSE:SBIN")
        pre = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "CNC", "LIMIT",
                               price=_tick(sbin * 0.97))
        assert _status(kite, pre) == "OPEN" and kite.order_trades(pre) == []
        with pytest.raises(InputException, match="Markets are closed"):
            kite.place_order("regular", "NFO", fut, "BUY", 65, "NRML", "LIMIT",
                             price=_tick(fut_ltp * 0.97))
        with pytest.raises(InputException, match="pre-open"):
            kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "CNC", "LIMIT",
                             price=_tick(sbin * 0.97), validity="IOC")
        kite = _at(server, "2025-11-21T09:15:05+05:30")
        for oid in (sl_oid, f_oid, f2):
            hist = kite.order_history(oid)
            assert hist[-1]["status"] != "AMO REQ RECEIVED"
            assert hist[-1]["exchange_timestamp"] == datetime(2025, 11, 21, 9, 15)
        # during market hours an AMO is refused, as Kite does
        with pytest.raises(InputException, match="AMO orders for this segment"):
            kite.place_order("amo", "NSE", "SBIN", "BUY", 1, "CNC", "LIMIT",
                             price=_tick(sbin * 0.97))
        with pytest.raises(InputException, match="AMO orders for this segment"):
            kite.place_order("amo", "NFO", fut, "BUY", 65, "NRML", "LIMIT",
                             price=_tick(fut_ltp * 0.97))
    finally:
        server.stop()


def test_fresh_mis_orders_are_refused_after_the_cut_off_and_the_squared_off_side_with_them():
    """After the cut-off a fresh MIS order is refused. The broker squares every MIS position
    off at the cut-off second itself (dayroll.py), so at 15:21 the morning's 10 SBIN are flat
    and a SELL, an exit a minute earlier, is now a fresh short and refused too (the exit rule
    for a position still open is in tests/unit/kitesim/test_rules.py). CNC still goes through;
    F&O MIS runs to 15:25."""
    server = start_kitesim(start=datetime(2025, 11, 20, 15, 10, tzinfo=IST), rate_limits=False)
    try:
        kite = server.kite()
        buy = kite.place_order("regular", "NSE", "SBIN", "BUY", 10, "MIS", "MARKET",
                               market_protection=MP)
        assert _status(kite, buy) == "COMPLETE"
        fut = _instrument(kite, "NFO", lambda i: i["name"] == "NIFTY"
                          and i["instrument_type"] == "FUT")["tradingsymbol"]
        kite = _at(server, "2025-11-20T15:21:00+05:30")
        with pytest.raises(InputException, match="Fresh MIS orders are blocked after 15:20"):
            kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "MARKET",
                             market_protection=MP)
        sbin = next(p for p in kite.positions()["net"]
                    if p["tradingsymbol"] == "SBIN" and p["product"] == "MIS")
        assert (sbin["buy_quantity"], sbin["sell_quantity"]) == (10, 10)  # squared at 15:20
        with pytest.raises(InputException, match="Fresh MIS"):  # nothing left to exit
            kite.place_order("regular", "NSE", "SBIN", "SELL", 4, "MIS", "MARKET",
                             market_protection=MP)
        cnc = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "CNC", "MARKET",
                               market_protection=MP)
        assert _status(kite, cnc) == "COMPLETE"
        price = _tick(_ltp(kite, f"NFO:{fut}") * 0.97)
        fno = kite.place_order("regular", "NFO", fut, "BUY", 65, "MIS", "LIMIT", price=price)
        assert _status(kite, fno) == "OPEN"  # F&O cut-off is 15:25
        kite = _at(server, "2025-11-20T15:26:00+05:30")
        assert _status(kite, fno) == "CANCELLED"  # the broker cancels open MIS at 15:25
        with pytest.raises(InputException, match="after 15:25"):
            kite.place_order("regular", "NFO", fut, "BUY", 65, "MIS", "LIMIT", price=price)
    finally:
        server.stop()


def test_ttl_orders_expire_after_validity_ttl_minutes():
    server = start_kitesim(start=datetime(2025, 11, 20, 10, 0, tzinfo=IST), rate_limits=False)
    try:
        kite = server.kite()
        price = _tick(_ltp(kite, "NSE:INFY") * 0.95)
        with pytest.raises(InputException, match="validity_ttl"):
            kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT", price=price,
                             validity="TTL")
        oid = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT", price=price,
                               validity="TTL", validity_ttl=2)
        placed = kite.order_history(oid)[-1]["exchange_timestamp"]
        kite = _at(server, (placed + timedelta(seconds=90)).isoformat() + "+05:30")
        assert _status(kite, oid) == "OPEN"  # 1.5 of 2 minutes
        kite = _at(server, (placed + timedelta(minutes=3)).isoformat() + "+05:30")
        last = kite.order_history(oid)[-1]
        assert last["status"] == "CANCELLED" and "TTL" in last["status_message"]
        assert last["order_timestamp"] == placed + timedelta(minutes=2)  # placed + 2 min
    finally:
        server.stop()


def test_gtt_triggers_keep_a_quarter_percent_from_the_ltp_and_250_may_be_active():
    server = start_kitesim(rate_limits=False)
    try:
        kite = server.kite()
        ltp = _ltp(kite, "NSE:INFY")
        leg = [{"transaction_type": "BUY", "quantity": 1, "price": _tick(ltp * 0.9),
                "order_type": "LIMIT", "product": "CNC"}]
        # 0.25 % of ~₹1500 is ~₹3.75; a trigger at the LTP itself is too close
        with pytest.raises(InputException, match="too close to the last price"):
            kite.place_gtt(kite.GTT_TYPE_SINGLE, "INFY", "NSE", [_tick(ltp)], ltp, leg)
        first = kite.place_gtt(kite.GTT_TYPE_SINGLE, "INFY", "NSE", [_tick(ltp * 0.9)], ltp,
                               leg)["trigger_id"]
        with pytest.raises(InputException, match="too close to the last price"):
            kite.modify_gtt(first, kite.GTT_TYPE_SINGLE, "INFY", "NSE", [_tick(ltp)], ltp, leg)
        for _ in range(249):  # 250 active in all
            kite.place_gtt(kite.GTT_TYPE_SINGLE, "INFY", "NSE", [_tick(ltp * 0.9)], ltp, leg)
        with pytest.raises(InputException, match="at most 250 active GTTs"):
            kite.place_gtt(kite.GTT_TYPE_SINGLE, "INFY", "NSE", [_tick(ltp * 0.9)], ltp, leg)
        kite.delete_gtt(first)
        assert kite.place_gtt(kite.GTT_TYPE_SINGLE, "INFY", "NSE", [_tick(ltp * 0.9)], ltp,
                              leg)["trigger_id"]
    finally:
        server.stop()


def test_orders_in_the_pre_open_start_matching_at_0915():
    server = start_kitesim(start=datetime(2025, 11, 21, 9, 3, tzinfo=IST), rate_limits=False)
    try:
        kite = server.kite()
        ltp = _ltp(kite, "NSE:SBIN")  # Thursday's last price until 09:15
        oid = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "CNC", "LIMIT",
                               price=_tick(ltp * 1.05))
        time.sleep(0.5)
        assert _status(kite, oid) == "OPEN" and kite.order_trades(oid) == []
        kite = _at(server, "2025-11-21T09:15:03+05:30")
        trades = kite.order_trades(oid)
        assert len(trades) == 1 and trades[0]["fill_timestamp"] >= datetime(2025, 11, 21, 9, 15)
    finally:
        server.stop()
