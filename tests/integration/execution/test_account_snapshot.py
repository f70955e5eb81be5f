"""Seed 002's account snapshot (`GET /api/v1/account`) and the audit half of `GET /api/v1/logs`:
execution over a real gRPC socket with a paper account, the gateway's routers on top."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from mandi.platform.config import load_settings
from mandi.testing.gateway_auth import trust
from mandi.v1 import execution_pb2 as pb
from services.execution.accounts import RiskLimits
from services.execution.sync import sync_account
from tests.integration.execution.api_kit import Api, api_stack
from tests.integration.execution.kit import Env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
NOWHERE = "127.0.0.1:1"  # no strategy service: /logs serves the audit log alone


@pytest_asyncio.fixture(loop_scope="module")
async def s(env: Env) -> AsyncIterator[Api]:
    async with api_stack(env, strategy_addr=NOWHERE, rpc_timeout_s=5.0) as stack:
        yield stack


ORDER = {"exchange": "NSE", "symbol": "SBIN", "side": "BUY", "quantity": 10,
         "order_type": "LIMIT", "price": 812.35, "product": "CNC"}


async def test_account_snapshot_after_a_paper_fill_shows_position_and_deployed_margin(s):
    aid = s.env.account_id
    r = await s.http.post("/api/v1/orders", json={"account_id": aid, "client_order_id": "snap-1",
                                                  **ORDER, "price": 813.0})
    assert r.status_code == 201, r.text
    await sync_account(s.env.engine, (await s.env.engine.account(aid))[0])  # book the fill
    snap = await s.http.get("/api/v1/account", params={"account_id": aid})
    assert snap.status_code == 200, snap.text
    body = snap.json()
    assert body["account_id"] == aid and body["broker"] == "paper" and body["as_of"]
    [pos] = body["positions"]
    assert (pos["symbol"], pos["quantity"]) == ("SBIN", 10)
    cost = pos["average_price"] * 10
    equity = body["margins"]["equity"]
    assert equity["utilised"]["debits"] == pytest.approx(cost, abs=0.01)
    assert equity["net"] == pytest.approx(-cost, abs=0.01)
    assert body["holdings"] == [] and body["unavailable"] == []
    pnl = body["pnl"]
    assert pnl["today_paise"] == pnl["realized_paise"] + pnl["unrealized_paise"]
    assert isinstance(pnl["today_paise"], int)


async def test_account_snapshot_without_account_id_is_400_and_unknown_account_404(s):
    r = await s.http.get("/api/v1/account")
    assert r.status_code == 400 and "account_id" in r.json()["error"]
    r = await s.http.get("/api/v1/account", params={"account_id": "NOSUCH1"})
    assert r.status_code == 404 and "account" in r.json()["error"]


async def test_logs_show_audit_entries_of_held_accounts_only_newest_first(s):
    mine = await s.env.add_account(RiskLimits(max_order_quantity=5))
    other = await s.env.add_account(RiskLimits(max_order_quantity=5))
    for acc, n in ((mine, 3), (other, 2)):
        for i in range(n):
            r = await s.http.post("/api/v1/orders", json={
                "account_id": acc, "client_order_id": f"big-{acc}-{i}", **ORDER})
            assert 400 <= r.status_code < 500, r.text
    # a trader holding `mine` sees its refusals, never the other account's
    trust(s.app, "t1", "trader", frozenset({mine}))
    body = (await s.http.get("/api/v1/logs", params={"level": "warning"})).json()
    audit = [x for x in body["logs"] if x["source"] == "audit"]
    assert {x["account_id"] for x in audit} == {mine}
    assert [x["event"] for x in audit] == ["order_rejected"] * 3
    assert all(x["level"] == "warning" for x in audit)
    assert body["unavailable"] == ["bot: the strategy service is not reachable"]
    # pages: two, then the rest, nothing lost or repeated
    first = (await s.http.get("/api/v1/logs", params={"limit": 2})).json()
    rest = (await s.http.get("/api/v1/logs", params={"before": first["next_before"]})).json()
    everything = (await s.http.get("/api/v1/logs")).json()["logs"]
    assert [x["id"] for x in first["logs"] + rest["logs"]] == [x["id"] for x in everything]
    ts = [x["ts"] for x in everything]
    assert ts == sorted(ts, reverse=True)
    # the service scopes too: a non-admin principal asking for every account gets its own
    trust(s.app)
    direct = await s.stub.ListAuditLogs(pb.ListAuditLogsRequest(account_ids=[other]))
    assert {e.account_id for e in direct.entries} == {other}  # the system reads any account
    everyone = (await s.http.get("/api/v1/logs", params={"level": "warning",
                                                         "limit": 1000})).json()["logs"]
    assert {mine, other} <= {x.get("account_id") for x in everyone}
    bad = await s.http.get("/api/v1/logs", params={"level": "loud"})
    assert bad.status_code == 400 and "level" in bad.json()["error"]
    bad = await s.http.get("/api/v1/logs", params={"before": "x.y"})
    assert bad.status_code == 400 and "before" in bad.json()["error"]


async def test_list_audit_logs_when_signed_non_admin_reads_only_granted_accounts(s):
    from mandi.platform.service_auth import service_key, sign

    other = await s.env.add_account(RiskLimits(max_order_quantity=5))
    r = await s.http.post("/api/v1/orders", json={"account_id": other,
                                                  "client_order_id": "big-x", **ORDER})
    assert 400 <= r.status_code < 500, r.text
    assert (await s.stub.ListAuditLogs(pb.ListAuditLogsRequest(account_ids=[other]))).entries
    method = "/mandi.v1.ExecutionService/ListAuditLogs"
    token = sign(service_key(load_settings({})), user="t2", role="trader", accounts=["ACC_T2"],
                 method=method)
    for ask in ([other], []):  # named or not, another's account stays out of reach
        resp = await s.stub.ListAuditLogs(pb.ListAuditLogsRequest(account_ids=ask),
                                          metadata=(("mandi-principal", token),))
        assert list(resp.entries) == []
    # the gateway's channel signs a user with no grants: nothing, not everything
    resp = await s.stub.ListAuditLogs(pb.ListAuditLogsRequest(),
                                      metadata=(("mandi-user", "x"), ("mandi-role", "viewer")))
    assert list(resp.entries) == []
