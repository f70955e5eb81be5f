"""Runs the unmodified KiteTicker against kitesim in its own process (Twisted's reactor cannot
restart) and prints one JSON summary. Usage: ticker_client.py URL API_KEY ACCESS_TOKEN TOKENS"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from kiteconnect import KiteConnect, KiteTicker


def main() -> None:
    url, api_key, access_token, tokens = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    tokens = [int(t) for t in tokens.split(",")]
    ws_root = url.replace("http://", "ws://") + "/ws"
    out: dict = {"connected": False, "ticks": [], "orders": [], "errors": [], "heartbeats": 0}
    done = threading.Event()
    placed = threading.Event()

    kws = KiteTicker(api_key, access_token, root=ws_root)

    def on_connect(ws, response):
        out["connected"] = True
        ws.subscribe(tokens)
        ws.set_mode(ws.MODE_FULL, tokens)

    def on_ticks(ws, ticks):
        for t in ticks:
            if t.get("mode") == "full":
                out["ticks"].append({k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                     for k, v in t.items()})
        if len({t["instrument_token"] for t in out["ticks"]}) == len(tokens) \
                and not placed.is_set():
            placed.set()
            kite = KiteConnect(api_key, root=url)
            kite.set_access_token(access_token)
            out["order_id"] = kite.place_order("regular", "NSE", "SBIN", "BUY", 1, "MIS",
                                               "MARKET", tag="wsprobe",
                                               market_protection=2)

    def on_order_update(ws, data):
        out["orders"].append(data)
        if data.get("status") == "COMPLETE":
            done.set()

    def on_message(ws, payload, is_binary):
        if is_binary and len(payload) == 1:
            out["heartbeats"] += 1

    def on_error(ws, code, reason):
        out["errors"].append(f"{code} {reason}")

    kws.on_connect = on_connect
    kws.on_ticks = on_ticks
    kws.on_order_update = on_order_update
    kws.on_message = on_message
    kws.on_error = on_error
    kws.connect(threaded=True)
    done.wait(20)
    time.sleep(0.5)
    kws.close()
    print(json.dumps(out, default=str))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
