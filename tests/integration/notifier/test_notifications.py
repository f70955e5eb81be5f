"""Notifications end to end: events published with `publish_event` onto the Redis stream reach
the gateway's notifier, are stored with read state, and arrive at a fake Telegram Bot API, a
webhook receiver, a Discord-style receiver and an SMTP server with the expected text; toggles,
retries with backoff, a dead channel, and the REST API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from mandi.platform import notify_events
from mandi.platform.notify_events import KINDS, publish_event, stream_key
from mandi.platform.redis import create_redis
from mandi.testing.kitesim import free_port
from services.notifier.messages import render
from tests.integration.notifier.fakes import Script

pytestmark = pytest.mark.asyncio(loop_scope="module")

SAMPLES: dict[str, dict[str, Any]] = {
    "order_filled": {"account_id": "PAPER1", "order_id": "241101000123", "side": "BUY",
                     "quantity": 10, "symbol": "INFY", "exchange": "NSE",
                     "average_price_paise": 150235},
    "order_rejected": {"account_id": "PAPER1", "order_id": "241101000124", "side": "SELL",
                       "quantity": 5, "symbol": "TCS", "reason": "insufficient funds"},
    "gtt_triggered": {"account_id": "PAPER1", "gtt_id": "g-77", "side": "SELL", "quantity": 10,
                      "symbol": "INFY", "leg": "stop"},
    "bot_started": {"bot_id": "b1", "name": "ema-infy", "account_id": "PAPER1"},
    "bot_stopped": {"bot_id": "b1", "name": "ema-infy", "account_id": "PAPER1",
                    "reason": "after the close"},
    "bot_error": {"bot_id": "b1", "name": "ema-infy", "account_id": "PAPER1",
                  "error": "strategy raised ZeroDivisionError"},
    "daily_loss_latch": {"account_id": "PAPER1", "loss_paise": 1250000, "limit_paise": 1000000,
                         "square_off": True},
    "emergency_stop": {"account_id": "PAPER1", "actor": "api", "reason": "market crash"},
    "session_expired": {"account_id": "KITE1"},
    "fetch_finished": {"job_id": "j-1", "items": 12, "failed": 0},
    "fetch_failed": {"job_id": "j-2", "error": "2 of 2 items failed"},
}
EXPECTED = {
    "order_filled": "✅ BUY 10 INFY filled at ₹1,502.35 (order 241101000123, account PAPER1)",
    "order_rejected": "❌ SELL 5 TCS rejected: insufficient funds (order 241101000124, "
                      "account PAPER1)",
    "gtt_triggered": "🎯 GTT triggered: SELL 10 INFY (stop leg) (GTT g-77, account PAPER1)",
    "bot_started": "▶️ bot ema-infy started on account PAPER1",
    "bot_stopped": "⏹️ bot ema-infy stopped on account PAPER1: after the close",
    "bot_error": "⚠️ bot ema-infy error on account PAPER1: strategy raised ZeroDivisionError",
    "daily_loss_latch": "🛑 Daily loss limit hit on account PAPER1: loss ₹12,500.00 ≥ limit "
                        "₹10,000.00; new entries blocked today; squaring off",
    "emergency_stop": "🚨 Emergency stop on account PAPER1 by api: market crash",
    "session_expired": "🔑 Broker session expired on account KITE1: log in again to resume "
                       "trading",
    "fetch_finished": "📥 Data fetch job j-1 finished: 12 items",
    "fetch_failed": "📛 Data fetch job j-2 failed: 2 of 2 items failed",
}


def token_of(user: str) -> str:
    return f"{user}-987654:AAE-secret-bot-token"


def channels_for(stack: Any, user: str, *, email: bool = True) -> dict[str, Any]:
    out = {
        "telegram": {"enabled": True, "bot_token": token_of(user), "chat_id": user},
        "webhook": {"enabled": True, "url": f"{stack.fake.url}/hook/{user}"},
        "discord": {"enabled": True,
                    "webhook_url": f"{stack.fake.url}/api/webhooks/{user}/discord-secret-{user}"},
    }
    if email:
        out["email"] = {"enabled": True, "host": "127.0.0.1", "port": stack.smtp.port,
                        "from_addr": "mandi@example.test", "to": [f"{user}@example.test"]}
    return out


async def put_settings(stack: Any, user: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await stack.http.put("/api/v1/notifications/settings", params={"user": user},
                                json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def until(what: str, check: Callable[[], Any], limit_s: float = 60.0) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def all_acked(stack: Any) -> bool:
    info = await stack.redis.client.xpending(stream_key(stack.prefix), "notifier")
    return info["pending"] == 0


def publish(stack: Any, kind: str, user: str, data: dict[str, Any] | None = None) -> None:
    task = publish_event(stack.redis.client, stack.prefix, kind,
                         SAMPLES[kind] if data is None else data, user=user)
    assert task is not None


async def stored(stack: Any, user: str) -> list[dict[str, Any]]:
    resp = await stack.http.get("/api/v1/notifications",
                                params={"user": user, "page_size": 200})
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def test_message_texts() -> None:
    for kind in KINDS:
        assert render(kind, SAMPLES[kind]) == EXPECTED[kind]


async def test_every_kind_arrives_on_every_enabled_channel(nstack: Any) -> None:
    user = "u_all"
    await put_settings(nstack, user, {"channels": channels_for(nstack, user)})
    for kind in KINDS:
        publish(nstack, kind, user)
    want = sorted(EXPECTED.values())
    tg, hook, dc = f"telegram:{token_of(user)}", f"webhook:{user}", f"discord:{user}"
    # Telegram (1/s per chat) and e-mail (1/s per server) are paced: 11 events take ~11 s.
    await until("all channels", lambda: len(nstack.fake.texts(tg)) == len(KINDS)
                and len(nstack.fake.texts(hook)) == len(KINDS)
                and len(nstack.fake.texts(dc)) == len(KINDS)
                and len(nstack.smtp.bodies(f"{user}@example.test")) == len(KINDS))
    assert sorted(nstack.fake.texts(tg)) == want
    assert sorted(nstack.fake.texts(hook)) == want
    assert sorted(nstack.fake.texts(dc)) == want
    assert sorted(nstack.smtp.bodies(f"{user}@example.test")) == want
    hook_kinds = sorted(c.body["kind"] for c in nstack.fake.attempts(hook))
    assert hook_kinds == sorted(KINDS)  # the webhook carries the kind and data too
    filled = next(c.body for c in nstack.fake.attempts(hook) if c.body["kind"] == "order_filled")
    assert filled["data"]["average_price_paise"] == 150235 and filled["user"] == user
    # Telegram's one message a second per chat: consecutive sends are spaced by about a second.
    times = sorted(c.at for c in nstack.fake.attempts(tg))
    assert times[-1] - times[0] >= (len(KINDS) - 1) * 0.9
    items = await stored(nstack, user)
    assert sorted(i["text"] for i in items) == want


async def test_disabled_event_or_channel_sends_nothing(nstack: Any) -> None:
    user = "u_off"
    chans = channels_for(nstack, user, email=False)
    chans["discord"]["enabled"] = False
    await put_settings(nstack, user, {"channels": chans, "events": {
        "order_filled": {"telegram": False}, "fetch_failed": False}})
    for kind in ("order_filled", "fetch_failed", "bot_started"):
        publish(nstack, kind, user)
    await until("3 stored", lambda: _count(nstack, user, 3))
    await until("all acked", lambda: all_acked(nstack))
    tg, hook, dc = f"telegram:{token_of(user)}", f"webhook:{user}", f"discord:{user}"
    assert nstack.fake.texts(tg) == [EXPECTED["bot_started"]]
    assert sorted(nstack.fake.texts(hook)) == sorted([EXPECTED["bot_started"],
                                                      EXPECTED["order_filled"]])
    assert nstack.fake.attempts(dc) == []
    assert nstack.smtp.bodies(f"{user}@example.test") == []


async def _count(stack: Any, user: str, n: int) -> bool:
    return len(await stored(stack, user)) == n


async def test_failing_channel_is_retried_with_backoff_and_delivered_once(nstack: Any) -> None:
    user = "u_flaky"
    await put_settings(nstack, user, {"channels": {
        "telegram": {"enabled": True, "bot_token": token_of(user), "chat_id": user},
        "webhook": {"enabled": True, "url": f"{nstack.fake.url}/hook/{user}"}}})
    tg, hook = f"telegram:{token_of(user)}", f"webhook:{user}"
    nstack.fake.scripts[tg] = Script(statuses=[500, 500])
    nstack.fake.scripts[hook] = Script(statuses=[429], retry_after=0.6)
    publish(nstack, "order_filled", user)
    await until("telegram and webhook delivered",
                lambda: nstack.fake.texts(tg) and nstack.fake.texts(hook))
    await until("all acked", lambda: all_acked(nstack))
    calls = nstack.fake.attempts(tg)
    assert [c.status for c in calls] == [500, 500, 200]
    assert nstack.fake.texts(tg) == [EXPECTED["order_filled"]]  # delivered once
    # backoff: base 0.1 s, retry n waits at least half of base·2^(n-1)
    assert calls[1].at - calls[0].at >= 0.05
    assert calls[2].at - calls[1].at >= 0.1
    hook_calls = nstack.fake.attempts(hook)
    assert [c.status for c in hook_calls] == [429, 200]
    assert hook_calls[1].at - hook_calls[0].at >= 0.6  # the server's retry_after is honoured
    items = await stored(nstack, user)
    deliveries = await nstack.app.state.notifier.store.deliveries(items[0]["id"])
    assert deliveries["telegram"]["state"] == "sent" and deliveries["telegram"]["attempts"] == 3
    assert deliveries["webhook"]["state"] == "sent" and deliveries["webhook"]["attempts"] == 2


async def test_dead_channel_delays_neither_other_channels_nor_the_publisher(
        nstack: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    user = "u_dead"
    hang = asyncio.Event()
    chans = channels_for(nstack, user, email=False)
    chans["discord"]["webhook_url"] = f"http://127.0.0.1:{free_port()}/api/webhooks/x/y"  # refused
    await put_settings(nstack, user, {"channels": chans})
    hook, tg = f"webhook:{user}", f"telegram:{token_of(user)}"
    nstack.fake.scripts[hook] = Script(hang=hang)
    publish(nstack, "emergency_stop", user)
    # Telegram gets its message while the webhook's request is still hanging.
    await until("telegram", lambda: nstack.fake.texts(tg))
    assert nstack.fake.hanging == 1 and nstack.fake.texts(hook) == []
    assert not await all_acked(nstack)  # the event waits for the hanging channel
    hang.set()
    await until("webhook", lambda: nstack.fake.texts(hook))
    await until("all acked", lambda: all_acked(nstack))
    items = await stored(nstack, user)
    deliveries = await nstack.app.state.notifier.store.deliveries(items[0]["id"])
    assert deliveries["discord"]["state"] == "failed"
    assert deliveries["discord"]["attempts"] == 3  # MANDI_NOTIFY_RETRY_ATTEMPTS
    assert "secret" not in deliveries["discord"]["error"]
    assert deliveries["telegram"]["state"] == deliveries["webhook"]["state"] == "sent"
    # the fake servers' access logs and the test's own REST client are not the notifier's
    ours = "\n".join(r.getMessage() for r in caplog.records
                     if not r.name.startswith(("aiohttp.access", "aiohttp.server", "httpx",
                                               "httpcore")))
    assert "retry" in ours  # the dead channel's retries were logged …
    for secret in (token_of(user), "/api/webhooks/x/y", f"/hook/{user}"):
        assert secret not in ours  # … without its URL or any token


async def test_publish_returns_at_once_when_redis_is_down() -> None:
    dead = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    before = notify_events.PUBLISH_FAILURES.labels("order_filled")._value.get()
    try:
        task = publish_event(dead, "x", "order_filled", SAMPLES["order_filled"])
        assert task is not None and not task.done()  # scheduled, not awaited by the caller
        assert await task is None  # the failure stays inside the task …
    finally:
        await dead.aclose()
    after = notify_events.PUBLISH_FAILURES.labels("order_filled")._value.get()
    assert after == before + 1  # … and is counted
    with pytest.raises(Exception, match="kind"):
        publish_event(dead, "x", "order_exploded", {})


async def test_list_unread_count_and_mark_read(nstack: Any) -> None:
    user = "u_list"
    for kind in ("bot_started", "bot_stopped", "fetch_finished"):
        publish(nstack, kind, user)
    await until("3 stored", lambda: _count(nstack, user, 3))
    page = (await nstack.http.get("/api/v1/notifications",
                                  params={"user": user, "page_size": 2})).json()
    assert page["total"] == 3 and page["unread"] == 3 and len(page["items"]) == 2
    assert not any(i["read"] for i in page["items"])
    page2 = (await nstack.http.get("/api/v1/notifications",
                                   params={"user": user, "page_size": 2, "page": 2})).json()
    assert len(page2["items"]) == 1
    first = page["items"][0]["id"]
    resp = await nstack.http.post(f"/api/v1/notifications/{first}/read", params={"user": user})
    assert resp.status_code == 200, resp.text
    unread = (await nstack.http.get("/api/v1/notifications",
                                    params={"user": user, "unread": "true"})).json()
    assert unread["unread"] == 2 and unread["total"] == 2
    assert first not in {i["id"] for i in unread["items"]}
    # another user cannot mark it, nor see it
    other = await nstack.http.post(f"/api/v1/notifications/{first}/read",
                                   params={"user": "someone_else"})
    assert other.status_code == 404
    resp = await nstack.http.post("/api/v1/notifications/read-all", params={"user": user})
    assert resp.json()["marked"] == 2
    after = (await nstack.http.get("/api/v1/notifications", params={"user": user})).json()
    assert after["unread"] == 0 and all(i["read"] for i in after["items"])
    bad = await nstack.http.get("/api/v1/notifications", params={"page": 0})
    assert bad.status_code == 400 and "page" in bad.json()["error"]
    bad = await nstack.http.get("/api/v1/notifications", params={"page_size": 1000})
    assert bad.status_code == 400 and "page_size" in bad.json()["error"]


async def test_settings_mask_secrets_and_name_bad_fields(nstack: Any) -> None:
    user = "u_settings"
    token = token_of(user)
    body = {"channels": channels_for(nstack, user)}
    body["channels"]["email"].update(username="mailer", password="smtp-pass-secret")
    got = await put_settings(nstack, user, body)
    text = str(got)
    for secret in (token, "smtp-pass-secret", f"discord-secret-{user}", f"/hook/{user}"):
        assert secret not in text
    fetched = (await nstack.http.get("/api/v1/notifications/settings",
                                     params={"user": user})).json()
    assert fetched == got
    assert fetched["channels"]["telegram"]["bot_token"] == "****" + token[-4:]
    assert fetched["channels"]["telegram"]["chat_id"] == user
    assert fetched["events"]["order_filled"] == {"telegram": True, "webhook": True,
                                                 "discord": True, "email": True}
    # PUT back what GET gave: the stored secrets stay
    await put_settings(nstack, user, {"channels": fetched["channels"]})
    stored_conf = await nstack.app.state.notifier.store.settings(user)
    assert stored_conf["channels"]["telegram"]["bot_token"] == token
    assert stored_conf["channels"]["email"]["password"] == "smtp-pass-secret"
    for bad_body, field in [
        ({"channels": {"email": {"port": 70000}}}, "channels.email.port"),
        ({"channels": {"pager": {"enabled": True}}}, "channels.pager"),
        ({"channels": {"webhook": {"url": "ftp://x"}}}, "channels.webhook.url"),
        ({"events": {"order_exploded": True}}, "events.order_exploded"),
        ({"events": {"order_filled": {"fax": True}}}, "events.order_filled.fax"),
        ({"channels": {"telegram": {"enabled": True, "bot_token": "t" * 20, "chat_id": ""}}},
         "channels.telegram.chat_id"),
        ({"colour": "red"}, "colour"),
    ]:
        resp = await nstack.http.put("/api/v1/notifications/settings", params={"user": "u_bad"},
                                     json=bad_body)
        assert resp.status_code == 400, (bad_body, resp.text)
        assert field in resp.json()["error"], (field, resp.json())
