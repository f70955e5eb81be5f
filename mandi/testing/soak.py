"""The soak (`make chaos`; issue #17): a simulated trading day at 60x with 50 bots, 500
instruments streaming and the UI's WebSockets connected, on the whole platform as `make run`
starts it. Every SAMPLE_S the RSS of every process, the marketdata subscriber queues, its
ingest backlog and the WebSocket clients' message counts are read.

Pass: after warm-up (the first WARMUP of the run) every process's RSS stays within ±10 % of its
median over the rest of the run, no subscriber queue or ingest backlog grows (its depth at the
end is not above its depth after warm-up + a small slack), every WebSocket client keeps
receiving, the bots process bars, and the platform's log (up to shutdown) holds no ERROR line
or traceback; WARNING lines are counted and shown.

    python -m mandi.testing.soak [--speed 60] [--from 09:10] [--to 15:35] [--bots 50]
        [--instruments 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
import websockets

from mandi.core.clock import IST
from mandi.testing.kitesim import KitesimServer
from mandi.testing.pg import fresh_database
from mandi.testing.platform_load import (
    create_paper_accounts,
    live_env,
    platform_processes,
    rss_mb,
    trader_auth,
)
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import common_pb2, marketdata_pb2, marketdata_pb2_grpc
from scripts.smoke import run_smoke

DAY = "2026-03-04"
SAMPLE_S = 5.0
WARMUP = 0.25
RSS_BAND = 0.10
QUEUE_SLACK = 200
BACKLOG_SLACK = 50_000  # ticks: a few seconds of 500 instruments at 60x
ACCOUNTS = [f"SOAK{i:02d}" for i in range(10)]
BAD_LINE = re.compile(r" (ERROR|CRITICAL) |Traceback")
WARN_LINE = re.compile(r" WARNING ")


@dataclass
class Samples:
    t: list[float] = field(default_factory=list)
    rss: dict[str, list[float]] = field(default_factory=dict)
    queue: list[float] = field(default_factory=list)
    backlog: list[float] = field(default_factory=list)  # marketdata's unprocessed ticks
    bot_bars: list[float] = field(default_factory=list)


@dataclass
class WsCount:
    path: str
    messages: int = 0
    at_warmup: int = 0
    error: str = ""


def _metric(text: str, name: str) -> float:
    """Sum of every sample of `name` in a Prometheus text page."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _subscribe(env: dict[str, str], n: int) -> list[str]:
    """Subscribes `n` NSE/NFO instruments (full mode, minute candles) straight on marketdata,
    as many clients' /ws/market sockets together would; returns the equities' symbols."""
    kite = KitesimServer.at(env["MANDI_KITE_ROOT"]).kite()
    eq = [r for r in kite.instruments("NSE") if r["instrument_type"] == "EQ"
          and r["segment"] == "NSE"]
    fut = [r for r in kite.instruments("NFO") if r["instrument_type"] in ("FUT", "CE", "PE")]
    picked = (eq[: int(n * 0.8)] + fut)[:n]
    async with signed_aio_channel(env["MANDI_MARKETDATA_ADDR"]) as ch:
        await marketdata_pb2_grpc.MarketdataServiceStub(ch).Subscribe(
            marketdata_pb2.SubscribeRequest(
                instruments=[common_pb2.InstrumentRef(instrument_token=int(r["instrument_token"]))
                             for r in picked],
                mode=marketdata_pb2.TICK_MODE_FULL, candle_intervals=["minute"]), timeout=60)
    return [r["tradingsymbol"] for r in eq]


