"""Booking a fill on a busy scrip-day (`make bench`): `record_fill` on a real PostgreSQL ledger
(fresh database) for BENCH_FILLS (2,000) fills of one account, instrument, product and IST day
— alternating buys and sells of one-share orders, each its own order, as an active intraday
bot trades — for MIS and for CNC. Booking re-prices the scrip-day's charges over all its fills
(exact: the day's fills add up to the contract note), so its cost grows with the day's fills;
this prints the median wall time and process CPU of a booking around the 50th, 500th and
2,000th fill.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mandi.core.clock import IST
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.pg import fresh_database
from services.execution.accounts import AccountStore, CredentialBox
from services.execution.instruments import InstrumentInfo
from services.execution.ledger import Fill, record_fill

FILLS = int(os.environ.get("BENCH_FILLS", "2000"))
MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "execution" / "migrations"
INFY = InstrumentInfo("NSE", "INFY", 408065, "INFOSYS", "EQ", 5, 1)
OPEN = datetime(2026, 3, 4, 9, 15, tzinfo=IST)
AT = (50, 500, 2000)


async def day(pool: Any, account: str, product: str) -> dict[int, tuple[float, float]]:
    """(wall ms, CPU ms) medians of the 20 bookings ending at each of AT's fill counts."""
    await AccountStore(pool, CredentialBox("bench")).create(account, "paper", name="bench")
    await pool.executemany(
        "INSERT INTO orders (order_id, account_id, client_order_id, tag, exchange, tradingsymbol,"
        " side, quantity, order_type, product, status, created_at, updated_at)"
        " VALUES ($1,$2,$1,$1,'NSE','INFY',$3,1,'MARKET',$4,'COMPLETE',$5,$5)",
        [(f"{account}-{n}", account, "BUY" if n % 2 == 0 else "SELL", product, OPEN)
         for n in range(FILLS)])
    wall: list[float] = []
    cpu: list[float] = []
    for n in range(FILLS):
        side = "BUY" if n % 2 == 0 else "SELL"
        fill = Fill(f"T{n:06d}", f"{account}-{n}", "NSE", "INFY", product, side, 1,
                    150_000 + (n % 7) * 5, OPEN + timedelta(seconds=n))
        t0, c0 = time.perf_counter(), time.process_time()
        async with pool.acquire() as conn, conn.transaction():
            assert await record_fill(conn, account, fill, INFY) is not None
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return {k: (statistics.median(wall[k - 20:k]), statistics.median(cpu[k - 20:k]))
            for k in AT if k <= FILLS}


async def main() -> None:
    print(f"fill booking (load average {os.getloadavg()[0]:.1f}), {FILLS} fills a scrip-day")
    async with fresh_database() as dsn:
        await run_migrations(dsn, "execution", MIGRATIONS)
        pool = await create_pool(dsn, schema="execution", min_size=1, max_size=2)
        try:
            for product in ("MIS", "CNC"):
                got = await day(pool, f"BENCH{product}", product)
                print(f"  {product}: " + ", ".join(
                    f"fill {k}: {w:.2f} ms wall, {c:.2f} ms CPU" for k, (w, c) in got.items()))
        finally:
            await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
