"""TickerPool against the real kitesim ticker: decoding, outage, stall, expired token, postbacks.

Every fault comes from kitesim's `/sim/ws/fault`; the pool only sees sockets, as it would in
production. The token source reads the fixture's current access token, so a new login (after
`expire_tokens`) is what a fresh token looks like to the pool.
"""

from __future__ import annotations

import asyncio
import json
import random
import urllib.error
from datetime import datetime

import aiohttp
import numpy as np
import pytest

from mandi.kite import ticker_codec as tc
from services.marketdata.pool import TickerPool
from services.marketdata.ticks import MODE_NAMES, decode
from tests.integration.marketdata.feed import Recorder, until

INFY, SBIN, NIFTY, BANKNIFTY = 408065, 779521, 256265, 260105


def _future(server) -> int:
    return next(i.token for i in server.sim.universe.instruments
                if i.name == "NIFTY" and i.kind == "FUT")


async def _admin(server, path: str, body: dict | None = None):
    return await asyncio.to_thread(server.admin, path, body)


async def _upgrades(server) -> dict:
    return (await _admin(server, "ticker"))["upgrades"]


def _pool(server, rec: Recorder, **kw) -> TickerPool:
    async def token() -> str:
        return server.access_token

    kw.setdefault("backoff_base_s", 0.2)
    kw.setdefault("backoff_max_s", 1.0)
    kw.setdefault("stall_s", 3.0)
    return TickerPool(server.ws_url, server.api_key, token, on_ticks=rec.on_ticks,
                      on_state=rec.on_state, on_postback=rec.on_postback,
                      rng=random.Random(7), **kw)


@pytest.fixture
async def cleared(kitesim_server):
    yield kitesim_server
    await _admin(kitesim_server, "faults", {"enabled": False})


# --- decode() on real frames ---------------------------------------------------------------
async def test_decode_equals_codec_on_kitesim_frames(kitesim_server):
    s = kitesim_server
    fut = _future(s)
    want = {INFY: "full", SBIN: "quote", fut: "ltp", NIFTY: "full", BANKNIFTY: "quote"}
    seen: dict[int, str] = {}
    url = f"{s.ws_url}?api_key={s.api_key}&access_token={s.access_token}"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"a": "subscribe", "v": list(want)}))
        for mode in ("full", "ltp"):
            await ws.send_str(json.dumps(
                {"a": "mode", "v": [mode, [t for t, m in want.items() if m == mode]]}))
        for _ in range(40):
            msg = await ws.receive(timeout=5)
            if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) < 2:
                continue
            batch, ticks = decode(msg.data, 123), tc.decode_frame(msg.data)
            assert len(batch) == len(ticks)
            for i, t in enumerate(ticks):
                _assert_same(batch, i, t)
                seen[t["instrument_token"]] = t["mode"]
            if seen == want:
                break
    assert seen == want  # ltp, quote, full and index quote/full packets all compared


def _assert_same(batch, i: int, t: dict) -> None:
    token = t["instrument_token"]
    div = tc.price_divisor(token)
    assert batch.token[i] == token and MODE_NAMES[batch.mode[i]] == t["mode"]
    assert batch.price[i] == round(t["last_price"] * div) and batch.received_ns[i] == 123
    if "ohlc" in t:
        for k in ("open", "high", "low", "close"):
            assert getattr(batch, k)[i] == round(t["ohlc"][k] * div), k
    if "volume_traded" in t:
        assert batch.volume[i] == t["volume_traded"]
        assert batch.ltq[i] == t["last_traded_quantity"]
        assert batch.avg[i] == round(t["average_traded_price"] * div)
        assert (batch.buy_qty[i], batch.sell_qty[i]) == (t["total_buy_quantity"],
                                                       t["total_sell_quantity"])
    else:
        assert batch.volume[i] == -1
    if "exchange_timestamp" in t:
        assert batch.exchange_ts[i] == int(t["exchange_timestamp"].timestamp())
    else:
        assert batch.exchange_ts[i] == 0
    if "depth" in t:
        levels = t["depth"]["buy"] + t["depth"]["sell"]
        assert batch.depth_qty[i].tolist() == [d["quantity"] for d in levels]
        assert batch.depth_price[i].tolist() == [round(d["price"] * div) for d in levels]
        assert batch.depth_orders[i].tolist() == [d["orders"] for d in levels]
        assert batch.oi[i] == t["oi"]
        assert batch.last_trade_ts[i] == int(t["last_trade_time"].timestamp())
    else:
        assert not np.any(batch.depth_qty[i])


