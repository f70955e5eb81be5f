"""gRPC over a real socket and the REST router on top of it: tenant isolation, bad input as
clear 4xx, the dashboard endpoints."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from mandi.core.errors import TemporaryError
from mandi.testing.gateway_auth import trust
from mandi.v1 import execution_pb2 as pb
from services.execution.sync import sync_account
from tests.integration.execution.api_kit import Api

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


ORDER = {"client_order_id": "rest-1", "exchange": "NSE", "symbol": "SBIN", "side": "BUY",
         "quantity": 1, "order_type": "LIMIT", "price": 812.35, "product": "CNC"}


async def test_rest_place_when_valid_returns_order_id_and_status(api: Api) -> None:
    r = await api.http.post("/api/v1/orders", json={"account_id": api.env.account_id, **ORDER})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["order_id"].startswith("ord_") and body["status"] in ("OPEN", "COMPLETE")
    again = await api.http.post("/api/v1/orders",
                                json={"account_id": api.env.account_id, **ORDER})
    assert again.json()["order_id"] == body["order_id"] and again.json()["duplicate"]


@pytest.mark.parametrize("change,status", [
    ({"quantity": 0}, 400), ({"quantity": -1}, 400), ({"price": 812.33}, 400),
    ({"symbol": "NOPE"}, 400), ({"side": "HOLD"}, 400), ({"exchange": "XYZ"}, 400),
])
async def test_rest_place_when_bad_input_4xx_and_no_order(api: Api, change: dict,
                                                          status: int) -> None:
    body = {"account_id": api.env.account_id, **ORDER, **change, "client_order_id": "bad"}
    r = await api.http.post("/api/v1/orders", json=body)
    assert r.status_code == status, r.text
    assert r.json()["success"] is False and r.json()["error"]
    assert await api.env.count("orders") == 0


async def test_rest_modify_when_filled_409(api: Api) -> None:
    r = await api.http.post("/api/v1/orders", json={"account_id": api.env.account_id, **ORDER,
                                                    "price": 813.0})
    oid = r.json()["order_id"]
    await sync_account(api.env.engine, (await api.env.engine.account(api.env.account_id))[0])
    r = await api.http.patch(f"/api/v1/orders/{oid}",
                             json={"account_id": api.env.account_id, "price": 812.0})
    assert r.status_code == 409 and r.json()["error_type"] == "conflict"


async def test_tenant_when_other_account_cannot_read_or_cancel(api: Api) -> None:
    env = api.env
    r = await api.http.post("/api/v1/orders", json={"account_id": env.account_id, **ORDER,
                                                    "price": 800.0})
    oid = r.json()["order_id"]
    for call in (api.stub.GetOrder(pb.GetOrderRequest(account_id=api.other, order_id=oid)),
                 api.stub.CancelOrder(pb.CancelOrderRequest(account_id=api.other,
                                                            order_id=oid))):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call
        assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    r = await api.http.delete(f"/api/v1/orders/{oid}", params={"account_id": api.other})
    assert r.status_code == 404
    r = await api.http.get(f"/api/v1/orders/{oid}", params={"account_id": api.other})
    assert r.status_code == 404
    listed = await api.http.get("/api/v1/orders", params={"account_id": api.other})
    assert listed.json()["orders"] == []
    mine = await api.http.get("/api/v1/orders", params={"account_id": env.account_id})
    assert [o["order_id"] for o in mine.json()["orders"]] == [oid]
    r = await api.http.delete(f"/api/v1/orders/{oid}", params={"account_id": env.account_id})
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"


async def test_risk_limits_when_not_admin_403_and_admin_can_change(api: Api) -> None:
    body = {"account_id": api.env.account_id, "daily_loss_limit": 2500}
    trust(api.app, "t1", "trader", frozenset({api.env.account_id}))
    r = await api.http.put("/api/v1/risk", json=body, headers={"X-Mandi-Role": "admin"})
    assert r.status_code == 403  # the header is no longer trusted
    trust(api.app)
    r = await api.http.put("/api/v1/risk", json=body)
    assert r.status_code == 200 and r.json()["limits"]["daily_loss_limit"] == 2500
    got = await api.http.get("/api/v1/risk", params={"account_id": api.env.account_id})
    assert got.json()["limits"]["daily_loss_limit"] == 2500
    assert got.json()["limits"]["max_open_positions"] == 90
    for field, value in (("max_open_positions", -57723728879), ("max_open_positions", 2**31),
                         ("max_orders_per_second", -1), ("max_order_quantity", 2**63)):
        r = await api.http.put("/api/v1/risk", json={"account_id": api.env.account_id,
                                                     field: value})
        assert r.status_code == 400 and field in r.json()["error"], (field, value, r.text)
    got = await api.http.get("/api/v1/risk", params={"account_id": api.env.account_id})
    assert got.json()["limits"]["max_open_positions"] == 90  # nothing stored by a refusal


async def test_dashboards_when_trades_exist_agree_with_ledger(api: Api) -> None:
    env = api.env
    account, _ = await env.engine.account(env.account_id)
    await api.http.post("/api/v1/orders", json={"account_id": env.account_id, **ORDER,
                                                "client_order_id": "d1", "quantity": 4,
                                                "price": 812.10})
    await sync_account(env.engine, account)
    env.price("NSE:SBIN", 820.00)
    await api.http.post("/api/v1/orders", json={"account_id": env.account_id, **ORDER,
                                                "client_order_id": "d2", "quantity": 4,
                                                "side": "SELL", "price": 819.0})
    await sync_account(env.engine, account)
    net = await env.pool.fetchval("SELECT net_pnl_paise FROM trades WHERE account_id = $1",
                                  env.account_id)
    assert net and net > 0
    q = {"account_id": env.account_id}
    cum = (await api.http.get("/api/cumulative-pnl", params=q)).json()
    assert cum["all_time"] == cum["day"] == cum["week"] == net / 100
    trades = (await api.http.get("/api/v1/trades", params={**q, "symbol": "SBIN"})).json()
    assert trades["summary"]["total_trades"] == 1 and trades["summary"]["win_rate"] == 100.0
    assert trades["trades"][0]["net_pnl"] == net / 100
    cal = (await api.http.get("/api/pnl-calendar", params={**q, "from_date": "2026-03-01",
                                                           "to_date": "2026-03-31"})).json()
    assert cal["days"] == [{"date": "2026-03-10", "pnl": net / 100, "trades": 1}]
    card = (await api.http.get("/api/daily-stats", params=q)).json()
    assert card["loss_used"] == 0 and card["loss_limit"] == 5000.0
    other = (await api.http.get("/api/v1/trades", params={"account_id": api.other})).json()
    assert other["trades"] == [] and other["summary"]["total_trades"] == 0
    assert (await api.http.get("/api/trades", params={"account_id": api.other})).json() == []


async def test_stream_order_events_when_order_placed_event_arrives(api: Api) -> None:
    env = api.env
    stream = api.stub.StreamOrderEvents(pb.StreamOrderEventsRequest(account_id=env.account_id),
                                        timeout=10)
    first = asyncio.ensure_future(stream.read())
    channel = env.engine.events.channel(env.account_id)
    for _ in range(600):  # until Redis counts the stream's subscriber (a 30 s deadline)
        if (await env.engine.redis.pubsub_numsub(channel))[0][1]:
            break
        await asyncio.sleep(0.05)
    r = await api.http.post("/api/v1/orders", json={"account_id": env.account_id, **ORDER,
                                                    "client_order_id": "ev-1"})
    ev = await asyncio.wait_for(first, 5)
    assert ev.order_id == r.json()["order_id"] and ev.account_id == env.account_id
    stream.cancel()


async def test_rest_gtt_when_created_listed_and_deleted(api: Api) -> None:
    q = {"account_id": api.env.account_id}
    body = {**q, "exchange": "NSE", "symbol": "SBIN", "product": "CNC", "legs": [
        {"trigger_price": 840.0, "side": "SELL", "quantity": 5, "price": 840.0},
        {"trigger_price": 790.0, "side": "SELL", "quantity": 5, "price": 785.0}]}
    r = await api.http.post("/api/v1/gtt", json=body)
    assert r.status_code == 201, r.text
    gtt = r.json()["gtt"]
    assert gtt["type"] == "two-leg" and [leg["trigger_price"] for leg in gtt["legs"]] == \
        [790.0, 840.0] and gtt["status"] == "active"
    listed = (await api.http.get("/api/v1/gtt", params=q)).json()["gtts"]
    assert [g["gtt_id"] for g in listed] == [gtt["gtt_id"]]
    other = await api.http.delete(f"/api/v1/gtt/{gtt['gtt_id']}",
                                  params={"account_id": api.other})
    assert other.status_code == 404
    r = await api.http.delete(f"/api/v1/gtt/{gtt['gtt_id']}", params=q)
    assert r.status_code == 200 and r.json()["gtt"]["status"] == "deleted"
    bad = await api.http.post("/api/v1/gtt", json={**body, "legs": [
        {"trigger_price": 840.03, "side": "SELL", "quantity": 5, "price": 840.0}]})
    assert bad.status_code == 400


async def test_rest_emergency_stop_when_a_step_fails_reports_it_and_stays_blocked(
        api: Api) -> None:
    """A broker fault the paper broker cannot produce on its own (its book unreadable) is
    injected; the failure comes back through gRPC and REST, and the halt holds."""
    q = {"account_id": api.env.account_id}
    await api.http.post("/api/v1/orders", json={**q, **ORDER, "client_order_id": "esf-1"})
    broker = api.env.engine.brokers.get((await api.env.engine.account(api.env.account_id))[0])

    async def unreadable() -> list:
        raise TemporaryError("paper book unavailable")

    broker.positions = unreadable
    try:
        r = await api.http.post("/api/v1/bot/emergency_stop", json={**q, "reason": "drill"})
    finally:
        del broker.positions
    body = r.json()
    assert r.status_code == 200 and body["blocked"] is True
    assert body["failures"] == ["list positions: paper book unavailable"]
    assert body["positions_squared_off"] == 0
    blocked = await api.http.post("/api/v1/orders", json={**q, **ORDER,
                                                          "client_order_id": "esf-2"})
    assert blocked.status_code == 409


async def test_rest_emergency_stop_when_called_blocks_until_admin_reset(api: Api) -> None:
    q = {"account_id": api.env.account_id}
    await api.http.post("/api/v1/orders", json={**q, **ORDER, "client_order_id": "es-1"})
    await sync_account(api.env.engine, (await api.env.engine.account(api.env.account_id))[0])
    r = await api.http.post("/api/v1/bot/emergency_stop", json={**q, "reason": "drill"})
    assert r.status_code == 200 and r.json()["positions_squared_off"] == 1
    positions = (await api.http.get("/api/v1/positions", params=q)).json()["positions"]
    assert positions == []
    blocked = await api.http.post("/api/v1/orders", json={**q, **ORDER,
                                                          "client_order_id": "es-2"})
    assert blocked.status_code == 409
    trust(api.app, "t1", "trader", frozenset({api.env.account_id}))
    r = await api.http.post("/api/v1/bot/emergency_stop", json={**q, "reset": True},
                            headers={"X-Mandi-Role": "admin"})
    assert r.status_code == 403
    trust(api.app)
    r = await api.http.post("/api/v1/bot/emergency_stop", json={**q, "reset": True})
    assert r.status_code == 200 and r.json()["blocked"] is False
    diffs = (await api.http.post("/api/v1/reconcile", json=q)).json()["differences"]
    assert diffs == []


async def test_rest_accounts_when_listed_show_broker_kind_and_limits(api: Api) -> None:
    accounts = (await api.http.get("/api/v1/accounts")).json()["accounts"]
    mine = next(a for a in accounts if a["account_id"] == api.env.account_id)
    assert mine["broker"] == "paper" and mine["limits"]["max_open_positions"] == 90
    assert mine["limits"]["daily_loss_limit"] == 5000.0


async def test_rest_a_trader_lists_and_stops_only_the_accounts_granted(api: Api) -> None:
    mine, other = api.env.account_id, api.other
    trust(api.app, "t1", "trader", frozenset({mine}))
    listed = [a["account_id"] for a in (await api.http.get("/api/v1/accounts")).json()["accounts"]]
    assert listed == [mine]
    r = await api.http.post("/api/v1/bot/emergency_stop")  # no account: the caller's accounts
    assert r.status_code == 200, r.text
    assert [a["account_id"] for a in r.json()["accounts"]] == [mine]
    stopped = dict(await api.env.pool.fetch(
        "SELECT account_id, emergency_stop FROM accounts WHERE account_id = ANY($1)",
        [mine, other]))
    assert stopped == {mine: True, other: False}
    trust(api.app)
    r = await api.http.post("/api/v1/bot/emergency_stop", json={"account_id": mine,
                                                                "reset": True})
    assert r.status_code == 200 and r.json()["blocked"] is False
    trust(api.app, "t2", "trader")  # no account granted: nothing to stop, nothing blocked
    r = await api.http.post("/api/v1/bot/emergency_stop")
    assert r.status_code == 200 and r.json()["accounts"] == [] and r.json()["blocked"] is False
    assert (await api.http.get("/api/v1/accounts")).json()["accounts"] == []


async def test_positions_when_marked_to_market_show_unrealized(api: Api) -> None:
    env, q = api.env, {"account_id": api.env.account_id}
    await api.http.post("/api/v1/orders", json={**q, **ORDER, "client_order_id": "m-1",
                                                "quantity": 10})
    account = (await env.engine.account(env.account_id))[0]
    await sync_account(env.engine, account)
    env.price("NSE:SBIN", 820.00)
    await sync_account(env.engine, account)
    pos = (await api.http.get("/api/v1/positions", params=q)).json()["positions"][0]
    assert pos["last_price"] == 820.0
    assert pos["unrealized_pnl"] == round((82000 - 81205) * 10 / 100, 2)


# --- the seeds' calls and Kite's order fields ------------------------------------------------
async def _import(api: Api, aid: str, records: list[dict]) -> dict:
    r = await api.http.post("/api/v1/pnl/import", data={"account_id": aid},
                            files={"file": ("daily_pnl.json", json.dumps(records).encode(),
                                            "application/json")})
    assert r.status_code == 200, r.text
    return r.json()


async def test_rest_pnl_import_when_uploaded_books_the_days(api: Api) -> None:
    aid = await api.env.add_account()
    # the seed's record: the day's figure in non_equity_pnl, positions_count beside it
    body = await _import(api, aid, [
        {"date": "2024-05-02", "non_equity_pnl": 1250.5, "positions_count": 2},
        {"date": "2024-05-03", "pnl": -300.25}])
    assert (body["imported"], body["duplicates"], body["rejected"]) == (2, 0, 0)
    cal = (await api.http.get("/api/pnl-calendar", params={
        "account_id": aid, "from_date": "2024-05-01", "to_date": "2024-05-31"})).json()
    assert cal["pnl_by_date"] == {"2024-05-02": 1250.5, "2024-05-03": -300.25}
    again = await _import(api, aid, [{"date": "2024-05-02", "non_equity_pnl": 1250.5}])
    assert (again["imported"], again["duplicates"]) == (0, 1)


async def test_rest_trades_when_seed_dates_given_filters_by_them(api: Api) -> None:
    aid = await api.env.add_account()
    await _import(api, aid, [{"date": "2024-05-02", "pnl": 100.5},
                             {"date": "2024-05-10", "pnl": -20},
                             {"date": "2024-06-01", "pnl": 50}])
    r = await api.http.get("/api/trades", params={"account_id": aid, "start_date": "2024-05-01",
                                                  "end_date": "2024-05-31"})
    assert r.status_code == 200, r.text
    body = r.json()
    # May only: 100.50 − 20.00 = 80.50 over two trades; the June day is left out
    assert sorted(t["pnl"] for t in body) == [-20.0, 100.5]
    assert all(t["id"] == t["trade_id"] and t["type"] == t["side"] for t in body)
    page = (await api.http.get("/api/v1/trades", params={
        "account_id": aid, "start_date": "2024-05-01", "end_date": "2024-05-31"})).json()
    assert page["summary"]["total_trades"] == 2 and page["summary"]["net_pnl"] == 80.5
    clash = await api.http.get("/api/trades", params={"account_id": aid, "from_date":
                                                      "2024-05-01", "start_date": "2024-06-01"})
    assert clash.status_code == 400 and "start_date" in clash.json()["error"]


async def test_rest_pnl_calendar_without_dates_is_the_current_year(api: Api) -> None:
    aid = await api.env.add_account()
    # the test clock is 2026-03-10 IST
    await _import(api, aid, [{"date": "2025-12-31", "pnl": 10}, {"date": "2026-01-01",
                                                                  "pnl": 20},
                             {"date": "2026-03-10", "pnl": -5}])
    r = await api.http.get("/api/pnl-calendar", params={"account_id": aid})
    assert r.status_code == 200, r.text
    assert r.json()["pnl_by_date"] == {"2026-01-01": 20.0, "2026-03-10": -5.0}
    seed = await api.http.get("/api/pnl-calendar", params={
        "account_id": aid, "start_date": "2025-12-01", "end_date": "2025-12-31"})
    assert seed.json()["pnl_by_date"] == {"2025-12-31": 10.0}


async def test_rest_orders_take_kites_own_fields(api: Api) -> None:
    q = {"account_id": api.env.account_id}
    api.env.price("NSE:SBIN", 820.00)  # the 812.35 bid rests
    body = {**q, "tag": "seedtag1", "exchange": "NSE", "symbol": "SBIN", "side": "BUY",
            "quantity": 10, "order_type": "LIMIT", "price": 812.35, "product": "CNC",
            "variety": "regular", "validity": "TTL", "validity_ttl": 5,
            "disclosed_quantity": 1}
    r = await api.http.post("/api/v1/orders", json=body)
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    assert order["client_order_id"] == "seedtag1"  # the tag is the idempotency key
    assert (order["validity"], order["validity_ttl"], order["disclosed_quantity"]) == \
        ("TTL", 5, 1)
    sent = await api.env.pool.fetchrow(
        "SELECT tag, validity, expires_at FROM paper_orders WHERE account_id = $1",
        api.env.account_id)
    assert sent["tag"] == "seedtag1" and sent["validity"] == "TTL" and sent["expires_at"]
    mkt = await api.http.post("/api/v1/orders", json={
        **q, "client_order_id": "mp-1", "exchange": "NSE", "symbol": "INFY", "side": "BUY",
        "quantity": 1, "order_type": "MARKET", "product": "CNC", "market_protection": 3})
    assert mkt.status_code == 201 and mkt.json()["order"]["market_protection"] == 3.0
    clash = await api.http.post("/api/v1/orders", json={**body, "client_order_id": "other"})
    assert clash.status_code == 400 and clash.json()["error_type"]
    assert "tag" in clash.json()["error"]
    bad = await api.http.post("/api/v1/orders", json={**body, "tag": "t2",
                                                      "validity_ttl": 0})
    assert bad.status_code == 400 and "validity_ttl" in bad.json()["error"]


async def test_rest_risk_takes_seed_003_capital_limits(api: Api) -> None:
    body = {"account_id": api.env.account_id, "max_capital_per_position": 3000,
            "max_total_exposure": 240000, "square_off_on_loss_limit": True}
    r = await api.http.put("/api/v1/risk", json=body)
    assert r.status_code == 200, r.text
    got = (await api.http.get("/api/v1/risk", params={"account_id": api.env.account_id})).json()
    lim = got["limits"]
    assert (lim["max_capital_per_position"], lim["max_total_exposure"],
            lim["square_off_on_loss_limit"]) == (3000.0, 240000.0, True)
    assert lim["daily_loss_limit"] == 5000.0  # untouched


async def test_rest_modify_gtt_when_put_changes_trigger_at_the_broker(api: Api) -> None:
    q = {"account_id": api.env.account_id}
    body = {**q, "exchange": "NSE", "symbol": "SBIN", "product": "CNC", "legs": [
        {"trigger_price": 840.0, "side": "SELL", "quantity": 5, "price": 840.0}]}
    gtt = (await api.http.post("/api/v1/gtt", json=body)).json()["gtt"]
    r = await api.http.put(f"/api/v1/gtt/{gtt['gtt_id']}", json={**body, "legs": [
        {"trigger_price": 845.5, "side": "SELL", "quantity": 5, "price": 845.0}]})
    assert r.status_code == 200, r.text
    assert r.json()["gtt"]["legs"][0]["trigger_price"] == 845.5
    at_broker = await api.env.pool.fetchrow(
        "SELECT trigger_values, orders FROM paper_gtts WHERE account_id = $1"
        " AND broker_gtt_id = $2", api.env.account_id, int(gtt["broker_gtt_id"]))
    assert json.loads(at_broker["trigger_values"])["triggers"] == [84550]
    assert json.loads(at_broker["orders"])[0]["price_paise"] == 84500
    near = await api.http.put(f"/api/v1/gtt/{gtt['gtt_id']}", json={**body, "legs": [
        {"trigger_price": 813.0, "side": "SELL", "quantity": 5, "price": 813.0}]})
    # 813.00 is 1.00 from the last 812.00, under 0.25 % (2.03)
    assert near.status_code == 400 and "trigger_price" in near.json()["error"]


async def test_rest_modify_order_when_open_changes_price_at_the_broker(api: Api) -> None:
    q = {"account_id": api.env.account_id}
    api.env.price("NSE:SBIN", 820.00)  # rests
    r = await api.http.post("/api/v1/orders", json={**q, **ORDER, "client_order_id": "pm-1"})
    oid = r.json()["order_id"]
    r = await api.http.patch(f"/api/v1/orders/{oid}", json={**q, "price": 811.5,
                                                              "quantity": 2})
    assert r.status_code == 200, r.text
    assert r.json()["order"]["price"] == 811.5 and r.json()["order"]["quantity"] == 2
    at_broker = await api.env.pool.fetchrow(
        "SELECT price_paise, quantity FROM paper_orders WHERE account_id = $1",
        api.env.account_id)
    assert (at_broker["price_paise"], at_broker["quantity"]) == (81150, 2)


async def test_rest_emergency_stop_without_body_stops_every_account(api: Api) -> None:
    # the seed's call: POST /bot/emergency_stop, no body (kept last: it halts every account)
    r = await api.http.post("/api/v1/bot/emergency_stop")
    assert r.status_code == 200, r.text
    stopped = {a["account_id"]: a["blocked"] for a in r.json()["accounts"]}
    assert stopped[api.env.account_id] is True and stopped[api.other] is True
    halted = await api.env.pool.fetchval(
        "SELECT count(*) FROM accounts WHERE NOT emergency_stop")
    assert halted == 0
    reset = await api.http.post("/api/v1/bot/emergency_stop", json={"reset": True})
    assert reset.status_code == 400 and "account_id" in reset.json()["error"]
