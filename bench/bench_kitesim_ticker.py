"""Sustained ticks/s kitesim pushes to one KiteTicker client with 3000 instruments in full mode.

    python bench/bench_kitesim_ticker.py [--seconds 10] [--speed 60] [--tokens 3000]

Starts `python -m services.kitesim` on a free loopback port (market open, time compressed so
the simulator has more ticks to send than any client can take), then measures three clients,
one after the other, each over the same window:

* raw:        aiohttp WebSocket, counts packets from frame headers (the simulator's push rate)
* raw+parse:  the same, decoding every frame with kiteconnect's own parser
* kiteticker: the unmodified KiteTicker (Twisted/autobahn) in a subprocess, counting on_ticks
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from kiteconnect import KiteTicker  # noqa: E402

from mandi.testing.kitesim import kitesim_process  # noqa: E402

KITETICKER_CHILD = r"""
import json, sys, threading, time
from kiteconnect import KiteTicker
url, key, token = sys.argv[1:4]
seconds, warmup = float(sys.argv[4]), float(sys.argv[5])
tokens = json.loads(sys.stdin.read())
count = [0]; t0 = [None]
kws = KiteTicker(key, token, root=url)
def on_connect(ws, r):
    ws.subscribe(tokens); ws.set_mode(ws.MODE_FULL, tokens)
def on_ticks(ws, ticks):
    if t0[0] is not None: count[0] += len(ticks)
kws.on_connect = on_connect; kws.on_ticks = on_ticks
kws.connect(threaded=True)
time.sleep(warmup); t0[0] = time.monotonic(); count[0] = 0
time.sleep(seconds)
n, dt = count[0], time.monotonic() - t0[0]
print(json.dumps({"ticks": n, "seconds": dt})); sys.stdout.flush()
import os; os._exit(0)
"""


async def raw_client(ws_url: str, tokens: list[int], seconds: float, warmup: float,
                     parse: bool) -> dict:
    parser = KiteTicker("k", "t")
    async with aiohttp.ClientSession() as s, s.ws_connect(ws_url, max_msg_size=0) as ws:
        await ws.send_str(json.dumps({"a": "subscribe", "v": tokens}))
        await ws.send_str(json.dumps({"a": "mode", "v": ["full", tokens]}))
        start = time.monotonic()
        measuring, count, t0 = False, 0, 0.0
        full_seen = 0
        while True:
            msg = await ws.receive(timeout=60)
            if msg.type != aiohttp.WSMsgType.BINARY:
                continue
            now = time.monotonic()
            if not measuring and now - start >= warmup:
                measuring, count, t0 = True, 0, now
            if measuring and now - t0 >= seconds:
                return {"ticks": count, "seconds": now - t0, "full_packets": full_seen}
            if len(msg.data) < 2:
                continue
            if parse:
                ticks = parser._parse_binary(msg.data)
                n = len(ticks)
                full_seen += sum(1 for t in ticks if t["mode"] == "full")
            else:
                n = struct.unpack_from(">H", msg.data)[0]
            if measuring:
                count += n


def kiteticker_client(ws_root: str, key: str, token: str, tokens: list[int], seconds: float,
                      warmup: float) -> dict:
    env = {**os.environ, "TZ": "Asia/Kolkata"}
    proc = subprocess.run([sys.executable, "-c", KITETICKER_CHILD, ws_root, key, token,
                           str(seconds), str(warmup)], input=json.dumps(tokens),
                          capture_output=True, text=True, timeout=seconds + warmup + 60, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--tokens", type=int, default=3000)
    ap.add_argument("--skip-kiteticker", action="store_true")
    args = ap.parse_args()
    with kitesim_process("--start", "2025-11-20T09:30:00+05:30", "--speed", str(args.speed),
                         "--no-rate-limits") as server:
        token = server.login()
        tokens = [int(line.split(",")[0]) for line in
                  _get(server.url + "/instruments").splitlines()[1:]][:args.tokens]
        ws_url = f"{server.ws_url}?api_key={server.api_key}&access_token={token}"
        results = {}
        for name, parse in (("raw", False), ("raw+parse", True)):
            results[name] = asyncio.run(raw_client(ws_url, tokens, args.seconds, args.warmup,
                                                   parse))
        if not args.skip_kiteticker:
            results["kiteticker"] = kiteticker_client(server.ws_url, server.api_key, token,
                                                      tokens, args.seconds, args.warmup)
    print(f"kitesim ticker benchmark: {len(tokens)} instruments, full mode, "
          f"speed {args.speed:g}, {args.seconds:g} s window")
    for name, r in results.items():
        rate = r["ticks"] / r["seconds"]
        r["ticks_per_s"] = round(rate)
        print(f"  {name:<11} {rate:>10,.0f} ticks/s")
    print(json.dumps({"instruments": len(tokens), "speed": args.speed, "results": results}))


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read().decode()


if __name__ == "__main__":
    main()
