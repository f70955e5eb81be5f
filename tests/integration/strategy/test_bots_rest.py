"""REST → gateway → strategy service for bots, over real sockets and PostgreSQL: create with
the backtest run body (errors name the field), list, get, start/pause/stop, delete, schedules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import pytest_asyncio

from services.strategy import parity
from tests.integration.strategy.gateway_client import gateway_client

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

BOT = {"strategy": {"type": "ema_crossover", "params": {"fast": 5, "slow": 20}},
       "symbols": ["NSE:INFY"], "interval": "minute", "capital": 500000,
       "sizing": {"type": "fixed_qty", "qty": 4}, "name": "ema infy",
       "account_id": "PAPER1", "mode": "paper", "product": "MIS"}


@pytest_asyncio.fixture(loop_scope="module")
async def api(strategy, history) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(strategy.port, history[1], "trader", frozenset({"PAPER1"})) as c:
        yield c


async def test_bot_lifecycle_over_rest(api):
    created = await api.post("/api/v1/bots", json=BOT)
    assert created.status_code == 201, created.text
    bot = created.json()
    assert bot["status"] == "created" and bot["mode"] == "paper"
    assert bot["symbols"] == ["NSE:INFY"] and bot["product"] == "MIS"
    assert bot["capital"] == 500000 and bot["strategy"]["type"] == "ema_crossover"
    bot_id = bot["id"]
    listed = (await api.get("/api/v1/bots")).json()["bots"]
    assert [b["id"] for b in listed] == [bot_id]
    for action, status in (("start", "running"), ("pause", "paused"), ("stop", "stopped")):
        r = await api.post(f"/api/v1/bots/{bot_id}/{action}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
    again = await api.post(f"/api/v1/bots/{bot_id}/pause")
    assert again.status_code == 409, again.text
    assert "deployment_id" in again.text
    got = (await api.get(f"/api/v1/bots/{bot_id}")).json()
    assert got["status"] == "stopped" and got["order_list"] == []
    assert (await api.delete(f"/api/v1/bots/{bot_id}")).status_code == 200
    assert (await api.get(f"/api/v1/bots/{bot_id}")).status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"mode": "dry"}, "mode"),
    ({"account_id": ""}, "account_id"),
    ({"sizing": {"type": "kelly", "pct": 5}}, "sizing.type"),
    ({"symbols": ["INFY"]}, "symbols[0]"),
    ({"schedule": {"start": "25:00"}}, "schedule.start"),
    ({"schedule": {"start": "12:00", "stop": "11:00"}}, "schedule.stop"),
    ({"schedule": {"days": "weekends"}}, "schedule.days"),
    ({"schedule": {"begin": "09:10"}}, "begin"),
    ({"strategy": {"type": "ema_crossover", "params": {"fast": 40, "slow": 20}}},
     "strategy.params.fast"),
])
async def test_create_bot_when_body_is_bad_is_400_naming_the_field(api, change, field):
    r = await api.post("/api/v1/bots", json={**BOT, **change})
    assert r.status_code in (400, 422), r.text
    assert field in r.text, r.text


async def test_parity_of_a_bot_day_errors_name_the_field(api):
    bot_id = (await api.post("/api/v1/bots", json={**BOT, "name": "parity edges"})).json()["id"]
    for bad in ("2026-13-01", "04-03-2026", ""):
        r = await api.get(f"/api/v1/bots/{bot_id}/parity", params={"date": bad})
        assert r.status_code == 400, r.text
        assert "date" in r.text
    r = await api.get("/api/v1/bots/bnope/parity", params={"date": "2026-03-04"})
    assert r.status_code == 404, r.text
    # a bot that never ran has no day to compare
    r = await api.get(f"/api/v1/bots/{bot_id}/parity", params={"date": "2026-03-04"})
    assert r.status_code == 409, r.text
    assert "did not run" in r.text and "date" in r.text
    # and says why in a code a client can translate, with the values its message names and
    # the field the message starts with
    body = r.json()
    assert (body["reason"], body["params"]) == ("parity_not_run", {"day": "2026-03-04"})
    assert body["field"] == "date" and body["error"].startswith("date: ")


async def test_a_stored_parity_report_over_rest(api, module_dsn):
    """The nightly run's stored report, as the REST client sees it: differences with their
    category, explanation and amount, the unexplained count, P&L in paise and rupees."""
    bot_id = (await api.post("/api/v1/bots", json={**BOT, "name": "parity stored"})).json()["id"]
    bar = 1_772_600_000 * 10**9
    rep = parity.ParityReport(
        day="2026-03-04", bot_id=bot_id, backtest_orders=4, live_orders=4, matched=4,
        pnl_backtest_paise=10_000, pnl_live_paise=9_250, differences=[
            parity.Difference("fill", parity.FILL_TIMING, True, "NSE:INFY", "main", bar,
                              "live filled at ₹1500.75", -750, f"{bot_id}:1:0.main.in",
                              backtest={"side": "BUY", "qty": 4, "price_paise": 150_000,
                                        "bar_ts": bar, "reason": "entry", "status": "filled",
                                        "filled_qty": 4, "sent_ts": bar + 60 * 10**9},
                              live={"side": "BUY", "qty": 4, "price_paise": 150_075,
                                    "bar_ts": bar, "reason": "entry", "status": "filled",
                                    "filled_qty": 4, "sent_ts": bar + 61 * 10**9}),
            parity.Difference("signal", parity.MISSED_SIGNAL, False, "NSE:INFY", "main",
                              bar + 300 * 10**9, "no live fill", 0)],
        candles={"NSE:INFY": {"stored": 375, "live": 374, "missing": 1, "differing": 0}})
    conn = await asyncpg.connect(module_dsn)
    try:
        await conn.execute("INSERT INTO strategy.bot_parity (bot_id, day, unexplained, report)"
                           " VALUES ($1, '2026-03-04', $2, $3)", bot_id, rep.unexplained,
                           json.dumps(rep.as_dict()))
    finally:
        await conn.close()
    r = await api.get(f"/api/v1/bots/{bot_id}/parity", params={"date": "2026-03-04"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["date"] == "2026-03-04" and body["unexplained"] == 1 and body["stored"]
    fill, missed = body["differences"]
    assert (fill["category"], fill["explained"], fill["amount_paise"], fill["amount"]) == \
        ("fill_timing", True, -750, -7.5)
    assert fill["live"]["price_paise"] == 150_075 and fill["backtest"]["price"] == 1500.0
    assert fill["bar_time"].endswith("+00:00") and fill["live"]["sent_time"]
    assert (missed["category"], missed["explained"], missed["live"]) == \
        ("missed_signal", False, None)
    assert body["pnl"]["difference_paise"] == -750 and body["pnl"]["live"] == 92.5
    assert body["orders"] == {"backtest": 4, "live": 4, "matched": 4}
    assert body["candles"] == [{"symbol": "NSE:INFY", "stored": 375, "live": 374,
                                "missing": 1, "differing": 0}]


async def test_bot_schedule_is_stored_returned_replaced_and_removed(api):
    body = {**BOT, "name": "scheduled infy",
            "schedule": {"start": "09:10", "stop": "15:35", "days": ["mon", "wed", "fri"]}}
    created = await api.post("/api/v1/bots", json=body)
    assert created.status_code == 201, created.text
    bot = created.json()
    assert bot["schedule"] == {"start": "09:10", "stop": "15:35", "days": "mon,wed,fri"}
    bot_id = bot["id"]
    r = await api.put(f"/api/v1/bots/{bot_id}/schedule", json={"schedule": {}})
    assert r.status_code == 200, r.text
    assert r.json()["schedule"] == {"start": "open-5", "stop": "close+5", "days": "trading"}
    bad = await api.put(f"/api/v1/bots/{bot_id}/schedule",
                        json={"schedule": {"stop": "open-30"}})
    assert bad.status_code == 400, bad.text
    assert "schedule.stop" in bad.text
    got = (await api.get(f"/api/v1/bots/{bot_id}")).json()
    assert got["schedule"]["start"] == "open-5"  # the refused change changed nothing
    r = await api.put(f"/api/v1/bots/{bot_id}/schedule", json={"schedule": None})
    assert r.status_code == 200 and r.json()["schedule"] is None, r.text
    assert (await api.get(f"/api/v1/bots/{bot_id}")).json()["schedule"] is None
    plain = (await api.post("/api/v1/bots", json={**BOT, "name": "unscheduled"})).json()
    assert plain["schedule"] is None
    other = await api.put("/api/v1/bots/bnosuchbot/schedule", json={"schedule": None})
    assert other.status_code == 404, other.text
