"""Bot benchmark (`make bench`): candle close → order accepted by execution, with 50 bots running.

Issue #12's target: p99 < 20 ms with 50 bots. The parts are real and separate:
* execution in its own process (gRPC on a socket, risk checks, Redis throttles, PaperBroker on
  a real PostgreSQL ledger), one paper account per bot (the per-account order throttle would
  otherwise measure itself);
* in this process: the strategy service's `BotRunner` (leases in Redis, bot state and orders in
  PostgreSQL, one task per bot) and the real marketdata server (fan-out only: this script
  appends each closed candle to its candle log as the ingester would, and the server streams it
  over a socket to the replica's shared `StreamCandles` — one per (symbols, interval), handed
  to its bots in-process, services/strategy/candle_hub.py — after each bot's own catch-up
  stream).
Every bot runs EMA crossover 2/3. Two runs:
* all signalling: every bot trades SBIN's zig-zag, so every bar makes every bot send an order
  (an entry on one bar, its exit on the next) — 50 orders arriving at execution at once;
* a few signalling (BENCH_SIGNALLING, default 5 and 1): those bots trade SBIN's zig-zag, the others
  INFY, whose candles (appended at the same instant) are flat, so they process and save every
  bar but never cross — the realistic case of many bots running and a few acting on a bar.
Latency of an order = PlaceOrder answered (accepted) − the instant the bar's candles were
appended to marketdata's candle log; it includes the fan-out to the bots, the strategy, the
orders queueing behind each other at execution (the bar's state is saved beside the orders,
not before them: services/strategy/bot_runner.py). The first WARMUP bars are not counted.
Nothing here asserts anything.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from google.protobuf import struct_pb2

from bench.paper_execution import paper_execution
from mandi.core.clock import IST, TestClock
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.platform.redis import create_redis
from mandi.testing.kitesim import free_port
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace, redis_url
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import (
    common_pb2,
    execution_pb2_grpc,
    history_pb2_grpc,
    marketdata_pb2_grpc,
    strategy_pb2,
)
from services.marketdata.candles import Bar
from services.strategy.bot_runner import BotRunner
from services.strategy.bot_store import BotRow, BotStore, new_bot_id
from services.strategy.server import MIGRATIONS
from tests.integration.execution.kit import INSTRUMENTS, MARKET_OPEN
from tests.integration.marketdata.fanout_kit import lookup_history, served

EXEC_MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "execution" / "migrations"
N_BOTS = int(os.environ.get("BENCH_BOTS", "50"))
SBIN_TOKEN = 779521  # as marketdata resolves NSE:SBIN here (a lookup-only history)
INFY_TOKEN = 408065
N_SIGNALLING = [int(x) for x in os.environ.get("BENCH_SIGNALLING", "5,1").split(",")]
N_BARS = int(os.environ.get("BENCH_BARS", "60"))
WARMUP = 6
BAR_GAP_S = 0.5  # between candles: the bots' orders of one bar are done long before
ZIGZAG = [100.0, 104.0, 96.0, 104.0]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


# --- execution, in its own process ---------------------------------------------------------------
def execution_child(dsn: str, prefix: str, accounts: list[str], conn) -> None:
    asyncio.run(_execution(dsn, prefix, accounts, conn))


async def _execution(dsn: str, prefix: str, accounts: list[str], conn) -> None:
    from services.execution.accounts import RiskLimits
    from services.execution.marketdata import ManualMarketData

    data = ManualMarketData(INSTRUMENTS)
    data.set_quote("NSE:SBIN", 81235, bid_paise=81230, ask_paise=81240)
    redis = create_redis(redis_url())
    limits = RiskLimits(max_order_value_paise=10**12, max_capital_per_position_paise=10**12,
                        daily_loss_limit_paise=10**12)
    async with paper_execution(dsn, redis, prefix, TestClock(MARKET_OPEN), data, accounts,
                               limits) as (engine, port):
        engine.ltp_ttl_s = 0.0
        conn.send(port)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
    await redis.aclose()


# --- the bots, here ------------------------------------------------------------------------------
class TimedExecution:
    """The runner's execution stub, noting when each PlaceOrder was answered (accepted)."""

    def __init__(self, stub: execution_pb2_grpc.ExecutionServiceStub) -> None:
        self._stub = stub
        self.accepted: list[tuple[str, float]] = []

    async def PlaceOrder(self, request, **kw):
        resp = await self._stub.PlaceOrder(request, **kw)
        self.accepted.append((request.order.client_order_id, time.monotonic()))
        return resp

    def __getattr__(self, name: str):
        return getattr(self._stub, name)


def _spec(symbol: str) -> bytes:
    params = struct_pb2.Struct()
    params.update({"fast": 2, "slow": 3})
    return strategy_pb2.BacktestSpec(
        strategy=strategy_pb2.StrategyDef(type="ema_crossover", params=params),
        symbols=[common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol=symbol)],
        interval="minute", capital_paise=10**9,
        sizing=strategy_pb2.Sizing(type="fixed_qty", qty=1),
        costs=strategy_pb2.Costs(product=strategy_pb2.PRODUCT_MIS)).SerializeToString()