# --- outage: reconnect and resubscribe with the same modes ---------------------------------
async def test_reconnects_after_outage_with_the_same_modes(cleared):
    s = cleared
    fut = _future(s)
    want = {INFY: "full", SBIN: "quote", fut: "ltp"}
    rec = Recorder()
    pool = _pool(s, rec)
    await pool.start()
    try:
        for token, mode in want.items():
            await pool.subscribe([token], mode)
        await until(lambda: rec.modes == want, 10, "first ticks in every mode")
        before = await _upgrades(s)
        rec.mark()
        out = await _admin(s, "ws/fault", {"down_for_s": 2})
        assert out["closed"] >= 1
        await until(lambda: rec.count("connected") >= 2, 15, "the reconnect")
        # full stays full, ltp stays ltp (the resubscription is `subscribe` then `mode`, as
        # KiteTicker sends it: a tick in subscribe's default quote mode may come between)
        await until(lambda: rec.modes == want, 10, "ticks after the reconnect in their modes")
        after = await _upgrades(s)
        assert after["refused_503"] > before["refused_503"]  # it did retry during the outage
        assert after["accepted"] == before["accepted"] + 1
        st = pool.status()[0]
        assert st["state"] == "connected" and st["reconnects"] >= 2 and st["instruments"] == 3
        assert "access_token" not in json.dumps(pool.status())
        names = rec.state_names()
        assert names[:2] == ["connecting", "connected"] and names[-1] == "connected"
    finally:
        await pool.close()
    assert rec.state_names()[-1] == "stopped"


# --- a mute socket -----------------------------------------------------------------------
async def test_stall_is_detected_and_the_socket_replaced(cleared):
    s = cleared
    rec = Recorder()
    pool = _pool(s, rec, stall_s=1.5)
    await pool.start()
    try:
        await pool.subscribe([INFY], "full")
        await until(lambda: INFY in rec.modes, 10, "first ticks")
        rec.mark()
        assert (await _admin(s, "ws/fault", {"stall": True}))["muted"] >= 1
        waited = await until(lambda: rec.count("stalled") == 1, 10, "state stalled")
        assert waited <= 1.5 + 1.0
        await until(lambda: rec.count("connected") == 2, 10, "a new socket")
        connected_again = [t for _, st, _, t in rec.states if st == "connected"][-1]
        await until(lambda: INFY in rec.since, 10, "ticks on the new socket")
        assert rec.since[INFY] >= connected_again
        # full again (after `subscribe` then `mode`: a quote tick may come between)
        await until(lambda: rec.modes[INFY] == "full", 10, "full ticks on the new socket")
        assert "no data or heartbeat" in next(d for _, st, d, _ in rec.states if st == "stalled")
    finally:
        await pool.close()


async def test_an_idle_socket_kept_alive_by_heartbeats_does_not_stall(cleared):
    rec = Recorder()
    pool = _pool(cleared, rec, stall_s=1.2)
    await pool.start()
    try:
        await until(lambda: rec.count("connected") == 1, 10, "connected")
        await asyncio.sleep(3 * 1.2)  # absence of a stall can only be observed over time
        assert rec.state_names() == ["connecting", "connected"]
    finally:
        await pool.close()


