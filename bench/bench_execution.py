"""Execution benchmarks (`make bench`).

1. PlaceOrder through gRPC (a real socket) → risk checks → PaperBroker, p50/p99 over N orders.
   Orders go round-robin over many paper accounts so the per-account 10/s throttle and the SEBI
   per-segment governor (both enforced, Redis-backed) do not turn the benchmark into a
   measurement of the throttle itself.
2. The four dashboard queries on a ledger of 1,000,000 trades (one account): cumulative P&L,
   trade history page + summary (unfiltered, date range, symbol, segment), P&L calendar for a
   year, daily-loss card. p50/p95 over repeated runs.

Targets (issue #6): PlaceOrder p99 ≤ 10 ms; each dashboard query p95 ≤ 50 ms.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.paper_execution import paper_execution
from mandi.core.calendar import trading_days
from mandi.core.clock import IST, TestClock
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.platform.protoconv import symbol_ref
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import execution_pb2 as pb
from mandi.v1 import execution_pb2_grpc
from services.execution import dashboards
from services.execution.accounts import AccountStore, CredentialBox, RiskLimits
from services.execution.marketdata import ManualMarketData

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "execution" / "migrations"
N_ORDERS = int(os.environ.get("BENCH_ORDERS", "2000"))
N_ACCOUNTS = 250
N_TRADES = int(os.environ.get("BENCH_TRADES", "1000000"))
REPEAT = 40
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=IST)
SYMBOLS = [f"SYM{i:02d}" for i in range(40)]
INSTRUMENTS = [{"exchange": "NSE", "tradingsymbol": s, "name": s, "instrument_type": "EQ",
                "segment": "NSE", "tick_size": 0.05, "lot_size": 1, "instrument_token": i}
               for i, s in enumerate(SYMBOLS)]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


async def bench_place(dsn: str) -> dict[str, float]:
    clock = TestClock(NOW)
    data = ManualMarketData(INSTRUMENTS)
    for i, s in enumerate(SYMBOLS):
        p = 50000 + i * 1000
        data.set_quote(f"NSE:{s}", p, bid_paise=p - 5, ask_paise=p + 5)
    accounts = [f"B{i:04d}" for i in range(N_ACCOUNTS)]
    limits = RiskLimits(max_order_value_paise=10**12, max_capital_per_position_paise=10**12)
    async with redis_namespace() as ns, paper_execution(dsn, ns.client, ns.prefix, clock, data,
                                                        accounts, limits) as (engine, port):

        channel = signed_aio_channel(f"127.0.0.1:{port}")
        stub = execution_pb2_grpc.ExecutionServiceStub(channel)
        rng = random.Random(7)
        lat: list[float] = []
        for n in range(N_ORDERS + 100):
            sym = rng.choice(SYMBOLS)
            ltp = 50000 + SYMBOLS.index(sym) * 1000
            price = ltp + rng.choice([-200, -100, 100, 200])  # half rest, half fill at once
            req = pb.PlaceOrderRequest(account_id=accounts[n % N_ACCOUNTS], order=pb.OrderRequest(
                client_order_id=f"b{n}", symbol=symbol_ref("NSE", sym).symbol,
                side=pb.SIDE_BUY, quantity=1 + n % 50, order_type=pb.ORDER_TYPE_LIMIT,
                price_paise=price, product=1, allow_duplicate=True))
            t0 = time.perf_counter()
            resp = await stub.PlaceOrder(req)
            dt = (time.perf_counter() - t0) * 1000
            assert resp.order.status in (pb.ORDER_STATUS_OPEN, pb.ORDER_STATUS_COMPLETE)
            if n >= 100:  # warm-up: instrument caches, prepared statements, connections
                lat.append(dt)
        # the same path without gRPC, to show where the time goes
        inproc: list[float] = []
        from services.execution.orders import OrderSpec

        for n in range(N_ORDERS):
            sym = rng.choice(SYMBOLS)
            ltp = 50000 + SYMBOLS.index(sym) * 1000
            o = OrderSpec(client_order_id=f"i{n}", exchange="NSE", tradingsymbol=sym,
                          side="BUY", quantity=1 + n % 50, order_type="LIMIT",
                          product="CNC", price_paise=ltp + rng.choice([-200, 200]),
                          allow_duplicate=True)
            t0 = time.perf_counter()
            await engine.place(accounts[n % N_ACCOUNTS], o)
            inproc.append((time.perf_counter() - t0) * 1000)
        await channel.close()
    return {"n": len(lat), "p50": statistics.median(lat), "p99": pct(lat, 99),
            "max": max(lat), "inproc_p50": statistics.median(inproc),
            "inproc_p99": pct(inproc, 99)}


async def load_trades(pool, account: str) -> int:
    days = trading_days(date(2022, 1, 3), date(2026, 3, 10))
    per_day = max(1, N_TRADES // len(days))
    rng = random.Random(11)
    rows = []
    n = 0
    for d in days:
        exit_base = datetime(d.year, d.month, d.day, 9, 20, tzinfo=IST).astimezone(UTC)
        for j in range(per_day):
            if n >= N_TRADES:
                break
            sym = SYMBOLS[rng.randrange(len(SYMBOLS))]
            seg = "DERIVATIVES" if sym < "SYM08" else "EQUITY"
            entry = rng.randrange(10000, 500000, 5)
            exit_ = entry + rng.randrange(-3000, 3000, 5)
            qty = rng.randrange(1, 100)
            gross = (exit_ - entry) * qty
            fee = rng.randrange(0, 5000)
            ets = exit_base + timedelta(seconds=j * 20)
            rows.append((f"t{n:08d}", account, "NSE", sym, seg, "BUY", qty, entry, exit_,
                         ets - timedelta(minutes=5), ets, d, gross, fee, gross - fee, "signal",
                         "", None, None, "paper", None))
            n += 1
    await pool.copy_records_to_table("trades", records=rows, columns=[
        "trade_id", "account_id", "exchange", "tradingsymbol", "segment", "side", "quantity",
        "entry_price_paise", "exit_price_paise", "entry_ts", "exit_ts", "trade_date",
        "realized_pnl_paise", "charges_paise", "net_pnl_paise", "exit_reason", "strategy_id",
        "position_id", "exit_order_id", "source", "import_key"])
    await pool.execute(
        "INSERT INTO daily_pnl (account_id, trade_date, segment, trades, wins, profit_paise,"
        " loss_paise, net_paise, charges_paise)"
        " SELECT account_id, trade_date, segment, count(*), count(*) FILTER (WHERE net_pnl_paise"
        " > 0), coalesce(sum(net_pnl_paise) FILTER (WHERE net_pnl_paise > 0), 0),"
        " coalesce(sum(net_pnl_paise) FILTER (WHERE net_pnl_paise < 0), 0), sum(net_pnl_paise),"
        " sum(charges_paise) FROM trades WHERE account_id = $1 GROUP BY 1, 2, 3", account)
    await pool.execute(
        "INSERT INTO daily_symbol_pnl (account_id, tradingsymbol, trade_date, segment, trades,"
        " wins, profit_paise, loss_paise, net_paise)"
        " SELECT account_id, tradingsymbol, trade_date, segment, count(*),"
        " count(*) FILTER (WHERE net_pnl_paise > 0),"
        " coalesce(sum(net_pnl_paise) FILTER (WHERE net_pnl_paise > 0), 0),"
        " coalesce(sum(net_pnl_paise) FILTER (WHERE net_pnl_paise < 0), 0), sum(net_pnl_paise)"
        " FROM trades WHERE account_id = $1 GROUP BY 1, 2, 3, 4", account)
    await pool.execute(
        "INSERT INTO daily_stats (account_id, date, realized_pnl_paise, trades)"
        " SELECT account_id, trade_date, sum(net_paise), sum(trades) FROM daily_pnl"
        " WHERE account_id = $1 GROUP BY 1, 2", account)
    await pool.execute("ANALYZE")
    return n


async def bench_dashboards(dsn: str) -> dict[str, dict[str, float]]:
    pool = await create_pool(dsn, schema="execution", min_size=2, max_size=4)
    store = AccountStore(pool, CredentialBox("bench"))
    await store.create("BIG", "paper")
    await store.create("SMALL", "paper")
    t0 = time.perf_counter()
    n = await load_trades(pool, "BIG")
    load_s = time.perf_counter() - t0
    clock = TestClock(NOW)
    queries = {
        "cumulative P&L (all/year/month/week/day)":
            lambda: dashboards.cumulative(pool, clock, "BIG"),
        "trade history page + summary (no filter)":
            lambda: dashboards.trades(pool, "BIG"),
        "trade history + summary (date range 1 month)":
            lambda: dashboards.trades(pool, "BIG", from_date="2025-06-01", to_date="2025-06-30"),
        "trade history + summary (symbol)":
            lambda: dashboards.trades(pool, "BIG", symbol="SYM17"),
        "trade history + summary (symbol + date range)":
            lambda: dashboards.trades(pool, "BIG", symbol="SYM17", from_date="2025-01-01",
                                      to_date="2025-12-31"),
        "trade history + summary (segment + year)":
            lambda: dashboards.trades(pool, "BIG", segment="DERIVATIVES",
                                      from_date="2025-01-01", to_date="2025-12-31"),
        "P&L calendar (1 year)":
            lambda: dashboards.calendar(pool, "BIG", "2025-01-01", "2025-12-31"),
        "daily-loss-used card":
            lambda: dashboards.daily(pool, clock, "BIG"),
    }
    out = {}
    for name, q in queries.items():
        await q()
        lat = []
        for _ in range(REPEAT):
            t = time.perf_counter()
            await q()
            lat.append((time.perf_counter() - t) * 1000)
        out[name] = {"p50": statistics.median(lat), "p95": pct(lat, 95)}
    await pool.close()
    out["_meta"] = {"trades": n, "load_s": load_s}
    return out


async def main() -> None:
    async with fresh_database() as dsn:
        await run_migrations(dsn, "execution", MIGRATIONS)
        place = await bench_place(dsn)
        dash = await bench_dashboards(dsn)
    meta = dash.pop("_meta")
    print("### Execution\n")
    print(f"PlaceOrder via gRPC → risk checks → PaperBroker ({place['n']} orders after 100 "
          f"warm-up, {N_ACCOUNTS} accounts, real PostgreSQL + Redis):\n")
    print("| metric | ms | target |\n|---|---|---|")
    print(f"| p50 | {place['p50']:.2f} | |\n| p99 | {place['p99']:.2f} | ≤ 10 |\n"
          f"| max | {place['max']:.2f} | |\n"
          f"| p50 in-process (engine.place, no gRPC) | {place['inproc_p50']:.2f} | |\n"
          f"| p99 in-process | {place['inproc_p99']:.2f} | |\n")
    print(f"load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")
    print(f"Dashboard queries on {meta['trades']:,} trades of one account "
          f"(loaded in {meta['load_s']:.0f} s), {REPEAT} runs each:\n")
    print("| query | p50 ms | p95 ms | target p95 |\n|---|---|---|---|")
    for name, r in dash.items():
        print(f"| {name} | {r['p50']:.2f} | {r['p95']:.2f} | ≤ 50 |")
    failed = place["p99"] > 10 or any(r["p95"] > 50 for r in dash.values())
    print("\nresult:", "over target" if failed else "within targets")


if __name__ == "__main__":
    asyncio.run(main())
