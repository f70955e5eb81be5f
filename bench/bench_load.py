"""Load through the gateway (`make bench`; issue #17's load figures): the whole platform as
`make run` starts it (supervisor, kitesim on a live replayed session, fresh database), measured
from outside over loopback HTTP with a bounded asyncio client.

1. Orders: an open-loop schedule of BENCH_LOAD_RATE (50) REST orders a second for
   BENCH_LOAD_SECONDS (30) across 50 paper accounts granted to one trader (Bearer auth, every
   risk check, the SEBI per-account governor well under its 10/s), MIS market orders that
   alternate BUY and SELL per account so positions stay within limits. Latency = response
   received − the request's scheduled send time, so a stalled gateway cannot hide queueing
   (no coordinated omission).
2. Dashboards: 200 concurrent users, each reading the dashboard endpoints in turn with 1 s think
   time, for the same duration.
3. Backtests: BENCH_LOAD_BACKTESTS (20) submitted at once; the time until all are done.

Prints the figures; asserts nothing but that requests succeeded (a failed order is counted and
shown by its answer).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from mandi.testing.pg import fresh_database
from mandi.testing.platform_load import create_paper_accounts, live_env, trader_auth
from scripts.smoke import run_smoke

RATE = float(os.environ.get("BENCH_LOAD_RATE", "50"))
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "30"))
ACCOUNTS = [f"LOAD{i:02d}" for i in range(50)]
READERS = int(os.environ.get("BENCH_LOAD_READERS", "200"))
BACKTESTS = int(os.environ.get("BENCH_LOAD_BACKTESTS", "20"))
DAY = "2026-03-04"
DASHBOARDS = ("/api/v1/positions", "/api/v1/orders", "/api/cumulative-pnl", "/api/daily-stats",
              "/api/v1/account")
BACKTEST = {"strategy": {"type": "ema_crossover", "params": {"fast": 10, "slow": 30}},
            "symbols": ["NSE:INFY"], "interval": "15minute", "from": "2026-01-01",
            "to": "2026-02-27", "capital": 1000000, "sizing": {"type": "fixed_qty", "qty": 10},
            "costs": {"product": "MIS"}, "fill": "next_open"}


class Answer:
    def __init__(self, status: int, text: str) -> None:
        self.status_code, self.text = status, text

    def json(self) -> dict:
        return json.loads(self.text)


class Http:
    """A light client (aiohttp; httpx spent 2.3-2.4 ms of CPU a request here, more than the
    gateway's 1.1-2.2 ms, so on two shared cores it measured itself); its own CPU a request is
    printed. Transport failures come back as status 0 with the error's name, counted."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def _call(self, method: str, path: str, **kw: object) -> Answer:
        try:
            async with self.session.request(method, path, **kw) as r:
                return Answer(r.status, await r.text())
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Answer(0, type(exc).__name__)

    async def get(self, path: str, **kw: object) -> Answer:
        return await self._call("GET", path, **kw)

    async def post(self, path: str, **kw: object) -> Answer:
        return await self._call("POST", path, **kw)


async def buckets(http: Http, port: str, name: str, labels: dict[str, str]) -> dict[float, float]:
    """A histogram's cumulative bucket counts (le → count) from a service's /metrics."""
    async with http.session.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    out: dict[float, float] = {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            if sample.name == f"{name}_bucket" and all(
                    sample.labels.get(k) == v for k, v in labels.items()):
                out[float(sample.labels["le"])] = sample.value
    return out


def server_side(name: str, before: dict[float, float], after: dict[float, float]) -> str:
    """The share of the run's calls answered within each bucket, as the server timed them."""
    n = after.get(float("inf"), 0) - before.get(float("inf"), 0)
    if not n:
        return f"{name}: no calls"
    shares = [f"≤{le * 1000:g} ms {100 * (after[le] - before.get(le, 0)) / n:.1f} %"
              for le in sorted(after) if 0.0025 <= le <= 0.1]
    return f"{name} (server side, n={n:g}): " + ", ".join(shares)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))]


def summary(name: str, lat_ms: list[float]) -> str:
    if not lat_ms:
        return f"{name}: no answers"
    return (f"{name}: n={len(lat_ms)} p50={statistics.median(lat_ms):.1f} ms "
            f"p99={pct(lat_ms, 99):.1f} ms max={max(lat_ms):.1f} ms")


async def orders(http: Http, auth: dict[str, str]) -> tuple[list[float], Counter]:
    lat: list[float] = []
    outcomes: Counter = Counter()
    side: dict[str, str] = {}
    n = int(RATE * SECONDS)
    start = time.perf_counter() + 0.5

    async def one(i: int) -> None:
        at = start + i / RATE
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        account = ACCOUNTS[i % len(ACCOUNTS)]
        s = side[account] = "SELL" if side.get(account) == "BUY" else "BUY"
        r = await http.post("/api/v1/orders", headers=auth, json={
            "account_id": account, "exchange": "NSE", "symbol": "SBIN", "side": s,
            "quantity": 1, "order_type": "MARKET", "product": "MIS",
            "client_order_id": f"load{i}", "allow_duplicate": True})
        lat.append((time.perf_counter() - at) * 1000)
        what = r.json().get("status") if r.status_code == 201 else r.text[:80]
        outcomes[f"{r.status_code} {what}"] += 1

    await asyncio.gather(*(one(i) for i in range(n)))
    return lat, outcomes


