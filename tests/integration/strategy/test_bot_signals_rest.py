"""External-signal bots end to end over REST → gateway → strategy → execution (paper broker)
and marketdata (LTP), all real over sockets: the key (shown once, rotated, wrong → 401),
idempotency on the signal id (one execution order), validation naming the field, target_weight
sizing from the LTP, seed 002's single-bot calls on the default bot, per-bot logs and
signals, and a live StreamSignals read."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from mandi.platform.db import create_pool
from mandi.v1 import common_pb2, execution_pb2, strategy_pb2
from services.strategy.bot_store import BotStore
from tests.integration.gateway.kit import times_not_utc
from tests.integration.strategy.signal_stack import SignalStack, signal_stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CAPITAL = 500000  # rupees


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def s() -> AsyncIterator[SignalStack]:
    async with signal_stack() as st:
        yield st


def _user() -> dict[str, str]:
    return {"x-test-user": f"u-{uuid.uuid4().hex[:10]}"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def _external_bot(s: SignalStack, who: dict[str, str], name: str = "ml") -> dict:
    # an account per bot: execution's SEBI governor counts orders per account and second
    r = await s.api.post("/api/v1/bots", headers=who, json={
        "strategy": {"type": "external"}, "symbols": ["NSE:SBIN", "NSE:INFY"],
        "capital": CAPITAL, "name": name, "account_id": await s.env.add_account(),
        "mode": "paper", "product": "MIS"})
    assert r.status_code == 201, r.text
    return r.json()


async def test_external_bot_trades_each_signal_id_once_through_execution(s):
    who = _user()
    bot = await _external_bot(s, who)
    key, bot_id = bot["signal_key"], bot["id"]
    assert bot["strategy"]["type"] == "external" and key.startswith("mbk_")
    assert "signal_key" not in (await s.api.get(f"/api/v1/bots/{bot_id}", headers=who)).text
    # seed 002's single-bot call acts on the only bot
    started = await s.api.post("/api/v1/bot/start", headers=who)
    assert started.status_code == 200 and started.json()["status"] == "running", started.text
    sig = {"id": "alpha-1", "symbol": "NSE:SBIN", "side": "BUY", "quantity": 5, "ts": _now()}
    first = await s.api.post(f"/api/v1/bots/{bot_id}/signals", json=sig,
                             headers={"X-Bot-Key": key})
    assert first.status_code == 200, first.text
    got = first.json()
    assert got["duplicate"] is False
    one = got["signal"]
    assert one["outcome"] == "order" and one["quantity"] == 5 and one["side"] == "BUY"
    assert one["client_order_id"] == f"{bot_id}:s:alpha-1" and one["order_id"]
    assert one["latency_ms"] > 0
    again = await s.api.post(f"/api/v1/bots/{bot_id}/signals", json=sig,
                             headers={"X-Bot-Key": key})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["signal"] == one
    orders = [o.request for o in await s.exec_orders(bot["account_id"])
              if o.request.client_order_id.startswith(bot_id)]
    assert [(o.client_order_id, o.quantity, o.strategy_id) for o in orders] == [
        (f"{bot_id}:s:alpha-1", 5, bot_id)]
    reused = await s.api.post(f"/api/v1/bots/{bot_id}/signals", json={**sig, "quantity": 6},
                              headers={"X-Bot-Key": key})
    assert reused.status_code == 409 and "id" in reused.json()["error"], reused.text

    # target weight: 1 % of ₹5,00,000 at ₹812.35 is 6 shares; 5 are held → BUY 1
    await s.set_ltp("SBIN", "812.35")
    w = await s.api.post(f"/api/v1/bots/{bot_id}/signals", headers={"X-Bot-Key": key}, json={
        "id": "alpha-2", "symbol": "nse:sbin", "side": "BUY", "target_weight": 0.01,
        "ts": _now()})
    assert w.status_code == 200, w.text
    ws = w.json()["signal"]
    assert (ws["outcome"], ws["side"], ws["quantity"], ws["price"], ws["target_weight"]) == \
        ("order", "BUY", 1, 812.35, "0.01")
    same = await s.api.post(f"/api/v1/bots/{bot_id}/signals", headers={"X-Bot-Key": key},
                            json={"id": "alpha-3", "symbol": "NSE:SBIN", "side": "BUY",
                                  "target_weight": "0.01", "ts": _now()})
    assert same.json()["signal"]["outcome"] == "no_change", same.text

    state = (await s.api.get("/api/v1/state", headers=who)).json()
    assert state["status"] == "running" and state["bot"]["id"] == bot_id
    assert state["positions"] == [{"symbol": "NSE:SBIN", "tag": "external", "side": "BUY",
                                   "quantity": 6, "entry_price": None}]
    assert [o["client_order_id"] for o in state["orders"]] == [
        f"{bot_id}:s:alpha-1", f"{bot_id}:s:alpha-2"]
    assert state["metrics"]["orders"] == 2

    listed = (await s.api.get(f"/api/v1/bots/{bot_id}/signals", headers=who)).json()
    assert [(x["id"], x["outcome"]) for x in listed["signals"]] == [
        ("alpha-3", "no_change"), ("alpha-2", "order"), ("alpha-1", "order")]
    page = (await s.api.get(f"/api/v1/bots/{bot_id}/signals?limit=2", headers=who)).json()
    rest = (await s.api.get(f"/api/v1/bots/{bot_id}/signals?before={page['next_before']}",
                            headers=who)).json()
    assert [x["id"] for x in page["signals"] + rest["signals"]] == [
        "alpha-3", "alpha-2", "alpha-1"]

    logs = (await s.api.get(f"/api/v1/bots/{bot_id}/logs", headers=who)).json()["logs"]
    events = [(x["event"], x["level"]) for x in logs]
    assert events.count(("signal", "info")) == 3 and ("status", "info") in events
    assert all("mbk_" not in x["message"] and "mbk_" not in str(x["fields"]) for x in logs)
    mine = (await s.api.get("/api/v1/logs", headers=who)).json()["logs"]
    assert {x["bot_id"] for x in mine} == {bot_id} and len(mine) == len(logs)
    stranger = _user()
    for path in ("logs", "signals"):
        r = await s.api.get(f"/api/v1/bots/{bot_id}/{path}", headers=stranger)
        assert r.status_code == 404, r.text
    assert (await s.api.get("/api/v1/logs", headers=stranger)).json()["logs"] == []
    assert (await s.api.post(f"/api/v1/bots/{bot_id}/key", headers=stranger)).status_code == 404

    stopped = await s.api.post("/api/v1/bot/stop", headers=who)
    assert stopped.json()["status"] == "stopped"
    late = await s.api.post(f"/api/v1/bots/{bot_id}/signals", headers={"X-Bot-Key": key},
                            json={**sig, "id": "alpha-4"})
    assert late.status_code == 409, late.text
    text = REGISTRY.get_sample_value("mandi_bot_signals_total",
                                     {"source": "external", "outcome": "order"})
    assert text is not None and text >= 2
    assert REGISTRY.get_sample_value("mandi_bot_external_signal_to_order_seconds_count") >= 2


async def test_signal_with_a_wrong_missing_or_rotated_key_is_401(s):
    who = _user()
    bot = await _external_bot(s, who)
    bot_id, key = bot["id"], bot["signal_key"]
    await s.api.post(f"/api/v1/bots/{bot_id}/start", headers=who)
    sig = {"id": "k1", "symbol": "NSE:INFY", "side": "BUY", "quantity": 1, "ts": _now()}
    url = f"/api/v1/bots/{bot_id}/signals"
    for headers in ({}, {"X-Bot-Key": key + "x"}, {"X-Bot-Key": "mbk_nope"}):
        r = await s.api.post(url, json=sig, headers=headers)
        assert r.status_code == 401, r.text
        assert key not in r.text
    other = await _external_bot(s, _user(), name="other")  # another bot's key
    assert (await s.api.post(url, json=sig, headers={"X-Bot-Key": other["signal_key"]})
            ).status_code == 401
    rotated = await s.api.post(f"/api/v1/bots/{bot_id}/key", headers=who)
    new = rotated.json()["signal_key"]
    assert rotated.status_code == 200 and new != key
    assert (await s.api.post(url, json=sig, headers={"X-Bot-Key": key})).status_code == 401
    ok = await s.api.post(url, json=sig, headers={"X-Bot-Key": new})
    assert ok.status_code == 200 and ok.json()["signal"]["outcome"] == "order", ok.text


@pytest.mark.parametrize(("change", "field"), [
    ({"quantity": None}, "quantity"),                       # neither
    ({"target_weight": 0.5}, "quantity"),                   # both
    ({"symbol": "NSE:TCS"}, "symbol"),                      # not one of the bot's
    ({"side": "HOLD"}, "side"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": None, "target_weight": 1.5}, "target_weight"),
    ({"ts": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}, "ts"),   # stale
    ({"ts": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "ts"),   # future
    ({"ts": "yesterday"}, "ts"),
    ({"id": "has space"}, "id"),
    ({"price": 10}, "price"),                               # unknown field
])
async def test_bad_signal_is_400_naming_the_field_and_places_nothing(s, change, field):
    who = _user()
    bot = await _external_bot(s, who)
    await s.api.post(f"/api/v1/bots/{bot['id']}/start", headers=who)
    body = {"id": "b1", "symbol": "NSE:SBIN", "side": "BUY", "quantity": 1, "ts": _now()}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    r = await s.api.post(f"/api/v1/bots/{bot['id']}/signals", json=body,
                         headers={"X-Bot-Key": bot["signal_key"]})
    assert r.status_code == 400, r.text
    assert field in r.json()["error"], r.text
    assert not [o for o in await s.exec_orders(bot["account_id"])
                if o.request.client_order_id.startswith(bot["id"])]


async def test_single_bot_calls_need_one_default_bot(s):
    who = _user()
    none = await s.api.get("/api/v1/state", headers=who)
    assert none.status_code == 404 and "POST /api/v1/bots" in none.text
    await _external_bot(s, who, name="one")
    two = await _external_bot(s, who, name="two")
    ambiguous = await s.api.post("/api/v1/bot/start", headers=who)
    assert ambiguous.status_code == 409 and "default" in ambiguous.text
    default = await _external_bot(s, who, name="default")
    st = (await s.api.get("/api/v1/state", headers=who)).json()
    assert st["bot"]["id"] == default["id"] and st["status"] == "created"
    assert st["positions"] == [] and st["orders"] == []
    # seed 002's calls exactly as written (no body) act on the default bot; times are UTC
    started = await s.api.post("/api/v1/bot/start", headers=who)
    assert started.status_code == 200 and started.json()["status"] == "running", started.text
    running = (await s.api.get("/api/v1/state", headers=who)).json()
    assert running["status"] == "running" and running["updated_at"].endswith("+00:00")
    stopped = await s.api.post("/api/v1/bot/stop", headers=who)
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert times_not_utc([started.json(), running, stopped.json()]) == []
    # /logs covers all the user's bots, or one; a bad level names the field
    logs = (await s.api.get("/api/v1/logs", headers=who)).json()["logs"]
    assert len({x["bot_id"] for x in logs}) == 3 and times_not_utc(logs) == []
    one = (await s.api.get(f"/api/v1/logs?bot_id={two['id']}", headers=who)).json()["logs"]
    assert {x["bot_id"] for x in one} == {two["id"]}
    assert (await s.api.get("/api/v1/logs?level=error", headers=who)).json()["logs"] == []
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert (await s.api.get(f"/api/v1/bots/{two['id']}/logs", params={"since": later},
                            headers=who)).json()["logs"] == []
    page = (await s.api.get("/api/v1/logs?limit=2", headers=who)).json()
    rest = (await s.api.get(f"/api/v1/logs?before={page['next_before']}", headers=who)).json()
    assert [x["id"] for x in page["logs"] + rest["logs"]] == [x["id"] for x in logs]
    bad = await s.api.get("/api/v1/logs?level=loud", headers=who)
    assert bad.status_code == 400 and "level" in bad.text


async def test_stream_signals_sends_recent_then_live(s):
    who = _user()
    bot = await _external_bot(s, who)
    bot_id, key = bot["id"], bot["signal_key"]
    await s.api.post(f"/api/v1/bots/{bot_id}/start", headers=who)
    url = f"/api/v1/bots/{bot_id}/signals"
    for i in (1, 2):
        r = await s.api.post(url, headers={"X-Bot-Key": key}, json={
            "id": f"st-{i}", "symbol": "NSE:INFY", "side": "BUY", "quantity": i, "ts": _now()})
        assert r.status_code == 200, r.text
    md = (("mandi-user", who["x-test-user"]), ("mandi-accounts", bot["account_id"]))
    call = s.strategy.stub.StreamSignals(
        strategy_pb2.StreamSignalsRequest(deployment_id=bot_id, recent=1), metadata=md,
        timeout=20)
    first = await asyncio.wait_for(call.read(), 10)
    assert (first.id, first.outcome, first.quantity) == ("st-2", "order", 2)
    assert first.symbol.tradingsymbol == "INFY" and first.source == "external"
    r = await s.api.post(url, headers={"X-Bot-Key": key}, json={
        "id": "st-3", "symbol": "NSE:INFY", "side": "SELL", "quantity": 3, "ts": _now()})
    assert r.status_code == 200, r.text
    live = await asyncio.wait_for(call.read(), 10)
    assert (live.id, live.action, live.quantity, live.outcome) == ("st-3", "SELL", 3, "order")
    assert live.client_order_id == f"{bot_id}:s:st-3" and live.seq > first.seq
    call.cancel()


async def test_same_signal_id_posted_concurrently_places_one_order(s):
    who = _user()
    bot = await _external_bot(s, who)
    bot_id, key = bot["id"], bot["signal_key"]
    await s.api.post(f"/api/v1/bots/{bot_id}/start", headers=who)
    long_id = "tv-alert:" + "x" * 55  # 64 characters: the client_order_id takes its hash
    body = {"id": long_id, "symbol": "NSE:SBIN", "side": "SELL", "quantity": 2, "ts": _now()}
    answers = await asyncio.gather(*[s.api.post(
        f"/api/v1/bots/{bot_id}/signals", json=body, headers={"X-Bot-Key": key})
        for _ in range(4)])
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert sorted(a.json()["duplicate"] for a in answers) == [False, True, True, True]
    assert len({a.json()["signal"]["client_order_id"] for a in answers}) == 1
    coid = answers[0].json()["signal"]["client_order_id"]
    assert coid.startswith(f"{bot_id}:s:h") and len(coid) <= 64
    orders = [o.request for o in await s.exec_orders(bot["account_id"])
              if o.request.client_order_id == coid]
    assert [(o.side, o.quantity) for o in orders] == [(2, 2)]  # SIDE_SELL, once


async def test_paused_external_bot_only_reduces_its_position(s):
    who = _user()
    bot = await _external_bot(s, who)
    bot_id, key = bot["id"], bot["signal_key"]
    await s.api.post(f"/api/v1/bots/{bot_id}/start", headers=who)
    url, hdr = f"/api/v1/bots/{bot_id}/signals", {"X-Bot-Key": key}
    base = {"symbol": "NSE:INFY", "quantity": 3, "ts": datetime.now(UTC).timestamp()}
    assert (await s.api.post(url, headers=hdr, json={**base, "id": "p1", "side": "BUY"})
            ).json()["signal"]["outcome"] == "order"
    await s.api.post(f"/api/v1/bots/{bot_id}/pause", headers=who)
    more = (await s.api.post(url, headers=hdr, json={**base, "id": "p2", "side": "BUY"})).json()
    assert more["signal"]["outcome"] == "paused" and more["signal"]["order_id"] is None
    less = (await s.api.post(url, headers=hdr, json={**base, "id": "p3", "side": "SELL",
                                                     "quantity": 2})).json()
    assert less["signal"]["outcome"] == "order"
    st = (await s.api.get(f"/api/v1/bots/{bot_id}", headers=who)).json()
    assert st["state"]["positions"] == {"NSE:INFY": 1}


async def test_stream_bot_logs_sends_recent_then_live(s):
    who = _user()
    bot = await _external_bot(s, who)
    md = (("mandi-user", who["x-test-user"]), ("mandi-accounts", bot["account_id"]))
    call = s.strategy.stub.StreamBotLogs(
        strategy_pb2.StreamBotLogsRequest(deployment_id=bot["id"], recent=5), metadata=md,
        timeout=20)
    first = await asyncio.wait_for(call.read(), 10)
    assert (first.event, first.level, first.fields["status"]) == ("status", "info", "created")
    await s.api.post(f"/api/v1/bots/{bot['id']}/start", headers=who)
    live = await asyncio.wait_for(call.read(), 10)
    assert live.event == "status" and live.fields["status"] == "running"
    assert live.id > first.id and who["x-test-user"] in live.message
    call.cancel()


async def test_signal_retried_after_a_crash_between_order_and_record_sends_the_same_order(s):
    """The strategy service died after execution took the order but before the signal was
    recorded: the caller's retry (same id) gets the very order — even though the LTP moved, so
    sizing again would have asked for another quantity — and the position counts it once."""
    who = _user()
    bot = await _external_bot(s, who)
    bot_id, key = bot["id"], bot["signal_key"]
    await s.api.post(f"/api/v1/bots/{bot_id}/start", headers=who)
    coid = f"{bot_id}:s:crash-1"
    # what the dead attempt did: the bot_orders row, then PlaceOrder (7 shares at ₹1,500)
    db = await create_pool(s.strategy.settings.pg_dsn, schema="strategy")
    try:
        await BotStore(db).record_orders(bot_id, [(coid, datetime.now(UTC), "NSE:INFY", "BUY",
                                                   7, "crash-1", "external")])
    finally:
        await db.close()
    placed = await s.exec_stub.PlaceOrder(execution_pb2.PlaceOrderRequest(
        account_id=bot["account_id"], order=execution_pb2.OrderRequest(
            client_order_id=coid, quantity=7, side=execution_pb2.SIDE_BUY,
            symbol=common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol="INFY"),
            order_type=execution_pb2.ORDER_TYPE_MARKET, product=strategy_pb2.PRODUCT_MIS,
            strategy_id=bot_id, allow_duplicate=True)), timeout=10)
    await s.set_ltp("INFY", "1400")  # sizing again: 0.03 × ₹5,00,000 / ₹1,400 = 10 shares
    r = await s.api.post(f"/api/v1/bots/{bot_id}/signals", headers={"X-Bot-Key": key}, json={
        "id": "crash-1", "symbol": "NSE:INFY", "side": "BUY", "target_weight": "0.03",
        "ts": _now()})
    assert r.status_code == 200, r.text
    sig = r.json()["signal"]
    assert (sig["outcome"], sig["quantity"], sig["order_id"]) == \
        ("order", 7, placed.order.order_id)
    orders = [o for o in await s.exec_orders(bot["account_id"])
              if o.request.client_order_id == coid]
    assert len(orders) == 1
    st = (await s.api.get(f"/api/v1/bots/{bot_id}", headers=who)).json()
    assert st["state"]["positions"] == {"NSE:INFY": 7}


async def test_signal_refused_by_the_accounts_emergency_stop_stops_its_bots(s):
    who = _user()
    account = await s.env.add_account()
    r = await s.api.post("/api/v1/bots", headers=who, json={
        "strategy": {"type": "external"}, "symbols": ["NSE:SBIN"], "capital": CAPITAL,
        "name": "halted", "account_id": account, "mode": "paper"})
    bot_id, key = r.json()["id"], r.json()["signal_key"]
    await s.api.post(f"/api/v1/bots/{bot_id}/start", headers=who)
    await s.exec_stub.EmergencyStop(execution_pb2.EmergencyStopRequest(
        account_id=account, reason="test", actor="ops"), timeout=30)
    sig = await s.api.post(f"/api/v1/bots/{bot_id}/signals", headers={"X-Bot-Key": key},
                           json={"id": "e1", "symbol": "NSE:SBIN", "side": "BUY",
                                 "quantity": 1, "ts": _now()})
    assert sig.status_code == 200, sig.text
    body = sig.json()["signal"]
    assert body["outcome"] == "refused" and "emergency" in body["detail"].lower()
    got = (await s.api.get(f"/api/v1/bots/{bot_id}", headers=who)).json()
    assert got["status"] == "stopped" and got["state"].get("positions") is None
    warnings = (await s.api.get(f"/api/v1/bots/{bot_id}/logs?level=warning",
                                headers=who)).json()["logs"]
    assert [x["event"] for x in warnings] == ["signal"]


async def test_a_late_retry_of_an_answered_signal_gets_its_answer_not_stale(s, monkeypatch):
    from services.strategy import bot_external

    who = _user()
    bot = await _external_bot(s, who)
    bot_id, key = bot["id"], bot["signal_key"]
    await s.api.post(f"/api/v1/bots/{bot_id}/start", headers=who)
    body = {"id": "late-1", "symbol": "NSE:SBIN", "side": "BUY", "quantity": 1, "ts": _now()}
    url, hdr = f"/api/v1/bots/{bot_id}/signals", {"X-Bot-Key": key}
    first = (await s.api.post(url, headers=hdr, json=body)).json()
    monkeypatch.setattr(bot_external, "MAX_AGE", timedelta(0))  # every ts is stale now
    again = await s.api.post(url, headers=hdr, json=body)
    assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
    assert again.json()["signal"] == first["signal"]
    fresh = await s.api.post(url, headers=hdr, json={**body, "id": "late-2"})
    assert fresh.status_code == 400 and "ts" in fresh.json()["error"]
    wrong_key = await s.api.post(url, headers={"X-Bot-Key": "mbk_x"}, json=body)
    assert wrong_key.status_code == 401  # the stored answer is for the key holder only
