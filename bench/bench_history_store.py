"""History store benchmark: ingest rows/s through CandleStore.write and read latency of a
symbol-year of minute bars through the reader (the DB half of GetCandles' 150 ms budget).

Runs against a throwaway database on MANDI_TEST_PG_DSN / MANDI_PG_DSN / local PostgreSQL:

    .venv/bin/python bench/bench_history_store.py [--rows 1000000] [--reads 30]

Targets (issue #4): ingest ≥ 300,000 rows/s through the store's write path; GetCandles p50
≤ 150 ms end to end, so the read itself should take ~50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mandi.core.calendar import session_open, trading_days  # noqa: E402
from mandi.core.candles import CandleFrame, to_ms  # noqa: E402
from mandi.platform.db import create_pool  # noqa: E402
from mandi.platform.migrations import run_migrations  # noqa: E402
from mandi.testing.pg import fresh_database  # noqa: E402
from services.history import reader  # noqa: E402
from services.history.store import CandleStore  # noqa: E402

MIGRATIONS = ROOT / "services" / "history" / "migrations"
TOKENS = [408065, 2953217, 738561, 341249]  # NSE INFY, TCS, RELIANCE, HDFCBANK (Kite tokens)


def session_minutes(first: date, rows: int) -> np.ndarray:
    """Epoch-ms starts of `rows` consecutive NSE session minutes from `first` onwards."""
    days = trading_days(first, date(first.year + rows // 90_000 + 2, 12, 31))
    opens = np.array([to_ms(session_open(d)) for d in days], dtype=np.int64)
    grid = (opens[:, None] + np.arange(375, dtype=np.int64)[None, :] * 60_000).ravel()
    return grid[:rows]


def synthetic(ts: np.ndarray, seed: int) -> CandleFrame:
    rng = np.random.default_rng(seed)
    close = np.round(1500 * np.exp(np.cumsum(rng.normal(0, 4e-4, len(ts)))), 2)
    spread = np.round(np.abs(rng.normal(0, 0.6, len(ts))), 2)
    return CandleFrame(ts=ts, open=close, high=close + spread, low=close - spread, close=close,
                       volume=rng.integers(0, 50_000, len(ts)), oi=np.zeros(len(ts), np.int64))


async def timed(coro) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = await coro
    return time.perf_counter() - t0, out


async def run(rows: int, reads: int) -> dict[str, float]:
    results: dict[str, float] = {}
    async with fresh_database() as dsn:
        await run_migrations(dsn, "history", MIGRATIONS)
        pool = await create_pool(dsn, schema="history", min_size=2, max_size=4)
        try:
            store = CandleStore(pool)
            ts = session_minutes(date(2015, 1, 1), rows)
            frames = [synthetic(ts, seed) for seed in range(3)]

            # 1. cold bulk: one call, monthly partitions created on the way
            secs, n = await timed(store.write(TOKENS[0], "minute", frames[0], overwrite=False))
            results["ingest_cold_rows_per_s"] = n / secs
            # 2. warm bulk: partitions exist (the usual case once one symbol is loaded)
            secs, n = await timed(store.write(TOKENS[1], "minute", frames[1], overwrite=False))
            results["ingest_warm_rows_per_s"] = n / secs
            # 3. fetcher-sized writes: one Kite minute request = 60 days ≈ 15k bars
            chunk = 60 * 375 * 5 // 7
            t0 = time.perf_counter()
            total = 0
            for lo in range(0, rows, chunk):
                total += await store.write(TOKENS[2], "minute",
                                           frames[2].take(slice(lo, lo + chunk)), overwrite=False)
            results["ingest_chunked_rows_per_s"] = total / (time.perf_counter() - t0)
            # 4. merge path: half the frame already stored (staging + ON CONFLICT)
            half = frames[0].take(slice(rows // 2, None))
            await store.delete(TOKENS[3], "minute")
            await store.write(TOKENS[3], "minute", half, overwrite=False)
            secs, n = await timed(store.write(TOKENS[3], "minute", frames[0], overwrite=False))
            results["ingest_merge_rows_per_s"] = rows / secs
            results["merge_new_rows"] = n
            await pool.execute("VACUUM ANALYZE ohlcv")

            # read one symbol-year of minute bars (~94k rows)
            start = session_open(date(2016, 1, 1))
            end = session_open(date(2017, 1, 1))
            lat, lat_iter, lat_15 = [], [], []
            for _ in range(reads):
                secs, frame = await timed(reader.read(pool, TOKENS[1], "minute", start, end))
                lat.append(secs)
                t0 = time.perf_counter()
                got = 0
                async for batch in reader.iter_batches(pool, TOKENS[1], "minute", start, end):
                    got += len(batch)
                lat_iter.append(time.perf_counter() - t0)
                secs, _ = await timed(reader.read(pool, TOKENS[1], "minute", start, end,
                                                  resample_to="15minute"))
                lat_15.append(secs)
            assert got == len(frame)
            results["year_rows"] = len(frame)
            for name, xs in (("read_year", lat), ("iter_batches_year", lat_iter),
                             ("resample15_year", lat_15)):
                xs.sort()
                results[f"{name}_p50_ms"] = statistics.median(xs) * 1000
                results[f"{name}_p95_ms"] = xs[int(0.95 * (len(xs) - 1))] * 1000
        finally:
            await pool.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="bars per ingest run")
    ap.add_argument("--reads", type=int, default=30, help="read repetitions")
    args = ap.parse_args()
    res = asyncio.run(run(args.rows, args.reads))
    print(f"ingest, {args.rows:,} minute bars per run (target >= 300,000 rows/s)")
    for key in ("cold", "warm", "chunked", "merge"):
        print(f"  {key:8s} {res[f'ingest_{key}_rows_per_s']:>12,.0f} rows/s")
    print(f"read, one symbol-year = {res['year_rows']:,} minute bars (target ~50 ms)")
    for name in ("read_year", "iter_batches_year", "resample15_year"):
        print(f"  {name:18s} p50 {res[f'{name}_p50_ms']:7.1f} ms   "
              f"p95 {res[f'{name}_p95_ms']:7.1f} ms")
    print(json.dumps({k: round(v, 1) for k, v in res.items()}))


if __name__ == "__main__":
    main()