async def readers(http: Http, auth: dict[str, str]
                  ) -> tuple[dict[str, list[float]], Counter]:
    lat: dict[str, list[float]] = {p: [] for p in DASHBOARDS}
    codes: Counter = Counter()
    end = time.perf_counter() + SECONDS

    async def user(u: int) -> None:
        await asyncio.sleep(u / READERS)  # spread the first reads over a second
        k = u
        while time.perf_counter() < end:
            path = DASHBOARDS[k % len(DASHBOARDS)]
            k += 1
            t0 = time.perf_counter()
            r = await http.get(path, headers=auth,
                               params={"account_id": ACCOUNTS[u % len(ACCOUNTS)]})
            lat[path].append((time.perf_counter() - t0) * 1000)
            codes[r.status_code] += 1
            await asyncio.sleep(1.0)

    await asyncio.gather(*(user(u) for u in range(READERS)))
    return lat, codes


async def backtests(http: Http, auth: dict[str, str]) -> tuple[float, Counter]:
    r = await http.post("/api/data/fetch-equity", headers=auth, json={
        "symbol": "INFY", "exchange": "NSE", "from_date": BACKTEST["from"],
        "to_date": BACKTEST["to"], "interval": BACKTEST["interval"], "confirm": True})
    assert r.status_code == 200, r.text
    t0 = time.perf_counter()
    ids = []
    for _ in range(BACKTESTS):
        r = await http.post("/api/v1/backtest/run", headers=auth, json=BACKTEST)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    status: Counter = Counter()
    pending = set(ids)
    while pending and time.perf_counter() - t0 < 600:
        for bid in list(pending):
            body = (await http.get(f"/api/v1/backtest/{bid}", headers=auth)).json()
            if body["status"] in ("done", "failed", "cancelled"):
                status[body["status"]] += 1
                pending.discard(bid)
        await asyncio.sleep(0.2)
    status["unfinished"] += len(pending)
    return time.perf_counter() - t0, status


def main() -> None:
    env = live_env(DAY, 1) | {"MANDI_LOG_LEVEL": os.environ.get("BENCH_LOAD_LOG", "WARNING")}
    gateway = f"http://127.0.0.1:{env['MANDI_GATEWAY_PORT']}"

    def while_up() -> None:
        asyncio.run(create_paper_accounts(env, ACCOUNTS))
        auth = trader_auth(gateway, env["MANDI_ADMIN_PASSWORD"], [*ACCOUNTS, "PAPER1"])

        async def run() -> None:
            conn = aiohttp.TCPConnector(limit=256)
            async with aiohttp.ClientSession(gateway, connector=conn,
                                             timeout=aiohttp.ClientTimeout(total=60)) as s:
                http = Http(s)
                # warm-up: every account's first order (caches, prepared statements)
                for a in ACCOUNTS:
                    await http.get("/api/v1/positions", headers=auth, params={"account_id": a})
                timed = [("gateway POST /api/v1/orders", env["MANDI_METRICS_PORT_GATEWAY"],
                          "mandi_http_request_duration_seconds",
                          {"method": "POST", "route": "/api/v1/orders"}),
                         ("execution PlaceOrder", env["MANDI_METRICS_PORT_EXECUTION"],
                          "mandi_rpc_duration_seconds",
                          {"method": "mandi.v1.ExecutionService/PlaceOrder"})]
                before = [await buckets(http, port, m, lab) for _, port, m, lab in timed]
                c0 = time.process_time()
                lat, outcomes = await orders(http, auth)
                client_ms = (time.process_time() - c0) / max(1, len(lat)) * 1000
                after = [await buckets(http, port, m, lab) for _, port, m, lab in timed]
                print(summary(f"orders {RATE:g}/s for {SECONDS:g} s over {len(ACCOUNTS)} "
                              "accounts", lat))
                print("  outcomes:", dict(outcomes.most_common(6)),
                      f"(client CPU {client_ms:.2f} ms a request)")
                for (name, *_), b, a in zip(timed, before, after, strict=True):
                    print(" ", server_side(name, b, a))
                rl, codes = await readers(http, auth)
                print(summary(f"dashboards, {READERS} users", [x for v in rl.values() for x in v]),
                      "codes:", dict(codes))
                for path, values in rl.items():
                    print(" ", summary(path, values))
                took, status = await backtests(http, auth)
                print(f"backtests: {BACKTESTS} submitted, drained in {took:.1f} s: "
                      f"{dict(status)}")

        asyncio.run(run())

    async def go() -> None:
        async with fresh_database() as dsn:
            env["MANDI_PG_DSN"] = dsn
            await asyncio.to_thread(run_smoke, 90.0, "/tmp/bench_load.log", env, while_up)

    print(f"load (load average {os.getloadavg()[0]:.1f})")
    asyncio.run(go())


if __name__ == "__main__":
    main()
