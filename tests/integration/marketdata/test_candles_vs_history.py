"""Candles built from kitesim's ticks equal kitesim's historical candles, bar for bar.

A whole simulated day is replayed fast: kitesim (its own process, so its pump and this test do
not share a GIL) starts before the open at speed 1; the test subscribes 50 instruments in FULL
mode over a raw WebSocket, then moves the simulator to 09:14:50 at high speed. Every frame is
decoded with `services.marketdata.ticks.decode` and fed to a CandleBuilder whose clock is the
exchange clock seen on the feed (the newest exchange timestamp): at replay speed one pump of
kitesim carries tens of simulated seconds, so the simulator's own clock would run ahead of the
ticks it has sent and close bars early. Ten of the instruments start being tracked mid-morning,
as when marketdata starts mid-session: their morning is a Gap, filled with historical minute
candles as the ingester will, so for every instrument the comparison covers the whole day.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime

import aiohttp
import pytest

from mandi.core.calendar import session
from mandi.core.clock import IST
from mandi.testing.kitesim import kitesim_process
from services.marketdata.candles import Bar, CandleBuilder
from services.marketdata.ticks import MODE_FULL, decode

DAY = date(2025, 11, 20)  # a Thursday
SPEED = 1500
LATE_TRACK = datetime.combine(DAY, datetime.min.time(), IST).replace(hour=10, minute=0,
                                                                        second=30)
INTERVALS = ("minute", "15minute")


@pytest.fixture(scope="module")
def sim():
    with kitesim_process("--start", f"{DAY}T09:00:00+05:30", "--speed", "1",
                         "--no-rate-limits") as server:
        server.login()
        yield server


def _pick(kite) -> list[dict]:
    nse = [i for i in kite.instruments("NSE") if i["instrument_type"] == "EQ"]
    nfo = [i for i in kite.instruments("NFO") if i["expiry"] and i["expiry"] >= DAY]
    futs = sorted((i for i in nfo if i["instrument_type"] == "FUT"),
                  key=lambda i: (i["expiry"], i["instrument_token"]))
    opts = sorted((i for i in nfo if i["instrument_type"] in ("CE", "PE")),
                  key=lambda i: (i["expiry"], i["instrument_token"]))
    picked = sorted(nse, key=lambda i: i["instrument_token"])[:34] + futs[:8] + opts[:8]
    assert len(picked) == 50 and len({i["instrument_token"] for i in picked}) == 50
    return picked


def _history(kite, token: int, interval: str) -> list[Bar]:
    rows = kite.historical_data(token, f"{DAY} 09:15:00", f"{DAY} 15:30:00", interval)
    return [Bar(token, interval, int(r["date"].timestamp()), round(r["open"] * 100),
                round(r["high"] * 100), round(r["low"] * 100), round(r["close"] * 100),
                int(r["volume"]), 0, "history") for r in rows]


async def _replay(sim, tokens: list[int], late: set[int]) -> tuple[CandleBuilder, list, list]:
    close_at = int(session(DAY).close.timestamp())
    builder = CandleBuilder(grace_s=3)
    out: list = []
    gaps: list = []
    url = f"{sim.ws_url}?api_key={sim.api_key}&access_token={sim.access_token}"
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        now = sim.now().timestamp()
        for t in tokens:
            if t not in late:
                assert builder.track(t, INTERVALS, now) == []  # before the open: no gap
        await ws.send_json({"a": "subscribe", "v": tokens})
        await ws.send_json({"a": "mode", "v": ["full", tokens]})
        full: set[int] = set()  # the simulator answers `mode` with a full snapshot per token
        while full != set(tokens):
            batch = decode(await ws.receive_bytes(timeout=30))
            full |= set(batch.token[batch.mode == MODE_FULL].tolist())
            out += builder.on_ticks(batch)  # yesterday's close: stale, not a bar
        await asyncio.to_thread(sim.admin, "clock", {"now": f"{DAY}T09:14:50+05:30",
                                                     "speed": SPEED})
        clock = 0.0  # the exchange clock: newest exchange timestamp received
        last_seen: dict[int, int] = {}
        deadline = time.monotonic() + 60
        while len([t for t, ts in last_seen.items() if ts >= close_at - 1]) < len(tokens):
            assert time.monotonic() < deadline, "the replay did not reach the close"
            msg = await ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.BINARY, msg
            batch = decode(msg.data, time.time_ns())
            if not len(batch):
                continue
            clock = max(clock, float(batch.exchange_ts.max()))
            if late and clock >= LATE_TRACK.timestamp():
                for t in sorted(late):
                    gaps += builder.track(t, INTERVALS, clock)
                late = set()
            out += builder.on_ticks(batch)
            out += builder.on_clock(clock)
            for t, ts in zip(batch.token.tolist(), batch.exchange_ts.tolist(), strict=True):
                last_seen[t] = max(ts, last_seen.get(t, 0))
    out += builder.on_clock(close_at + 3)
    return builder, out, gaps


def test_minute_and_15minute_bars_from_ticks_equal_historical_candles(sim):
    kite = sim.kite()
    insts = _pick(kite)
    tokens = [i["instrument_token"] for i in insts]
    late = set(tokens[::5])  # 10 instruments, of every kind, tracked from 10:00:30
    builder, out, gaps = asyncio.run(_replay(sim, tokens, late))

    open_at = int(session(DAY).open.timestamp())
    assert sorted(g.token for g in gaps) == sorted(late)
    assert {(g.start, g.end, g.reason) for g in gaps} == {
        (open_at, int(LATE_TRACK.timestamp()) + 30, "start")}
    history = {t: {iv: _history(kite, t, iv) for iv in INTERVALS} for t in tokens}
    for g in gaps:  # as the ingester will: the gap's minutes from history
        out += builder.fill(g.token, history[g.token]["minute"])
    assert builder.stats["late_ticks"] == 0 and builder.stats["volume_resets"] == 0
    assert builder.stats["stale_ticks"] == 40  # the full snapshots: yesterday's last second
    assert builder.take_gaps() == []  # every instrument had its baseline when expected
    assert all(builder.pending_gaps(t) == [] for t in tokens)

    built: dict[tuple[int, str], list[Bar]] = {}
    for bar in out:
        built.setdefault((bar.token, bar.interval), []).append(bar)

    def key(b: Bar) -> tuple:
        return b.start, b.open, b.high, b.low, b.close, b.volume

    mismatched = []
    for t in tokens:
        for iv in INTERVALS:
            want = history[t][iv]
            assert len(want) == (375 if iv == "minute" else 25), (t, iv)
            got = built.get((t, iv), [])
            if [key(b) for b in got] != [key(b) for b in want]:
                diff = next(((g, w) for g, w in zip(got, want, strict=False)
                             if key(g) != key(w)), (len(got), len(want)))
                mismatched.append((t, iv, diff))
    assert mismatched == [], mismatched[:5]
    # the mid-session instruments' morning came from history, everything after from ticks
    for t in tokens:
        sources = [b.source for b in built[(t, "minute")]]
        split = 46 if t in late else 0  # 09:15 .. 10:00 inclusive
        assert sources == ["history"] * split + ["ticks"] * (375 - split)
    assert builder.stats["bars_from_ticks"] == 50 * 375 - 10 * 46