# --- postbacks ---------------------------------------------------------------------------
async def test_order_postback_reaches_on_postback(cleared):
    s = cleared
    rec = Recorder()
    pool = _pool(s, rec)
    await pool.start()
    try:
        await until(lambda: rec.count("connected") == 1, 10, "connected")
        kite = s.kite()
        order_id = await asyncio.to_thread(
            kite.place_order, "regular", "NSE", "SBIN", "BUY", 1, "MIS", "MARKET",
            tag="h1probe", market_protection=2)
        await until(lambda: any(p.get("order_id") == order_id and p.get("status") == "COMPLETE"
                                for p in rec.postbacks), 15, "the COMPLETE postback")
        mine = [p for p in rec.postbacks if p["order_id"] == order_id]
        assert mine[-1]["tag"] == "h1probe" and mine[-1]["filled_quantity"] == 1
    finally:
        await pool.close()


# --- expired token: one "auth", no retries with it, a new login reconnects ----------------
async def test_rejected_token_waits_for_a_new_one(cleared):
    s = cleared
    rec = Recorder()
    pool = _pool(s, rec, auth_poll_s=0.3)
    await pool.start()
    try:
        await pool.subscribe([INFY], "full")
        await until(lambda: INFY in rec.modes, 10, "first ticks")
        before = await _upgrades(s)
        old = s.access_token
        await _admin(s, "ws/fault", {"expire_tokens": True})
        await until(lambda: rec.count("auth") == 1, 10, "state auth")
        with pytest.raises(urllib.error.HTTPError) as rest:  # REST refuses the token too
            await asyncio.to_thread(s.raw, "/user/profile")
        assert rest.value.code == 403
        assert pool.status()[0]["state"] == "auth"
        await asyncio.sleep(3.0)  # ≥ 10 backoff periods and 10 token polls: none may retry
        mid = await _upgrades(s)
        assert mid["refused_403"] == before["refused_403"] + 1
        assert mid["accepted"] == before["accepted"]
        assert rec.count("auth") == 1
        assert old not in json.dumps(pool.status()) and old not in repr(rec.states)
        rec.mark()
        await asyncio.to_thread(s.login)  # a new token from the token source
        assert s.access_token != old
        await until(lambda: INFY in rec.since, 15, "ticks with the new token")
        assert pool.status()[0]["state"] == "connected"
        assert (await _upgrades(s))["refused_403"] == mid["refused_403"]
    finally:
        await pool.close()


# --- kitesim's tick delay ------------------------------------------------------------------
async def test_tick_delay_holds_ticks_back(cleared):
    s = cleared
    await _admin(s, "ws/fault", {"tick_delay_s": 30})
    url = f"{s.ws_url}?api_key={s.api_key}&access_token={s.access_token}"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"a": "subscribe", "v": [INFY]}))
        await ws.send_str(json.dumps({"a": "mode", "v": ["full", [INFY]]}))
        stamps = []
        while len(stamps) < 3:
            msg = await ws.receive(timeout=5)
            if msg.type == aiohttp.WSMsgType.BINARY and len(msg.data) > 1:
                stamps += decode(msg.data).exchange_ts.tolist()
        now = datetime.fromisoformat((await _admin(s, "clock"))["now"]).timestamp()
        assert max(stamps) <= now - 29
        assert stamps == sorted(stamps)


# --- too many sockets: "limit", backoff, then in -------------------------------------------
async def test_too_many_sockets_is_state_limit_until_one_frees(cleared):
    s = cleared
    url = f"{s.ws_url}?api_key={s.api_key}&access_token={s.access_token}"
    rec = Recorder()
    served = []

    def idle() -> bool:  # earlier tests' sockets are gone from the server's side too
        served[:] = s.admin("ticker")["connections"]
        return not served

    await until(idle, 10, "no sockets left from earlier tests")
    async with aiohttp.ClientSession() as session:
        others = [await session.ws_connect(url) for _ in range(3)]  # the key's 3 sockets
        pool = _pool(s, rec)
        await pool.start()
        try:
            await until(lambda: rec.count("limit") >= 1, 10, "state limit")
            await until(lambda: rec.count("limit") >= 2, 10, "a retry with backoff")
            assert rec.count("connected") == 0
            await others.pop().close()
            await until(lambda: rec.count("connected") == 1, 10, "connected once one is free")
        finally:
            await pool.close()
            for ws in others:
                await ws.close()
