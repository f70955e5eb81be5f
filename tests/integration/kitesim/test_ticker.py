"""KiteTicker against kitesim: the real client (in a subprocess, since Twisted's reactor
cannot restart) and raw frames checked against kiteconnect's parser and our codec."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from kiteconnect import KiteTicker

from mandi.kite import ticker_codec as tc
from mandi.testing.kitesim import REPO_ROOT, kite_sample, shape_diff

INFY, NIFTY = 408065, 256265
CLIENT = Path(__file__).with_name("ticker_client.py")


def _nifty_future(server) -> int:
    return next(i.token for i in server.sim.universe.instruments
                if i.name == "NIFTY" and i.kind == "FUT")


@pytest.fixture(scope="module")
def kiteticker_run(kitesim_server):
    fut = _nifty_future(kitesim_server)
    env = {**os.environ, "TZ": "Asia/Kolkata",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, str(CLIENT), kitesim_server.url, kitesim_server.api_key,
         kitesim_server.access_token, f"{INFY},{NIFTY},{fut}"],
        capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), fut


def test_kiteticker_connects_with_root_and_gets_full_ticks(kiteticker_run, kitesim_server):
    out, fut = kiteticker_run
    assert out["connected"] and out["errors"] == []
    by_token = {}
    for t in out["ticks"]:
        by_token.setdefault(t["instrument_token"], t)
    assert set(by_token) == {INFY, NIFTY, fut}
    eq = by_token[INFY]
    assert eq["mode"] == "full" and eq["tradable"] is True
    assert len(eq["depth"]["buy"]) == 5 and len(eq["depth"]["sell"]) == 5
    assert eq["depth"]["buy"][0]["price"] < eq["depth"]["sell"][0]["price"]
    assert set(eq["ohlc"]) == {"open", "high", "low", "close"}
    assert eq["ohlc"]["low"] <= eq["last_price"] <= eq["ohlc"]["high"]
    assert eq["volume_traded"] > 0 and eq["average_traded_price"] > 0
    stamp = datetime.fromisoformat(eq["exchange_timestamp"])
    assert stamp.date().isoformat() == "2025-11-20" and 10 <= stamp.hour < 11
    assert eq["last_trade_time"] == eq["exchange_timestamp"]
    assert by_token[fut]["oi"] > 0 and by_token[fut]["oi_day_low"] <= by_token[fut]["oi"]
    idx = by_token[NIFTY]
    assert idx["tradable"] is False and "exchange_timestamp" in idx and "depth" not in idx


def test_order_postback_arrives_via_on_order_update(kiteticker_run, kitesim_server):
    out, _ = kiteticker_run
    mine = [o for o in out["orders"] if o["order_id"] == out["order_id"]]
    assert [o["status"] for o in mine][-1] == "COMPLETE"
    done = mine[-1]
    assert done["tag"] == "wsprobe" and done["filled_quantity"] == 1
    assert done["unfilled_quantity"] == 0 and done["user_id"]
    want = hashlib.sha256((done["order_id"] + done["order_timestamp"]
                           + kitesim_server.api_secret).encode()).hexdigest()
    assert done["checksum"] == want
    assert shape_diff(done, kite_sample("postback")) == []  # Zerodha's postback sample
    # Kite sends no update on placement: the first frame is the fill, not OPEN
    assert "OPEN" not in [o["status"] for o in mine]


async def _connect(server, session, token=None):
    return await session.ws_connect(
        f"{server.ws_url}?api_key={server.api_key}&access_token={token or server.access_token}",
        headers={"X-Kite-Version": "3"})


async def _binary(ws, wait_s=5.0) -> bytes:
    while True:
        msg = await ws.receive(timeout=wait_s)
        if msg.type == aiohttp.WSMsgType.BINARY and len(msg.data) > 1:
            return msg.data


def _naive(ticks):
    out = []
    for t in ticks:
        t = dict(t)
        for k in ("last_trade_time", "exchange_timestamp"):
            if k in t:
                t[k] = datetime.fromtimestamp(t[k].timestamp())
        out.append(t)
    return out


async def test_kitesim_frames_decode_identically_in_kiteconnect_and_our_codec(kitesim_server):
    parser = KiteTicker("k", "t")
    fut = _nifty_future(kitesim_server)
    async with aiohttp.ClientSession() as s, await _connect(kitesim_server, s) as ws:
        modes = {}
        await ws.send_str(json.dumps({"a": "subscribe", "v": [INFY, NIFTY, fut, 738561]}))
        await ws.send_str(json.dumps({"a": "mode", "v": ["full", [INFY, NIFTY]]}))
        await ws.send_str(json.dumps({"a": "mode", "v": ["ltp", [fut]]}))
        for _ in range(6):
            frame = await _binary(ws)
            theirs = parser._parse_binary(frame)
            assert _naive(tc.decode_frame(frame)) == theirs
            for t in theirs:
                modes[t["instrument_token"]] = t["mode"]
    assert modes == {INFY: "full", NIFTY: "full", fut: "ltp", 738561: "quote"}


async def test_idle_socket_gets_one_byte_heartbeats(kitesim_server):
    async with aiohttp.ClientSession() as s, await _connect(kitesim_server, s) as ws:
        msg = await ws.receive(timeout=3)
        assert msg.type == aiohttp.WSMsgType.BINARY and msg.data == b"\x00"


async def test_bad_access_token_fails_the_upgrade_with_403(kitesim_server):
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await _connect(kitesim_server, s, token="nope")
    assert exc.value.status == 403


async def test_more_than_3000_tokens_gets_an_error_text(kitesim_server):
    tokens = [i.token for i in kitesim_server.sim.universe.instruments][:3001]
    assert len(tokens) == 3001
    async with aiohttp.ClientSession() as s, await _connect(kitesim_server, s) as ws:
        await ws.send_str(json.dumps({"a": "subscribe", "v": tokens}))
        while True:
            msg = await ws.receive(timeout=30)
            if msg.type == aiohttp.WSMsgType.TEXT:
                break
        body = json.loads(msg.data)
        assert body["type"] == "error" and "3000" in body["data"]
        frame = await _binary(ws, wait_s=30)
        assert len({t["instrument_token"] for t in tc.decode_frame(frame)}) <= 3000


async def test_unsubscribe_stops_ticks_and_admin_drop_closes(kitesim_server):
    async with aiohttp.ClientSession() as s, await _connect(kitesim_server, s) as ws:
        await ws.send_str(json.dumps({"a": "subscribe", "v": [INFY]}))
        await _binary(ws)
        await ws.send_str(json.dumps({"a": "unsubscribe", "v": [INFY]}))
        # Kite does not acknowledge an unsubscribe, and a loaded simulator may send ticks for a
        # while before it reads it. A subscribed socket never gets a heartbeat (one goes only
        # after a second with no frame, and ticks go every second), so: skip frames until the
        # first heartbeat (bounded), then the next message must be a heartbeat too — no ticks.
        deadline = asyncio.get_running_loop().time() + 30
        while (msg := await ws.receive(timeout=30)).data != b"\x00":
            assert msg.type == aiohttp.WSMsgType.BINARY
            assert asyncio.get_running_loop().time() < deadline, "ticks never stopped"
        msg = await ws.receive(timeout=3)
        assert msg.type == aiohttp.WSMsgType.BINARY and msg.data == b"\x00"
        dropped = await asyncio.to_thread(kitesim_server.admin, "ws/drop", {})
        assert dropped["dropped"] >= 1
        msg = await ws.receive(timeout=3)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
