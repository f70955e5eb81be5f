"""The whole path: an order filled in execution (PaperBroker, kit.py's engine) becomes a
notification on the gateway's stream, is stored, and reaches the user's webhook and Telegram
chat with the expected text — the execution side never awaiting any of it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from mandi.platform.migrations import run_migrations
from mandi.testing.redis import redis_namespace
from services.execution.sync import sync_account
from tests.integration.execution.kit import MIGRATIONS, make_env, spec

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_paper_fill_reaches_webhook_and_telegram(nstack: Any) -> None:
    # execution publishes to the placeholder user "default"; the notifier tells the users who
    # hold the account (test_recipients.py): here one, granted below
    user = "exec_owner"
    token = "555000:AAE-secret-exec-token"
    resp = await nstack.http.post("/api/v1/users", json={
        "username": user, "password": "a-long-enough-password", "role": "trader"})
    assert resp.status_code == 201, resp.text
    resp = await nstack.http.put("/api/v1/notifications/settings", params={"user": user}, json={
        "channels": {"telegram": {"enabled": True, "bot_token": token, "chat_id": "77"},
                     "webhook": {"enabled": True, "url": f"{nstack.fake.url}/hook/exec"}},
        "events": {"order_filled": {"telegram": False}}})
    assert resp.status_code == 200, resp.text
    await run_migrations(nstack.dsn, "execution", MIGRATIONS)
    async with redis_namespace() as ns:
        env = await make_env(nstack.dsn, ns)
        env.engine.events.notify_prefix = nstack.prefix  # the gateway's stream
        try:
            aid = env.account_id
            resp = await nstack.http.post(f"/api/v1/accounts/{aid}/grants",
                                          json={"username": user})
            assert resp.status_code == 201, resp.text
            env.price("NSE:SBIN", 815.00, spread=0.05)
            row, _ = await env.engine.place(aid, spec(quantity=3, price_paise=81235))
            env.price("NSE:SBIN", 812.20, spread=0.05)  # the resting buy trades at 812.35
            account, _ = await env.engine.account(aid)
            await sync_account(env.engine, account)
            await env.engine.accounts.set_session_state(aid, "expired")
            want_fill = (f"✅ BUY 3 SBIN filled at ₹812.35 (order {row['order_id']}, "
                         f"account {aid})")
            want_expiry = (f"🔑 Broker session expired on account {aid}: log in again to "
                           "resume trading")
            deadline = time.monotonic() + 60
            while sorted(nstack.fake.texts("webhook:exec")) != sorted([want_fill, want_expiry]):
                assert time.monotonic() < deadline, nstack.fake.texts("webhook:exec")
                await asyncio.sleep(0.05)
            deadline = time.monotonic() + 60
            while nstack.fake.texts(f"telegram:{token}") != [want_expiry]:
                assert time.monotonic() < deadline, nstack.fake.texts(f"telegram:{token}")
                await asyncio.sleep(0.05)
            listed = (await nstack.http.get("/api/v1/notifications",
                                            params={"user": user})).json()
            assert {i["kind"] for i in listed["items"]} == {"order_filled", "session_expired"}
            assert listed["unread"] == 2
        finally:
            await env.engine.brokers.close()
            await env.pool.close()
    # order_filled is off for Telegram: only the expiry went there
    assert [c.body["chat_id"] for c in nstack.fake.attempts(f"telegram:{token}")] == ["77"]