def _bots(gateway: str, auth: dict[str, str], symbols: list[str], n: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=gateway, timeout=30, headers=auth) as http:
        for i in range(n):
            r = http.post("/api/v1/bots", json={
                "strategy": {"type": "ema_crossover", "params": {"fast": 3, "slow": 8}},
                "symbols": [f"NSE:{symbols[i % len(symbols)]}"], "interval": "minute",
                "capital": 500000, "sizing": {"type": "fixed_qty", "qty": 1},
                "name": f"soak {i}", "account_id": ACCOUNTS[i % len(ACCOUNTS)],
                "mode": "paper", "product": "MIS"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
            r = http.post(f"/api/v1/bots/{ids[-1]}/start")
            assert r.status_code == 200, r.text
    return ids


async def _ws_client(url: str, count: WsCount, stop: asyncio.Event) -> None:
    try:
        async with websockets.connect(url, max_size=None) as ws:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 1.0)
                    count.messages += 1
                except TimeoutError:
                    continue
    except Exception as exc:  # recorded: a socket that died fails the soak
        count.error = f"{type(exc).__name__}: {exc}"


def _sep(path: str) -> str:
    return "&" if "?" in path else "?"


def _sim_now(env: dict[str, str]) -> datetime:
    r = httpx.get(f"{env['MANDI_KITE_ROOT']}/sim/clock", timeout=10)
    return datetime.fromisoformat(r.json()["data"]["now"])


def soak(speed: float, start: str, end: str, n_bots: int, n_instruments: int) -> int:
    env = live_env(DAY, speed, start) | {"MANDI_LOG_LEVEL": "INFO"}
    gateway = f"http://127.0.0.1:{env['MANDI_GATEWAY_PORT']}"
    ws_root = gateway.replace("http://", "ws://")
    until = datetime.fromisoformat(f"{DAY}T{end}:00+05:30")
    samples = Samples()
    sockets: list[WsCount] = []
    verdict: dict[str, object] = {}

    def while_up() -> None:
        asyncio.run(create_paper_accounts(env, ACCOUNTS))
        auth = trader_auth(gateway, env["MANDI_ADMIN_PASSWORD"], ACCOUNTS)
        token = auth["Authorization"].split()[1]
        symbols = asyncio.run(_subscribe(env, n_instruments))
        bots = _bots(gateway, auth, symbols, n_bots)
        procs = platform_processes(env)
        metrics = f"http://127.0.0.1:{env['MANDI_METRICS_PORT_MARKETDATA']}/metrics"
        strategy_metrics = f"http://127.0.0.1:{env['MANDI_METRICS_PORT_STRATEGY']}/metrics"
        paths = [f"/ws/orders?account_id={a}" for a in ACCOUNTS[:3]]
        paths += [f"/ws/positions?account_id={a}" for a in ACCOUNTS[:3]]
        paths += ["/ws/notifications"] + [f"/ws/state?bot_id={b}" for b in bots[:5]]
        paths += [f"/ws/market/NSE:{s}" for s in symbols[:5]]
        sockets.extend(WsCount(p) for p in paths)
        stop = asyncio.Event()
        loop = asyncio.new_event_loop()

        async def clients() -> None:
            await asyncio.gather(*(_ws_client(
                f"{ws_root}{c.path}{_sep(c.path)}token={token}", c, stop)
                for c in sockets))

        thread = threading.Thread(target=loop.run_until_complete, args=(clients(),),
                                  daemon=True)
        thread.start()
        t0 = time.monotonic()
        first = _sim_now(env)
        warm_at = first + (until - first) * WARMUP
        warmed = False
        while (now := _sim_now(env)) < until:
            samples.t.append(time.monotonic() - t0)
            for name, pid in procs.items():
                samples.rss.setdefault(name, []).append(rss_mb(pid))
            page = httpx.get(metrics, timeout=10).text
            samples.queue.append(_metric(page, "mandi_marketdata_queue_depth"))
            samples.backlog.append(_metric(page, "mandi_marketdata_ingest_backlog_ticks"))
            shed = _metric(page, "mandi_marketdata_shed_ticks_total")
            samples.bot_bars.append(_metric(httpx.get(strategy_metrics, timeout=10).text,
                                            "mandi_bot_bars_total"))
            if not warmed and now >= warm_at:
                warmed = True
                verdict["warm_index"] = len(samples.t) - 1
                for c in sockets:
                    c.at_warmup = c.messages
            print(f"{now.astimezone(IST):%H:%M} " + " ".join(
                f"{k}={v[-1]:.0f}" for k, v in samples.rss.items()) +
                f" queue={samples.queue[-1]:.0f} backlog={samples.backlog[-1]:.0f}"
                f" shed={shed:.0f} bot_bars={samples.bot_bars[-1]:.0f}",
                flush=True)
            time.sleep(SAMPLE_S)
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        verdict["seconds"] = time.monotonic() - t0
        verdict["log_bytes"] = Path(verdict["log"]).stat().st_size  # the run, not the shutdown

    with TemporaryDirectory() as tmp:
        log = Path(tmp) / "platform.log"
        verdict["log"] = str(log)

        async def go() -> None:
            async with fresh_database() as dsn:
                env["MANDI_PG_DSN"] = dsn
                await asyncio.to_thread(run_smoke, 120.0, str(log), env, while_up)

        asyncio.run(go())
        text = log.read_bytes()[: verdict.get("log_bytes")].decode(errors="replace")
        bad = [line for line in text.splitlines() if BAD_LINE.search(line)]
        warned = [line for line in text.splitlines() if WARN_LINE.search(line)]
    return report(samples, sockets, verdict, bad, warned)


def report(samples: Samples, sockets: list[WsCount], verdict: dict, bad: list[str],
           warned: list[str]) -> int:
    w = int(verdict.get("warm_index", 0))
    if len(samples.t) < 4:
        print(f"soak: only {len(samples.t)} samples: the simulated day ended before the stack "
              "was set up (start earlier or run slower)")
        return 1
    failures = []
    print(f"\nsoak: {verdict.get('seconds', 0):.0f} s, {len(samples.t)} samples, "
          f"warm-up until sample {w}")
    for name, values in samples.rss.items():
        after = values[w:]
        med = statistics.median(after)
        lo, hi = min(after), max(after)
        drift = max(hi / med - 1, 1 - lo / med)
        print(f"  RSS {name:11s} start {values[0]:7.1f} MiB, after warm-up median {med:7.1f},"
              f" min {lo:7.1f}, max {hi:7.1f}, drift ±{drift * 100:4.1f} %")
        if drift > RSS_BAND:
            failures.append(f"{name} RSS drifted {drift * 100:.1f} %")
    q = samples.queue
    print(f"  marketdata queue depth after warm-up {q[w]:.0f}, max {max(q[w:]):.0f}, "
          f"end {q[-1]:.0f}")
    if q[-1] > q[w] + QUEUE_SLACK:
        failures.append(f"marketdata queues grew {q[w]:.0f} -> {q[-1]:.0f}")
    b = samples.backlog
    print(f"  marketdata ingest backlog (ticks) after warm-up {b[w]:.0f}, max {max(b[w:]):.0f}, "
          f"end {b[-1]:.0f}")
    if b[-1] > b[w] + BACKLOG_SLACK:
        failures.append(f"marketdata's ingest backlog grew {b[w]:.0f} -> {b[-1]:.0f}")
    bars = samples.bot_bars[-1] - samples.bot_bars[w]
    print(f"  bot bars processed after warm-up: {bars:.0f}")
    if bars <= 0:
        failures.append("the bots processed no bar after warm-up")
    for c in sockets:
        print(f"  ws {c.path}: {c.messages} messages ({c.messages - c.at_warmup} after "
              f"warm-up){' ' + c.error if c.error else ''}")
        if c.error:
            failures.append(f"{c.path}: {c.error}")
    print(f"  log lines at WARNING (reported, not failed): {len(warned)}")
    for line in warned[:10]:
        print("   ", line[:300])
    print(f"  log lines at ERROR or worse, or tracebacks: {len(bad)}")
    for line in bad[:20]:
        print("   ", line[:300])
    if bad:
        failures.append(f"{len(bad)} ERROR lines or tracebacks in the platform log")
    print(json.dumps({"pass": not failures, "failures": failures}))
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--from", dest="start", default="09:10")
    ap.add_argument("--to", dest="end", default="15:35")
    ap.add_argument("--bots", type=int, default=50)
    ap.add_argument("--instruments", type=int, default=500)
    a = ap.parse_args(argv)
    return soak(a.speed, a.start, a.end, a.bots, a.instruments)


if __name__ == "__main__":
    sys.exit(main())
