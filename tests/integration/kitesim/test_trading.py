"""Orders, matching, GTT, portfolio and quotes through the unmodified kiteconnect client."""

from __future__ import annotations

import time

import pytest
from kiteconnect.exceptions import InputException, OrderException

from mandi.testing.kitesim import kite_sample as sample
from mandi.testing.kitesim import shape_diff, start_kitesim

PLACE = ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"]
MP = 2  # market protection (%): Kite refuses MARKET/SL-M orders without it


def _ltp(kite, key: str) -> float:
    return kite.ltp([key])[key]["last_price"]


def _tick(x: float) -> float:
    return round(round(x * 20) / 20, 2)


def _wait(cond, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_place_modify_cancel_walks_kites_status_progression(kitesim_server):
    kite = kitesim_server.kite()
    ltp = _ltp(kite, "NSE:TCS")
    oid = kite.place_order("regular", "NSE", "TCS", "BUY", 2, "CNC", "LIMIT",
                           price=_tick(ltp * 0.95), tag="mandi1")
    assert [h["status"] for h in kite.order_history(oid)] == [*PLACE, "OPEN"]
    assert kite.modify_order("regular", oid, price=_tick(ltp * 0.94), quantity=3) == oid
    assert kite.cancel_order("regular", oid) == oid
    hist = kite.order_history(oid)
    assert [h["status"] for h in hist] == [
        *PLACE, "OPEN", "MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED", "OPEN",
        "CANCEL PENDING", "CANCELLED"]
    last = hist[-1]
    assert last["quantity"] == 3 and last["cancelled_quantity"] == 3 and last["modified"]
    assert last["price"] == _tick(ltp * 0.94) and last["tag"] == "mandi1"
    assert last["order_timestamp"].tzinfo is None  # the client's naive IST datetime
    with pytest.raises(OrderException):
        kite.cancel_order("regular", oid)
    with pytest.raises(OrderException):
        kite.modify_order("regular", oid, price=_tick(ltp * 0.9))


def test_limit_buy_fills_only_after_the_price_crosses(kitesim_server):
    kite = kitesim_server.kite()
    ltp = _ltp(kite, "NSE:HDFCBANK")
    limit = _tick(ltp * 0.98)
    oid = kite.place_order("regular", "NSE", "HDFCBANK", "BUY", 5, "MIS", "LIMIT", price=limit)
    time.sleep(1.5)
    assert kite.order_history(oid)[-1]["status"] == "OPEN"
    assert kite.order_trades(oid) == []
    try:
        kitesim_server.admin("price", {"exchange": "NSE", "tradingsymbol": "HDFCBANK",
                                       "price": _tick(ltp * 0.97)})
        final = _wait(lambda: [h for h in kite.order_history(oid)
                               if h["status"] == "COMPLETE"])
    finally:
        kitesim_server.admin("price", {"clear": True})
    assert final[0]["average_price"] == limit and final[0]["filled_quantity"] == 5
    trades = kite.order_trades(oid)
    assert sum(t["quantity"] for t in trades) == 5 and trades[0]["average_price"] == limit
    pos = {p["tradingsymbol"]: p for p in kite.positions()["net"]}["HDFCBANK"]
    assert pos["quantity"] == 5 and pos["average_price"] == limit


def test_marketable_limit_on_arrival_takes_the_touch_of_its_second(kitesim_server):
    """An arriving marketable LIMIT trades at the touch of the second it reaches the market in:
    a buy at the trade price (the book's best ask sits on it), a sell at the best bid, one tick
    (SBIN, above ₹250: 0.05) under it. Checked against the price path at the fill's own second,
    so the figure is exact however late the order arrives on a loaded machine."""
    from mandi.core.clock import IST

    kite = kitesim_server.kite()
    market = kitesim_server.sim.market
    inst = market.universe.get("NSE", "SBIN")
    ltp = _ltp(kite, "NSE:SBIN")

    def path_paise(trade: dict) -> int:  # the simulated trade price in the fill's second
        at = trade["fill_timestamp"].replace(tzinfo=IST)  # the client's naive IST datetime
        return market.ltp(inst, int(at.timestamp()))

    buy = kite.place_order("regular", "NSE", "SBIN", "BUY", 3, "MIS", "LIMIT",
                           price=_tick(ltp * 1.02))
    sell = kite.place_order("regular", "NSE", "SBIN", "SELL", 3, "MIS", "LIMIT",
                            price=_tick(ltp * 0.98))
    (bt,), (st,) = kite.order_trades(buy), kite.order_trades(sell)
    assert round(bt["average_price"] * 100) == path_paise(bt)
    assert round(st["average_price"] * 100) == path_paise(st) - 5
    assert round(st["average_price"] * 100) > round(_tick(ltp * 0.98) * 100)


def test_sl_m_buy_waits_for_trigger_then_fills_at_market(kitesim_server):
    kite = kitesim_server.kite()
    ltp = _ltp(kite, "NSE:ITC")
    trig = _tick(ltp * 1.02)
    oid = kite.place_order("regular", "NSE", "ITC", "BUY", 10, "MIS", "SL-M",
                           trigger_price=trig, market_protection=MP)
    assert kite.order_history(oid)[-1]["status"] == "TRIGGER PENDING"
    try:
        kitesim_server.admin("price", {"exchange": "NSE", "tradingsymbol": "ITC",
                                       "price": _tick(ltp * 1.03)})
        done = _wait(lambda: [h for h in kite.order_history(oid)
                              if h["status"] == "COMPLETE"])
    finally:
        kitesim_server.admin("price", {"clear": True})
    assert done[0]["average_price"] >= trig


def test_market_order_fills_immediately_and_large_orders_fill_partially(kitesim_server):
    kite = kitesim_server.kite()
    oid = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS", "MARKET",
                           market_protection=MP)
    assert kite.order_history(oid)[-1]["status"] == "COMPLETE"
    big = kite.place_order("regular", "BSE", "WIPRO", "BUY", 6000, "MIS", "MARKET",
                           market_protection=MP)
    kitesim_server.admin("clock", {"speed": 30})  # let the thin book trade faster
    try:
        hist = _wait(lambda: (h := kite.order_history(big))[-1]["status"] == "COMPLETE" and h)
    finally:
        kitesim_server.admin("clock", {"speed": 1})
    partial = [h for h in hist if h["status"] == "OPEN" and 0 < h["filled_quantity"] < 6000]
    assert partial, "a 6000-share order on a thin book should fill in several steps"
    assert len(kite.order_trades(big)) >= 2