async def bench(edsn: str, sdsn: str, signalling: int) -> dict[str, float]:
    """`signalling` bots trade SBIN's zig-zag (an order every bar), the rest INFY's flat bars."""
    accounts = [f"BOT{i:03d}" for i in range(N_BOTS)]
    async with redis_namespace() as ns:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=execution_child, args=(edsn, ns.prefix, accounts, child))
        proc.start()
        port = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
        lookup_cm = lookup_history({"SBIN": SBIN_TOKEN, "INFY": INFY_TOKEN})
        md_cm = served(history_addr=await lookup_cm.__aenter__())
        md = await md_cm.__aenter__()
        pool = await create_pool(sdsn, schema="strategy", min_size=4, max_size=20,
                                 stateless=True)  # as the strategy service's
        store = BotStore(pool)
        runner = BotRunner(store, ns.client, replica_id="bench", prefix=ns.prefix + "s",
                           lease_s=10.0, poll_s=0.5, now=lambda: MARKET_OPEN.astimezone(IST))
        channels = [signed_aio_channel(f"127.0.0.1:{free_port()}"),  # no history
                    signed_aio_channel(md.addr),
                    signed_aio_channel(f"127.0.0.1:{port}")]
        runner.history = history_pb2_grpc.HistoryServiceStub(channels[0])
        runner.marketdata = marketdata_pb2_grpc.MarketdataServiceStub(channels[1])
        timed = TimedExecution(execution_pb2_grpc.ExecutionServiceStub(channels[2]))
        runner.execution = timed  # type: ignore[assignment]
        specs = {"SBIN": _spec("SBIN"), "INFY": _spec("INFY")}
        for i, a in enumerate(accounts):
            spec = specs["SBIN" if i < signalling else "INFY"]
            row = await store.create(BotRow(id=new_bot_id(), owner="bench", name=f"bot{i}",
                                            spec=spec, account_id=a, mode="paper",
                                            product="MIS"), actor="bench")
            await store.set_status(row.id, "running", "bench")
        await runner.start()
        deadline = time.monotonic() + 60
        while len(md.app.hub.candle_subs) < N_BOTS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(md.app.hub.candle_subs)} of {N_BOTS} bots "
                                   "streaming")
            await asyncio.sleep(0.05)
        pushed: dict[int, float] = {}
        load = []
        for k in range(N_BARS):
            ts = MARKET_OPEN + timedelta(minutes=k)
            pushed[int(ts.timestamp())] = time.monotonic()
            p = round(ZIGZAG[k % len(ZIGZAG)] * 100)
            await md.bus.append_candles([
                Bar(SBIN_TOKEN, "minute", int(ts.timestamp()), p, p, p, p, 100, 0, "ticks"),
                Bar(INFY_TOKEN, "minute", int(ts.timestamp()), 150000, 150000, 150000, 150000,
                    100, 0, "ticks")])
            await asyncio.sleep(BAR_GAP_S)
            load.append(os.getloadavg()[0])
        await asyncio.sleep(2.0)
        first_counted = int((MARKET_OPEN + timedelta(minutes=WARMUP)).timestamp())
        by_bar: dict[int, list[float]] = {}
        for coid, t in timed.accepted:
            bar_s = int(coid.split(":")[1])
            if bar_s >= first_counted:
                by_bar.setdefault(bar_s, []).append((t - pushed[bar_s]) * 1000)
        lat = [x for v in by_bar.values() for x in v]
        firsts = [min(v) for v in by_bar.values()]  # one bot's path, before the queue forms
        errors = sum(1 for b in await store.list("bench") if b.status != "running")
        await runner.stop()
        for ch in channels:
            await ch.close()
        await md_cm.__aexit__(None, None, None)
        await lookup_cm.__aexit__(None, None, None)
        await pool.close()
        parent.send("stop")
        proc.join(30)
    return {"n": len(lat), "p50": statistics.median(lat), "p99": pct(lat, 99),
            "max": max(lat), "first_p50": statistics.median(firsts),
            "per_bar": statistics.mean(len(v) for v in by_bar.values()),
            "bots_not_running": errors, "load": statistics.mean(load),
            "orders": len(timed.accepted)}


async def main() -> None:
    logging.getLogger("mandi.marketdata.lease").setLevel(logging.ERROR)  # 50 leases closing
    print("### Bots\n")
    print(f"Candle close → PlaceOrder accepted, {N_BOTS} bots running (EMA 2/3, one paper "
          f"account each), {N_BARS} bars {BAR_GAP_S} s apart, first {WARMUP} not counted; "
          "execution in its own process; real PostgreSQL + Redis:\n")
    for signalling in dict.fromkeys((N_BOTS, *(min(k, N_BOTS) for k in N_SIGNALLING))):
        async with fresh_database() as edsn, fresh_database() as sdsn:
            await run_migrations(edsn, "execution", EXEC_MIGRATIONS)
            await run_migrations(sdsn, "strategy", MIGRATIONS)
            r = await bench(edsn, sdsn, signalling)
        print(f"{signalling} of {N_BOTS} bots sending an order every bar:\n")
        print("| metric | ms | target |\n|---|---|---|")
        print(f"| p50 | {r['p50']:.2f} | |\n| p99 | {r['p99']:.2f} | < 20 |\n"
              f"| max | {r['max']:.2f} | |\n"
              f"| p50 of each bar's first order (no queue yet) | {r['first_p50']:.2f} | |\n")
        print(f"{r['n']} orders counted ({r['per_bar']:.1f} per bar; {r['orders']} accepted "
              f"in all); bots not running at the end: {r['bots_not_running']}; load average "
              f"while measuring: {r['load']:.2f} on {os.cpu_count()} CPUs\n")
        print("result:", "over target" if r["p99"] >= 20 else "within target", "\n")


if __name__ == "__main__":
    asyncio.run(main())
