"""The rest of the Kite v3 surface in kitesim, through the unmodified kiteconnect client and
raw HTTP held to Zerodha's samples: co/iceberg/auction varieties, trigger_range, auctions,
margins with real charges, basket margins, the virtual contract note, position conversion,
mutual funds, and Kite's JSON error envelope on unknown routes."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from urllib.parse import urlencode

import pytest
from kiteconnect import KiteConnect
from kiteconnect.exceptions import GeneralException, InputException, TokenException

from mandi.core.clock import IST
from mandi.testing.kitesim import kite_sample, shape_diff, start_kitesim

MP = 2


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


def _http(server, method: str, path: str, form: dict | None = None,
          body: object = None) -> tuple[int, str, dict]:
    """(status, content type, parsed body) of a raw Kite call with the access token."""
    headers = {"Authorization": f"token {server.api_key}:{server.access_token}",
               "X-Kite-Version": "3"}
    data = None
    if form is not None:
        data = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers["Content-Type"], json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], json.loads(exc.read())


def test_unknown_routes_answer_kites_json_envelope(kitesim_server):
    for method, path in (("GET", "/no/such/route"), ("POST", "/portfolio/nothing"),
                         ("PATCH", "/orders")):
        status, ctype, body = _http(kitesim_server, method, path)
        assert "json" in ctype and status in (404, 405)
        assert body == {"status": "error", "message": "Route not found",
                        "error_type": "GeneralException", "data": None}
    kite = kitesim_server.kite()
    kite._routes["sim.nowhere"] = "/no/such/route"
    with pytest.raises(GeneralException, match="Route not found") as exc:  # not DataException
        kite._get("sim.nowhere")
    assert exc.value.code == 404


def test_refresh_token_route_answers_a_token_exception_not_a_404(kitesim_server):
    # the simulator's app, like a retail Kite Connect app, is issued no refresh token
    kite = KiteConnect(kitesim_server.api_key, root=kitesim_server.url)
    with pytest.raises(TokenException, match="refresh token") as exc:
        kite.renew_access_token("not-a-token", kitesim_server.api_secret)
    assert exc.value.code == 403


def test_place_responses_have_zerodhas_shape(kitesim_server):
    ltp = _ltp(kitesim_server.kite(), "NSE:SBIN")
    status, _, body = _http(kitesim_server, "POST", "/orders/regular", form={
        "exchange": "NSE", "tradingsymbol": "SBIN", "transaction_type": "BUY", "quantity": 1,
        "product": "CNC", "order_type": "LIMIT", "price": _tick(ltp * 0.95)})
    assert status == 200 and shape_diff(body, kite_sample("order_response")) == []
    status, _, body = _http(kitesim_server, "POST", "/gtt/triggers", form={
        "type": "single",
        "condition": json.dumps({"exchange": "NSE", "tradingsymbol": "SBIN",
                                 "trigger_values": [_tick(ltp * 0.9)], "last_price": ltp}),
        "orders": json.dumps([{"exchange": "NSE", "tradingsymbol": "SBIN",
                               "transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT",
                               "product": "CNC", "price": _tick(ltp * 0.9)}])})
    assert status == 200 and shape_diff(body, kite_sample("gtt_place_order")) == []
    assert isinstance(body["data"]["trigger_id"], int)


def test_modify_cancel_gtt_and_session_responses_have_zerodhas_shape(kitesim_server):
    kite = kitesim_server.kite()
    ltp = _ltp(kite, "NSE:ITC")
    oid = kite.place_order("regular", "NSE", "ITC", "BUY", 1, "CNC", "LIMIT",
                           price=_tick(ltp * 0.95))
    checks = [(_http(kitesim_server, "PUT", f"/orders/regular/{oid}",
                     form={"price": _tick(ltp * 0.94)}), "order_modify"),
              (_http(kitesim_server, "DELETE", f"/orders/regular/{oid}"), "order_cancel")]
    leg = [{"transaction_type": "BUY", "quantity": 1, "price": _tick(ltp * 0.9),
            "order_type": "LIMIT", "product": "CNC"}]
    gid = kite.place_gtt(kite.GTT_TYPE_SINGLE, "ITC", "NSE", [_tick(ltp * 0.9)], ltp,
                         leg)["trigger_id"]
    form = {"type": "single",
            "condition": json.dumps({"exchange": "NSE", "tradingsymbol": "ITC",
                                     "trigger_values": [_tick(ltp * 0.88)], "last_price": ltp}),
            "orders": json.dumps([{**leg[0], "exchange": "NSE", "tradingsymbol": "ITC"}])}
    checks += [(_http(kitesim_server, "PUT", f"/gtt/triggers/{gid}", form=form),
                "gtt_modify_order"),
               (_http(kitesim_server, "DELETE", f"/gtt/triggers/{gid}"), "gtt_delete_order"),
               (_http(kitesim_server, "GET", "/user/margins/commodity"), "margin_commodity")]
    spare = KiteConnect(kitesim_server.api_key, root=kitesim_server.url).generate_session(
        kitesim_server.request_token(), kitesim_server.api_secret)["access_token"]
    checks.append((_http(kitesim_server, "DELETE", "/session/token?" + urlencode(
        {"api_key": kitesim_server.api_key, "access_token": spare})), "session_logout"))
    for (status, ctype, body), name in checks:
        assert status == 200 and "json" in ctype, name
        assert shape_diff(body, kite_sample(name)) == [], name
    assert checks[-1][0][2]["data"] is True


def test_malformed_gtt_forms_are_400s_naming_the_field(kitesim_server):
    ltp = _ltp(kitesim_server.kite(), "NSE:SBIN")
    cond = {"exchange": "NSE", "tradingsymbol": "SBIN", "trigger_values": [_tick(ltp * 0.9)],
            "last_price": ltp}
    leg = {"exchange": "NSE", "tradingsymbol": "SBIN", "transaction_type": "BUY",
           "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": _tick(ltp * 0.9)}
    for condition, orders, field in (
            ({**cond, "trigger_values": ["abc"]}, [leg], "trigger_values"),
            ([cond], [leg], "condition"), (cond, [{**leg, "quantity": "x"}], "quantity"),
            (cond, {"not": "a list"}, "orders")):
        status, _, body = _http(kitesim_server, "POST", "/gtt/triggers", form={
            "type": "single", "condition": json.dumps(condition), "orders": json.dumps(orders)})
        assert (status, body["error_type"]) == (400, "InputException"), field
        assert f"`{field}`" in body["message"]


def test_autoslice_splits_an_order_above_the_freeze_limit(kitesim_server):
    kite = kitesim_server.kite()
    spot = _ltp(kite, "NSE:NIFTY 50")
    opt = min((i for i in kite.instruments("NFO") if i["name"] == "NIFTY"
               and i["instrument_type"] == "PE"),
              key=lambda i: (i["expiry"], abs(i["strike"] - spot)))  # at the money: > ₹50
    price = _tick(_ltp(kite, f"NFO:{opt['tradingsymbol']}") * 0.8)  # rests, inside ±40 %
    with pytest.raises(InputException, match="freeze limit"):
        kite.place_order("regular", "NFO", opt["tradingsymbol"], "BUY", 1950, "NRML", "LIMIT",
                         price=price)
    out = kite.place_autoslice_order("regular", "NFO", opt["tradingsymbol"], "BUY", 1950,
                                     "NRML", "LIMIT", price=price)
    assert shape_diff({"status": "success", "data": out}, kite_sample("autoslice_response")) \
        == []
    # NIFTY freeze 1800 at lot 65: slices of 1800 // 65 = 27 lots = 1755, then 1950 − 1755 = 195
    ids = [c["order_id"] for c in out["children"]]
    assert [kite.order_history(i)[-1]["quantity"] for i in ids] == [1755, 195]
    assert out["order_id"] not in ids
    for i in ids:
        if kite.order_history(i)[-1]["status"] == "OPEN":
            kite.cancel_order("regular", i)
    with pytest.raises(InputException, match="at most 10 slices"):  # 11 × 1755 > 10 slices
        kite.place_autoslice_order("regular", "NFO", opt["tradingsymbol"], "BUY", 19305,
                                   "NRML", "LIMIT", price=price)


def test_trigger_range_and_cover_order_with_its_stop_loss_leg(kitesim_server):
    kite = kitesim_server.kite()
    status, _, raw = _http(kitesim_server, "GET",
                           "/instruments/trigger_range/buy?i=NSE:INFY&i=NSE:RELIANCE")
    assert status == 200 and shape_diff(raw, kite_sample("trigger_range")) == []
    rng = kite.trigger_range("buy", "NSE:INFY")["NSE:INFY"]
    ltp = _ltp(kite, "NSE:INFY")
    assert rng["lower"] < ltp < rng["upper"]
    with pytest.raises(InputException, match="trigger_price"):  # a BUY's stop sits below
        kite.place_order("co", "NSE", "INFY", "BUY", 1, "CO", "MARKET", market_protection=MP,
                         trigger_price=_tick(ltp * 1.01))
    with pytest.raises(InputException, match="trigger_price"):  # outside the range
        kite.place_order("co", "NSE", "INFY", "BUY", 1, "CO", "MARKET", market_protection=MP,
                         trigger_price=_tick(rng["lower"] * 0.95))
    stop = _tick(ltp * 0.99)
    oid = kite.place_order("co", "NSE", "INFY", "BUY", 1, "CO", "MARKET", market_protection=MP,
                           trigger_price=stop)
    assert kite.order_history(oid)[-1]["status"] == "COMPLETE"
    legs = _wait(lambda: [o for o in kite.orders() if o["parent_order_id"] == oid])
    (sl,) = legs
    assert (sl["variety"], sl["order_type"], sl["transaction_type"], sl["product"]) == \
        ("co", "SL-M", "SELL", "CO")
    assert sl["trigger_price"] == stop and sl["status"] == "TRIGGER PENDING"
    kite.cancel_order("co", sl["order_id"])


def test_iceberg_order_places_its_legs_one_after_another(kitesim_server):
    kite = kitesim_server.kite()
    price = _tick(_ltp(kite, "NSE:HDFCBANK") * 1.01)  # marketable: each leg fills at once
    with pytest.raises(InputException, match="iceberg_legs"):
        kite.place_order("iceberg", "NSE", "HDFCBANK", "BUY", 10, "MIS", "LIMIT", price=price,
                         iceberg_legs=11, iceberg_quantity=1)
    with pytest.raises(InputException, match="iceberg_quantity"):  # 3 × 3 = 9 < 10
        kite.place_order("iceberg", "NSE", "HDFCBANK", "BUY", 10, "MIS", "LIMIT", price=price,
                         iceberg_legs=3, iceberg_quantity=3)
    first = kite.place_order("iceberg", "NSE", "HDFCBANK", "BUY", 10, "MIS", "LIMIT",
                             price=price, iceberg_legs=3, iceberg_quantity=4)
    legs = _wait(lambda: (o := [x for x in kite.orders() if x["variety"] == "iceberg"
                                and x["tradingsymbol"] == "HDFCBANK"]) and len(o) == 3 and o)
    assert legs[0]["order_id"] == first
    # 10 in legs of 4: 4 + 4 + 2, remaining 10 → 6 → 2
    assert [o["quantity"] for o in legs] == [4, 4, 2]
    assert [o["meta"]["iceberg"]["leg"] for o in legs] == [1, 2, 3]
    assert [o["meta"]["iceberg"]["remaining_quantity"] for o in legs] == [10, 6, 2]
    assert all(o["meta"]["iceberg"]["total_quantity"] == 10 for o in legs)
    assert all(o["status"] == "COMPLETE" for o in legs)


def test_auction_list_and_auction_order(kitesim_server):
    kite = kitesim_server.kite()
    status, _, raw = _http(kitesim_server, "GET", "/portfolio/holdings/auctions")
    assert status == 200 and shape_diff(raw, kite_sample("auctions_list")) == []
    listed = {a["tradingsymbol"]: a for a in kite.get_auction_instruments()}
    assert {"INFY", "RELIANCE", "SBIN"} <= set(listed)  # the seeded holdings
    number = listed["SBIN"]["auction_number"]
    price = _tick(_ltp(kite, "NSE:SBIN") * 1.05)
    with pytest.raises(InputException, match="auction_number"):
        kite.place_order("auction", "NSE", "SBIN", "SELL", 1, "CNC", "LIMIT", price=price,
                         auction_number=str(int(number) + 1))
    oid = kite.place_order("auction", "NSE", "SBIN", "SELL", 1, "CNC", "LIMIT", price=price,
                           auction_number=number)
    last = kite.order_history(oid)[-1]
    assert last["variety"] == "auction" and last["auction_number"] == number
    assert last["status"] == "OPEN"
    kite.cancel_order("auction", oid)


def test_order_margins_carry_real_charges(kitesim_server):
    kite = kitesim_server.kite()
    status, _, raw = _http(kitesim_server, "POST", "/margins/orders", body=[
        {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
         "variety": "regular", "product": "CNC", "order_type": "LIMIT", "quantity": 10,
         "price": 1500}])
    assert status == 200 and shape_diff(raw, kite_sample("order_margins")) == []
    (row,) = raw["data"]
    c = row["charges"]
    # delivery buy, 10 × ₹1500 = ₹15,000 turnover (1,500,000 paise), 2024-10-01 rates:
    # STT 0.1 % = ₹15.00; NSE txn 0.00297 % + IPFT 0.0001 % = 0.00307 % = 46.05 → 46 paise;
    # SEBI 0.0001 % = 1.5 → 2 paise; stamp 0.015 % = ₹2.25; brokerage 0;
    # GST 18 % × (0 + 46 + 2) = 8.64 → 9 paise
    assert (c["transaction_tax"], c["exchange_turnover_charge"], c["sebi_turnover_charge"],
            c["stamp_duty"], c["brokerage"], c["gst"]["total"]) == (15.0, 0.46, 0.02, 2.25,
                                                                   0, 0.09)
    assert c["total"] == 17.82  # 1500 + 46 + 2 + 225 + 0 + 9 = 1782 paise
    assert row["total"] == 15000.0  # delivery: the full value
    nifty = next(i for i in kite.instruments("NFO") if i["name"] == "NIFTY"
                 and i["instrument_type"] == "CE")
    (opt,) = kite.order_margins([{"exchange": "NFO", "tradingsymbol": nifty["tradingsymbol"],
                                  "transaction_type": "BUY", "variety": "regular",
                                  "product": "NRML", "order_type": "LIMIT", "quantity": 65,
                                  "price": 100}])
    c = opt["charges"]
    # option buy, 65 × ₹100 = 650,000 paise premium: brokerage flat ₹20; STT 0 on a buy;
    # txn 0.03503 % + IPFT 0.0005 % = 0.03553 % = 230.945 → 231 paise; SEBI 0.65 → 1 paisa;
    # stamp 0.003 % = 19.5 → 20; GST 18 % × (2000 + 231 + 1) = 401.76 → 402 paise;
    # total 2000 + 231 + 1 + 20 + 402 = 2654 paise
    assert (c["brokerage"], c["transaction_tax"], c["exchange_turnover_charge"],
            c["sebi_turnover_charge"], c["stamp_duty"], c["gst"]["total"], c["total"]) == \
        (20.0, 0.0, 2.31, 0.01, 0.2, 4.02, 26.54)
    assert opt["option_premium"] == 6500.0 and opt["total"] == 6500.0
    with pytest.raises(InputException, match="quantity"):
        kite.order_margins([{"exchange": "NSE", "tradingsymbol": "INFY",
                             "transaction_type": "BUY", "product": "CNC", "quantity": "x"}])
    status, _, raw = _http(kitesim_server, "POST", "/margins/orders", body=[
        {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
         "product": "CNC", "quantity": float("inf"), "price": 1500}])  # JSON Infinity
    assert (status, raw["error_type"]) == (400, "InputException")
    with pytest.raises(InputException, match="quantity"):  # inf, not a 500
        kite.place_order("regular", "NSE", "INFY", "BUY", "1e400", "CNC", "LIMIT", price=1500)


def test_basket_margins_offset_a_spread_and_charges_orders_is_a_contract_note(kitesim_server):
    kite = kitesim_server.kite()
    opts = [i for i in kite.instruments("NFO") if i["name"] == "NIFTY"
            and i["instrument_type"] == "CE"]
    a, b = opts[0], opts[2]
    basket = [{"exchange": "NFO", "tradingsymbol": a["tradingsymbol"], "transaction_type": "SELL",
               "variety": "regular", "product": "NRML", "order_type": "LIMIT", "quantity": 65,
               "price": 150},
              {"exchange": "NFO", "tradingsymbol": b["tradingsymbol"], "transaction_type": "BUY",
               "variety": "regular", "product": "NRML", "order_type": "LIMIT", "quantity": 65,
               "price": 100}]
    status, _, raw = _http(kitesim_server, "POST", "/margins/basket?consider_positions=True",
                           body=basket)
    assert status == 200 and shape_diff(raw, kite_sample("basket_margins")) == []
    data = kite.basket_order_margins(basket, consider_positions=True)
    assert len(data["orders"]) == 2
    # the bought call's premium (65 × ₹100 = ₹6,500) offsets the sold call's margin
    assert data["initial"]["total"] == sum(o["total"] for o in data["orders"])
    assert round(data["initial"]["total"] - data["final"]["total"], 2) == 6500.0
    status, _, raw = _http(kitesim_server, "POST", "/charges/orders", body=[
        {"order_id": "1", "exchange": "NSE", "tradingsymbol": "SBIN", "transaction_type": "BUY",
         "variety": "regular", "product": "CNC", "order_type": "MARKET", "quantity": 1,
         "average_price": 560}])
    assert status == 200 and shape_diff(raw, kite_sample("virtual_contract_note")) == []
    c = raw["data"][0]["charges"]
    # SBIN delivery buy 1 × ₹560 = 56,000 paise: STT 0.1 % = 56 paise (Zerodha's sample says
    # 0.56 too); txn 0.00297 % = 1.66 → 2 paise; SEBI 0.056 → 0; stamp 0.015 % = 8.4 → 8;
    # GST 18 % × 2 = 0.36 → 0; total 66 paise
    assert (c["transaction_tax"], c["exchange_turnover_charge"], c["stamp_duty"],
            c["total"]) == (0.56, 0.02, 0.08, 0.66)


def test_convert_position_moves_quantity_and_refuses_what_does_not_exist():
    server = start_kitesim(rate_limits=False)
    try:
        kite = server.kite()
        status, _, raw = _http(server, "PUT", "/portfolio/positions", form={
            "exchange": "NSE", "tradingsymbol": "TCS", "transaction_type": "BUY",
            "position_type": "day", "quantity": 1, "old_product": "MIS",
            "new_product": "CNC"})
        assert status == 400 and raw["error_type"] == "InputException"
        assert "no open day MIS position" in raw["message"]
        oid = kite.place_order("regular", "NSE", "TCS", "BUY", 3, "MIS", "MARKET",
                               market_protection=MP)
        assert kite.order_history(oid)[-1]["status"] == "COMPLETE"
        with pytest.raises(InputException, match="quantity"):
            kite.convert_position("NSE", "TCS", "BUY", "day", 4, "MIS", "CNC")
        with pytest.raises(InputException, match="quantity"):  # the position is long
            kite.convert_position("NSE", "TCS", "SELL", "day", 1, "MIS", "CNC")
        with pytest.raises(InputException, match="new_product"):
            kite.convert_position("NSE", "TCS", "BUY", "day", 1, "MIS", "NRML")
        status, _, raw = _http(server, "PUT", "/portfolio/positions", form={
            "exchange": "NSE", "tradingsymbol": "TCS", "transaction_type": "BUY",
            "position_type": "day", "quantity": 2, "old_product": "MIS", "new_product": "CNC"})
        assert status == 200 and shape_diff(raw, kite_sample("convert_position")) == []
        pos = {p["product"]: p for p in kite.positions()["net"] if p["tradingsymbol"] == "TCS"}
        assert (pos["MIS"]["quantity"], pos["CNC"]["quantity"]) == (1, 2)  # 3 − 2, 0 + 2
        assert pos["CNC"]["average_price"] == pos["MIS"]["average_price"]
        # as at Zerodha, today's CNC buy is a position, not yet a holding (no TCS is seeded)
        assert [h for h in kite.holdings() if h["tradingsymbol"] == "TCS"] == []
        server.admin("clock", {"now": "2025-11-21T09:30:00+05:30"})  # the next trading day
        kite = server.kite(server.login())
        tcs = next(h for h in kite.holdings() if h["tradingsymbol"] == "TCS")
        assert (tcs["quantity"], tcs["t1_quantity"]) == (0, 2)  # the converted 2, in T1
    finally:
        server.stop()


def test_convert_overnight_nrml_to_mis_and_refuse_day_part_or_after_the_cut_off():
    """A NRML future carried by the day roll has only an overnight part: converting its `day`
    part is refused naming the field (not a 500), the overnight part moves at the carried
    average, and nothing converts into MIS once the F&O cut-off (15:25) has passed."""
    server = start_kitesim(rate_limits=False)  # Thursday 2025-11-20 10:00
    try:
        kite = server.kite()
        fut = next(i for i in kite.instruments("NFO") if i["name"] == "NIFTY"
                   and i["instrument_type"] == "FUT" and str(i["expiry"]) == "2025-12-30")
        sym, lot = fut["tradingsymbol"], fut["lot_size"]
        oid = kite.place_order("regular", "NFO", sym, "BUY", 2 * lot, "NRML", "MARKET",
                               market_protection=MP)
        assert kite.order_history(oid)[-1]["status"] == "COMPLETE"
        server.admin("clock", {"now": "2025-11-21T10:00:00+05:30"})
        kite = server.kite(server.login())
        (carried,) = [p for p in kite.positions()["net"] if p["tradingsymbol"] == sym]
        assert carried["overnight_quantity"] == 2 * lot
        with pytest.raises(InputException, match="no open day NRML position"):
            kite.convert_position("NFO", sym, "BUY", "day", lot, "NRML", "MIS")
        with pytest.raises(InputException, match="quantity"):  # 3 lots of a 2-lot position
            kite.convert_position("NFO", sym, "BUY", "overnight", 3 * lot, "NRML", "MIS")
        kite.convert_position("NFO", sym, "BUY", "overnight", lot, "NRML", "MIS")
        pos = {p["product"]: p for p in kite.positions()["net"] if p["tradingsymbol"] == sym}
        # 2 lots carried: 1 stays NRML, 1 moves to MIS, both at the carried average
        assert (pos["NRML"]["quantity"], pos["MIS"]["quantity"]) == (lot, lot)
        assert pos["MIS"]["overnight_quantity"] == lot
        # (to the paisa: a carried cost split in two may leave one paisa on the NRML side)
        assert pos["MIS"]["average_price"] == pytest.approx(carried["average_price"], abs=0.01)
        assert pos["NRML"]["average_price"] == pytest.approx(carried["average_price"], abs=0.01)
        server.admin("clock", {"now": "2025-11-21T15:26:00+05:30"})
        pos = {p["product"]: p for p in kite.positions()["net"] if p["tradingsymbol"] == sym}
        assert pos["MIS"]["quantity"] == 0  # the broker squared the MIS lot off at 15:25
        with pytest.raises(InputException, match="new_product"):
            kite.convert_position("NFO", sym, "BUY", "overnight", lot, "NRML", "MIS")
    finally:
        server.stop()


def test_mutual_fund_orders_allot_at_the_days_nav_and_sips_register():
    server = start_kitesim(start=datetime(2025, 11, 20, 10, 0, tzinfo=IST), rate_limits=False)
    try:
        kite = server.kite()
        funds = kite.mf_instruments()
        assert funds and all(isinstance(f["last_price"], float) for f in funds)
        sym = funds[0]["tradingsymbol"]
        cash0 = kite.margins("equity")["net"]
        oid = kite.place_mf_order(sym, "BUY", amount=5000)["order_id"]
        order = kite.mf_orders(oid)
        assert order["status"] == "OPEN" and order["amount"] == 5000.0
        assert round(cash0 - kite.margins("equity")["net"], 2) == 5000.0  # blocked at once
        gone = kite.place_mf_order(sym, "BUY", amount=1000)["order_id"]
        kite.cancel_mf_order(gone)
        assert kite.mf_orders(gone)["status"] == "CANCELLED"
        assert round(cash0 - kite.margins("equity")["net"], 2) == 5000.0  # released
        with pytest.raises(InputException, match="amount"):
            kite.place_mf_order(sym, "BUY", amount=10)
        with pytest.raises(InputException, match="quantity"):
            kite.place_mf_order(sym, "SELL", quantity=1)  # nothing held yet
        server.admin("clock", {"now": "2025-11-20T21:00:05+05:30"})  # the day's NAV is out
        done = kite.mf_orders(oid)
        assert done["status"] == "COMPLETE"
        nav = Decimal(str(done["average_price"]))
        units = (Decimal(5000) / nav).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
        assert Decimal(str(done["quantity"])) == units
        (held,) = kite.mf_holdings()
        assert held["tradingsymbol"] == sym and Decimal(str(held["quantity"])) == units
        sip = kite.place_mf_sip(sym, 1000, 12, "monthly", instalment_day=5)["sip_id"]
        kite.modify_mf_sip(sip, amount=1500, status="paused")
        info = kite.mf_sips(sip)
        assert (info["instalment_amount"], info["status"], info["instalments"]) == \
            (1500.0, "PAUSED", 12)
        kite.cancel_mf_sip(sip)
        assert sip not in [s["sip_id"] for s in kite.mf_sips()]
    finally:
        server.stop()
