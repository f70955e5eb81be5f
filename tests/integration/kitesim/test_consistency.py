"""Candles built from one simulated day of full-mode ticks equal the historical minute candles
(OHLC and volume exact): the ticker and historical play the same price path."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import aiohttp
from kiteconnect import KiteTicker

from mandi.core.clock import IST
from mandi.testing.kitesim import start_kitesim

DAY = "2025-11-20"
LAST_SECOND = datetime(2025, 11, 20, 15, 29, 59, tzinfo=IST).timestamp()


def _candles(ticks: list[dict]) -> list[dict]:
    """Minute candles from ticks: OHLC of last_price, volume = diff of cumulative volume."""
    out: dict[int, dict] = {}
    prev_cum = 0
    for t in ticks:
        ts = int(t["exchange_timestamp"].timestamp())
        minute = ts - ts % 60
        c = out.get(minute)
        p, cum = t["last_price"], t.get("volume_traded", 0)
        if c is None:
            c = out[minute] = {"date": minute, "open": p, "high": p, "low": p, "close": p,
                               "base": prev_cum}
        c["high"], c["low"], c["close"] = max(c["high"], p), min(c["low"], p), p
        c["volume"] = cum - c["base"]
        prev_cum = cum
    return [{k: v for k, v in c.items() if k != "base"} for c in out.values()]


async def test_tick_built_minute_candles_equal_historical_for_a_whole_day():
    server = start_kitesim(seed=3, start=datetime(2025, 11, 20, 9, 0, tzinfo=IST),
                           rate_limits=False)
    try:
        kite = server.kite()
        opt = next(i.token for i in server.sim.universe.instruments
                   if i.name == "NIFTY" and i.kind == "OPT")
        tokens = [738561, 256265, opt]  # equity, index, option
        parser = KiteTicker("k", "t")
        ticks: dict[int, list] = {t: [] for t in tokens}
        url = f"{server.ws_url}?api_key={server.api_key}&access_token={server.access_token}"
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            await ws.send_str(json.dumps({"a": "subscribe", "v": tokens}))
            await ws.send_str(json.dumps({"a": "mode", "v": ["full", tokens]}))
            await asyncio.sleep(0.3)
            await asyncio.to_thread(server.admin, "clock",
                                    {"now": f"{DAY}T09:14:50+05:30", "speed": 2500})
            done: set[int] = set()
            while len(done) < len(tokens):
                msg = await ws.receive(timeout=30)
                if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) < 2:
                    continue
                for t in parser._parse_binary(msg.data):
                    if t["mode"] != "full":
                        continue  # the quote-mode snapshot sent on subscribe
                    ts = t["exchange_timestamp"].timestamp()
                    if ts >= LAST_SECOND - 22500 + 1:
                        ticks[t["instrument_token"]].append(t)
                    if ts >= LAST_SECOND:
                        done.add(t["instrument_token"])
        stats = await asyncio.to_thread(server.admin, "ticker")
        assert all(c["skipped_seconds"] == 0 for c in stats["connections"])
        for token in tokens:
            day = [t for t in ticks[token]
                   if t["exchange_timestamp"].timestamp() > LAST_SECOND - 22500]
            assert len(day) == 22500, (token, len(day))
            built = _candles(day)
            hist = await asyncio.to_thread(kite.historical_data, token, DAY, DAY, "minute")
            assert len(hist) == len(built) == 375
            for b, h in zip(built, hist, strict=True):
                assert b["date"] == int(h["date"].timestamp())
                assert (b["open"], b["high"], b["low"], b["close"]) == (
                    h["open"], h["high"], h["low"], h["close"]), (token, h["date"])
                assert b["volume"] == h["volume"], (token, h["date"])
    finally:
        server.stop()


async def test_ticks_never_go_back_in_time_when_instruments_are_added_mid_stream():
    """Kite's snapshot on `subscribe`/`mode` is the instrument's latest state, and later ticks are
    newer: per instrument, exchange timestamps never go backwards. At 400x the pump runs ~8
    simulated seconds behind the clock between passes, so a snapshot taken at the clock rather
    than at what the socket has been sent would be followed by older ticks (a tick-built
    candle would then open at the snapshot's price, not the minute's first)."""
    server = start_kitesim(seed=5, start=datetime(2025, 11, 20, 9, 20, tzinfo=IST), speed=400,
                           rate_limits=False)
    try:
        server.kite()  # logs in: the socket needs an access token
        parser = KiteTicker("k", "t")
        first, added = 738561, 408065
        last: dict[int, float] = {}
        backwards: list[tuple[int, float, float]] = []
        seen = {first: 0, added: 0}
        url = f"{server.ws_url}?api_key={server.api_key}&access_token={server.access_token}"

        async def read(ws, seconds: float) -> None:
            end = asyncio.get_running_loop().time() + seconds
            while (left := end - asyncio.get_running_loop().time()) > 0:
                try:
                    msg = await ws.receive(timeout=left)
                except TimeoutError:
                    return
                if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) < 2:
                    continue
                for t in parser._parse_binary(msg.data):
                    if t["mode"] != "full":
                        continue
                    tok, ts = t["instrument_token"], t["exchange_timestamp"].timestamp()
                    if ts < last.get(tok, 0):
                        backwards.append((tok, last[tok], ts))
                    last[tok] = max(ts, last.get(tok, 0))
                    seen[tok] += 1

        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            await ws.send_str(json.dumps({"a": "subscribe", "v": [first]}))
            await ws.send_str(json.dumps({"a": "mode", "v": ["full", [first]]}))
            for _ in range(12):  # add and re-mode at different points of the pump's pass
                await read(ws, 0.013)
                await ws.send_str(json.dumps({"a": "subscribe", "v": [added]}))
                await ws.send_str(json.dumps({"a": "mode", "v": ["full", [first, added]]}))
                await read(ws, 0.011)
                await ws.send_str(json.dumps({"a": "unsubscribe", "v": [added]}))
                last.pop(added, None)
            await read(ws, 0.2)
        assert seen[first] > 100 and seen[added] > 0, seen
        assert backwards == [], backwards[:5]
    finally:
        server.stop()