def test_rejections_carry_kite_style_messages(kitesim_server):
    kite = kitesim_server.kite()
    oid = kite.place_order("regular", "NSE", "MARUTI", "BUY", 1000, "CNC", "MARKET",
                           market_protection=MP)
    rej = kite.order_history(oid)[-1]
    assert rej["status"] == "REJECTED" and rej["status_message"].startswith(
        "Insufficient funds. Required margin is")
    assert rej["exchange_order_id"] is None
    ltp = _ltp(kite, "NSE:INFY")
    oid = kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT",
                           price=_tick(ltp * 0.5))
    assert "lower circuit limit" in kite.order_history(oid)[-1]["status_message"]
    opt = next(i for i in kite.instruments("NFO") if i["name"] == "NIFTY"
               and i["instrument_type"] == "CE")
    with pytest.raises(InputException, match="lot size 65"):
        kite.place_order("regular", "NFO", opt["tradingsymbol"], "BUY", 10, "NRML", "MARKET",
                         market_protection=MP)
    with pytest.raises(InputException, match="Tick size"):
        kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT", price=1000.03)
    with pytest.raises(InputException):
        kite.place_order("regular", "NSE", "NOSUCH", "BUY", 1, "CNC", "MARKET",
                         market_protection=MP)


def test_gtt_oco_triggers_once_and_places_its_order(kitesim_server):
    kite = kitesim_server.kite()
    ltp = _ltp(kite, "NSE:INFY")
    lower, upper = _tick(ltp * 0.98), _tick(ltp * 1.02)
    legs = [{"transaction_type": "SELL", "quantity": 2, "price": _tick(lower * 0.99),
             "order_type": "LIMIT", "product": "CNC"},
            {"transaction_type": "SELL", "quantity": 2, "price": upper,
             "order_type": "LIMIT", "product": "CNC"}]
    gid = kite.place_gtt(kite.GTT_TYPE_OCO, "INFY", "NSE", [lower, upper], ltp, legs)[
        "trigger_id"]
    assert kite.get_gtt(gid)["status"] == "active"
    try:
        kitesim_server.admin("price", {"exchange": "NSE", "tradingsymbol": "INFY",
                                       "price": _tick(ltp * 1.03)})
        gtt = _wait(lambda: (g := kite.get_gtt(gid))["status"] == "triggered" and g)
        assert gtt["orders"][0]["result"] is None
        result = gtt["orders"][1]["result"]
        assert result["order_result"]["status"] == "success"
        order_id = result["order_result"]["order_id"]
        hist = kite.order_history(order_id)
        assert hist[-1]["transaction_type"] == "SELL" and hist[-1]["price"] == upper
        assert _wait(lambda: kite.order_history(order_id)[-1]["status"] == "COMPLETE")
        # Kite deletes and modifies only an *active* GTT: a fired one is refused, so a caller
        # racing the trigger learns it fired (and does not send its own exit as well)
        with pytest.raises(InputException, match="triggered"):
            kite.delete_gtt(gid)
        assert kite.get_gtt(gid)["status"] == "triggered"
    finally:
        kitesim_server.admin("price", {"clear": True})


