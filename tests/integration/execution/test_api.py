"""gRPC over a real socket and the REST router on top of it: tenant isolation, bad input as
clear 4xx, the dashboard endpoints."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
import pytest_asyncio

from mandi.core.errors import TemporaryError
from mandi.platform.config import load_settings
from mandi.platform.grpc_server import ServerReady, ServiceSpec, serve
from mandi.v1 import execution_pb2 as pb
from mandi.v1 import execution_pb2_grpc
from services.execution.server import SERVICE_NAME, ExecutionServicer
from services.execution.sync import sync_account
from services.gateway.app import create_app
from services.gateway.clients import open_backends
from tests.integration.execution.kit import Env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@dataclasses.dataclass
class Api:
    env: Env
    stub: execution_pb2_grpc.ExecutionServiceStub
    http: httpx.AsyncClient
    other: str


@pytest_asyncio.fixture(loop_scope="module")
async def api(env: Env) -> AsyncIterator[Api]:
    servicer = ExecutionServicer({"engine": env.engine})
    spec = ServiceSpec("execution", lambda s: execution_pb2_grpc.
                       add_ExecutionServiceServicer_to_server(servicer, s), [SERVICE_NAME])
    ready, stop = ServerReady(), asyncio.Event()
    settings = load_settings({})
    task = asyncio.create_task(serve(spec, settings, port=0, metrics_port=-1, ready=ready,
                                     stop=stop))
    await asyncio.wait_for(ready.wait(), 10)
    settings = dataclasses.replace(settings, execution_addr=f"127.0.0.1:{ready.port}",
                                   shutdown_grace_s=0.5)
    app = create_app(settings)
    app.state.backends = open_backends(settings)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    env.price("NSE:SBIN", 812.00)
    try:
        yield Api(env, app.state.backends.execution, http, await env.add_account())
    finally:
        await http.aclose()
        await app.state.backends.close()
        stop.set()
        await task


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
    r = await api.http.put("/api/v1/risk", json=body)
    assert r.status_code == 403
    r = await api.http.put("/api/v1/risk", json=body, headers={"X-Mandi-Role": "admin"})
    assert r.status_code == 200 and r.json()["limits"]["daily_loss_limit"] == 2500
    got = await api.http.get("/api/v1/risk", params={"account_id": api.env.account_id})
    assert got.json()["limits"]["daily_loss_limit"] == 2500
    assert got.json()["limits"]["max_open_positions"] == 90


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
    trades = (await api.http.get("/api/trades", params={**q, "symbol": "SBIN"})).json()
    assert trades["summary"]["total_trades"] == 1 and trades["summary"]["win_rate"] == 100.0
    assert trades["trades"][0]["net_pnl"] == net / 100
    cal = (await api.http.get("/api/pnl-calendar", params={**q, "from_date": "2026-03-01",
                                                           "to_date": "2026-03-31"})).json()
    assert cal["days"] == [{"date": "2026-03-10", "pnl": net / 100, "trades": 1}]
    card = (await api.http.get("/api/daily-stats", params=q)).json()
    assert card["loss_used"] == 0 and card["loss_limit"] == 5000.0
    other = (await api.http.get("/api/trades", params={"account_id": api.other})).json()
    assert other["trades"] == [] and other["summary"]["total_trades"] == 0


async def test_stream_order_events_when_order_placed_event_arrives(api: Api) -> None:
    env = api.env
    stream = api.stub.StreamOrderEvents(pb.StreamOrderEventsRequest(account_id=env.account_id),
                                        timeout=10)
    first = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0.3)  # subscribed
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
    r = await api.http.post("/api/v1/bot/emergency_stop", json={**q, "reset": True})
    assert r.status_code == 403
    r = await api.http.post("/api/v1/bot/emergency_stop", json={**q, "reset": True},
                            headers={"X-Mandi-Role": "admin"})
    assert r.status_code == 200 and r.json()["blocked"] is False
    diffs = (await api.http.post("/api/v1/reconcile", json=q)).json()["differences"]
    assert diffs == []


async def test_rest_accounts_when_listed_show_broker_kind_and_limits(api: Api) -> None:
    accounts = (await api.http.get("/api/v1/accounts")).json()["accounts"]
    mine = next(a for a in accounts if a["account_id"] == api.env.account_id)
    assert mine["broker"] == "paper" and mine["limits"]["max_open_positions"] == 90
    assert mine["limits"]["daily_loss_limit"] == 5000.0


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
