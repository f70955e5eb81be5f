"""External-signal bench (`make bench`): `POST /api/v1/bots/{id}/signals` → order accepted by
execution, for one external bot (quantity signals, a new id each).

The parts are real and in this process (tests/integration/strategy/signal_stack.py): the
gateway app over ASGI, the strategy service over a gRPC socket, execution over a gRPC socket
(risk checks, PaperBroker on a real PostgreSQL ledger), marketdata, Redis. Two figures per
signal: the REST round trip (gateway in), and what the strategy service records as the signal's
latency (request received → PlaceOrder answered; it includes the key check, the bot's advisory
lock and the bot_orders row written before sending). The first WARMUP signals are not counted.
Nothing here asserts anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.strategy.signal_stack import signal_stack

N = int(os.environ.get("BENCH_SIGNALS", "150"))
GAP_S = 0.15  # execution's SEBI governor keeps an account below 10 NSE orders a second
WARMUP = 20


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def main() -> None:
    logging.getLogger("mandi.marketdata.lease").setLevel(logging.ERROR)
    async with signal_stack() as s:
        who = {"x-test-user": "bench"}
        r = await s.api.post("/api/v1/bots", headers=who, json={
            "strategy": {"type": "external"}, "symbols": ["NSE:SBIN"], "capital": 10_000_000,
            "name": "bench", "account_id": s.env.account_id, "mode": "paper",
            "product": "MIS"})
        bot, key = r.json()["id"], r.json()["signal_key"]
        await s.api.post(f"/api/v1/bots/{bot}/start", headers=who)
        rest, served, outcomes = [], [], {}
        for i in range(N + WARMUP):
            await asyncio.sleep(GAP_S)
            t0 = time.perf_counter()
            r = await s.api.post(f"/api/v1/bots/{bot}/signals", headers={"X-Bot-Key": key},
                                 json={"id": f"b{i}", "symbol": "NSE:SBIN",
                                       "side": "BUY" if i % 2 == 0 else "SELL", "quantity": 1,
                                       "ts": datetime.now(UTC).isoformat()})
            dt = (time.perf_counter() - t0) * 1000
            sig = r.json()["signal"]
            outcomes[sig["outcome"]] = outcomes.get(sig["outcome"], 0) + 1
            if i >= WARMUP and sig["outcome"] == "order":
                rest.append(dt)
                served.append(sig["latency_ms"])
        load = os.getloadavg()[0]
    print("### External signals\n")
    print(f"POST /api/v1/bots/{{id}}/signals → order accepted, one external bot, {N} signals "
          f"{GAP_S} s apart (first {WARMUP} not counted); real PostgreSQL + Redis:\n")
    print("| metric | p50 ms | p99 ms | max ms |\n|---|---|---|---|")
    for name, xs in (("REST round trip", rest), ("received → PlaceOrder answered", served)):
        print(f"| {name} | {statistics.median(xs):.2f} | {pct(xs, 99):.2f} | {max(xs):.2f} |")
    print(f"\n{len(rest)} orders counted; outcomes {outcomes}; load average: {load:.2f} on "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    asyncio.run(main())
