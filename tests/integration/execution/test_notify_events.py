"""Execution publishes user notifications where they happen — fill, rejection (broker or risk),
GTT trigger, daily loss latch, emergency stop, session expiry — onto the notification stream,
without the order path waiting for them (the PaperBroker path of kit.py)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from mandi.platform import notify_events
from mandi.platform.notify_events import decode, stream_key
from services.execution.accounts import RiskLimits
from services.execution.emergency import emergency_stop
from services.execution.risk import RiskRejected
from services.execution.sync import sync_account
from tests.integration.execution.kit import Env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def _events(env: Env, account_id: str) -> list[dict[str, Any]]:
    redis = env.engine.events.redis
    entries = await redis.xrange(stream_key(env.engine.events.notify_prefix))
    out = [decode(fields) for _, fields in entries]
    return [e for e in out if e["data"].get("account_id") == account_id]


async def _wait(env: Env, account_id: str, kind: str, n: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while True:
        found = [e for e in await _events(env, account_id) if e["kind"] == kind]
        if len(found) >= n:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind} notification for {account_id}")
        await asyncio.sleep(0.05)


async def _settled() -> None:
    """Every notification scheduled so far has been appended (or failed): a count taken after
    this cannot miss an extra event still in flight."""
    await asyncio.gather(*list(notify_events._pending), return_exceptions=True)


async def _sync(env: Env, aid: str) -> None:
    account, _ = await env.engine.account(aid)
    await sync_account(env.engine, account)


async def test_fill_gtt_trigger_and_their_texts(env: Env) -> None:
    aid = env.account_id
    env.price("NSE:SBIN", 815.00, spread=0.05)
    row, _ = await env.engine.place(aid, spec(quantity=37, price_paise=81235,
                                              stop_loss_paise=80000, target_paise=84000))
    env.price("NSE:SBIN", 812.20, spread=0.05)  # the resting buy trades at 812.35
    await _sync(env, aid)
    filled = (await _wait(env, aid, "order_filled"))[0]
    assert filled["user"] == "default"
    assert filled["data"] | {"strategy_id": "", "bot_id": ""} == {
        "account_id": aid, "order_id": row["order_id"], "symbol": "SBIN", "exchange": "NSE",
        "side": "BUY", "quantity": 37, "average_price_paise": 81235, "strategy_id": "",
        "bot_id": ""}
    env.price("NSE:SBIN", 799.50, spread=0.05)  # through the stop
    await _sync(env, aid)
    await _sync(env, aid)
    gtt = (await _wait(env, aid, "gtt_triggered"))[0]["data"]
    assert (gtt["symbol"], gtt["side"], gtt["quantity"], gtt["leg"]) == ("SBIN", "SELL", 37, "sl")
    exits = await _wait(env, aid, "order_filled", 2)
    assert {e["data"]["side"] for e in exits} == {"BUY", "SELL"}


async def test_daily_loss_latch_and_risk_rejection(env: Env) -> None:
    aid = await env.add_account(replace(RiskLimits(), daily_loss_limit_paise=50_000))
    env.price("NSE:SBIN", 812.00)
    await env.engine.place(aid, spec(quantity=10))
    await _sync(env, aid)
    env.price("NSE:SBIN", 750.00)  # a ₹620 loss on the exit
    await env.engine.place(aid, spec(side="SELL", quantity=10, price_paise=74000,
                                     allow_duplicate=True))
    await _sync(env, aid)
    latch = await _wait(env, aid, "daily_loss_latch")
    assert len(latch) == 1
    assert latch[0]["data"]["limit_paise"] == 50_000 and latch[0]["data"]["loss_paise"] > 50_000
    await _sync(env, aid)  # a later pass does not latch (nor notify) again
    with pytest.raises(RiskRejected):
        await env.engine.place(aid, spec(price_paise=75000))
    # published after any second latch notice would have been
    rejected = (await _wait(env, aid, "order_rejected"))[0]["data"]
    assert rejected["symbol"] == "SBIN" and "loss" in rejected["reason"].lower()
    await _settled()
    assert len([e for e in await _events(env, aid) if e["kind"] == "daily_loss_latch"]) == 1


async def test_emergency_stop_and_session_expiry(env: Env) -> None:
    aid = await env.add_account()
    await emergency_stop(env.engine, aid, reason="fat finger", actor="api")
    stop = (await _wait(env, aid, "emergency_stop"))[0]["data"]
    assert stop == {"account_id": aid, "actor": "api", "reason": "fat finger"}
    await env.engine.accounts.set_session_state(aid, "expired")
    await env.engine.accounts.set_session_state(aid, "expired")  # still expired: no repeat
    await env.engine.accounts.set_session_state(aid, "ok")
    await env.engine.accounts.set_session_state(aid, "expired")  # expired again: notified
    await _wait(env, aid, "session_expired", 2)
    await _settled()
    assert len([e for e in await _events(env, aid) if e["kind"] == "session_expired"]) == 2
    state = await env.pool.fetchval("SELECT session_state FROM accounts WHERE account_id = $1",
                                    aid)
    assert state == "expired"