def test_gtt_single_create_modify_list_delete(kitesim_server):
    kite = kitesim_server.kite()
    ltp = _ltp(kite, "NSE:RELIANCE")
    order = [{"transaction_type": "BUY", "quantity": 1, "price": _tick(ltp * 0.8),
              "order_type": "LIMIT", "product": "CNC"}]
    gid = kite.place_gtt(kite.GTT_TYPE_SINGLE, "RELIANCE", "NSE", [_tick(ltp * 0.8)], ltp,
                         order)["trigger_id"]
    kite.modify_gtt(gid, kite.GTT_TYPE_SINGLE, "RELIANCE", "NSE", [_tick(ltp * 0.7)], ltp,
                    order)
    assert kite.get_gtt(gid)["condition"]["trigger_values"] == [_tick(ltp * 0.7)]
    assert gid in [g["id"] for g in kite.get_gtts()]
    assert kite.delete_gtt(gid)["trigger_id"] == gid
    assert gid not in [g["id"] for g in kite.get_gtts()]


def test_regular_order_when_market_closed_is_refused_and_amo_opens_at_next_session():
    from datetime import datetime

    from mandi.core.clock import IST

    server = start_kitesim(start=datetime(2025, 11, 20, 18, 0, tzinfo=IST), rate_limits=False)
    try:
        kite = server.kite()
        with pytest.raises(InputException, match="Markets are closed"):
            kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "MARKET",
                             market_protection=MP)
        price = _tick(_ltp(kite, "NSE:INFY") * 0.97)
        oid = kite.place_order("amo", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT", price=price)
        assert kite.order_history(oid)[-1]["status"] == "AMO REQ RECEIVED"
        server.admin("clock", {"now": "2025-11-21T09:15:05+05:30"})
        kite = server.kite(server.login())  # yesterday's token expired at 06:00
        statuses = [h["status"] for h in kite.order_history(oid)]
        assert statuses == [*PLACE[:2], "AMO REQ RECEIVED", "OPEN PENDING", "OPEN"]
        assert kite.order_history(oid)[-1]["exchange_timestamp"].hour == 9
    finally:
        server.stop()


def test_quotes_are_keyed_by_the_callers_strings_and_omit_unknowns(kitesim_server):
    kite = kitesim_server.kite()
    q = kite.quote(["NSE:INFY", "BSE:INFY", "NSE:NIFTY 50", "NSE:NOPE"])
    assert set(q) == {"NSE:INFY", "BSE:INFY", "NSE:NIFTY 50"}
    infy = q["NSE:INFY"]
    assert infy["lower_circuit_limit"] < infy["last_price"] < infy["upper_circuit_limit"]
    assert len(infy["depth"]["buy"]) == 5 and infy["depth"]["buy"][0]["price"] < \
        infy["depth"]["sell"][0]["price"]
    assert set(kite.ohlc(["NSE:SBIN"])["NSE:SBIN"]) == {"instrument_token", "last_price", "ohlc"}
    assert kite.ltp(["256265"])["256265"]["instrument_token"] == 256265


def test_raw_trading_responses_carry_sample_keys(kitesim_server):
    kite = kitesim_server.kite()
    ltp = _ltp(kite, "NSE:SBIN")
    oid = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "CNC", "MARKET", tag="keys",
                           market_protection=MP)
    kite.place_gtt(kite.GTT_TYPE_SINGLE, "SBIN", "NSE", [_tick(ltp * 0.9)], ltp,
                   [{"transaction_type": "BUY", "quantity": 1, "price": _tick(ltp * 0.9),
                     "order_type": "LIMIT", "product": "CNC"}])
    raw = kitesim_server.raw
    checks = {
        "orders": raw("/orders"), "order_info": raw(f"/orders/{oid}"),
        "trades": raw("/trades"), "order_trades": raw(f"/orders/{oid}/trades"),
        "positions": raw("/portfolio/positions"), "holdings": raw("/portfolio/holdings"),
        "quote": raw("/quote?i=NSE:INFY"), "ohlc": raw("/quote/ohlc?i=NSE:INFY"),
        "ltp": raw("/quote/ltp?i=NSE:INFY"), "gtt_get_orders": raw("/gtt/triggers"),
    }
    for name, ours in checks.items():
        assert ours["status"] == "success"
        assert shape_diff(ours, sample(name), skip=("meta",)) == [], name
    one = raw(f"/gtt/triggers/{checks['gtt_get_orders']['data'][0]['id']}")
    assert shape_diff(one["data"], sample("gtt_get_order")["data"], skip=("meta",)) == []
