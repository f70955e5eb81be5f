"""Read-path benchmark of the history service, as a client sees it.

Starts kitesim, history and the gateway as real processes on a fresh database, stores one
symbol-year of minute bars (INFY, 2025), then measures:
  - gRPC GetCandles for the whole year (streamed columnar batches) — target p50 ≤ 150 ms
  - REST GET /api/data/candles/... as JSON and as Parquet for the same range
Run: `python bench/bench_history_api.py` (part of `make bench`). Loopback only, bounded.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mandi.platform.protoconv import parse_ist, symbol_ref, to_timestamp
from mandi.testing.gateway_auth import GatewayLogin
from mandi.testing.kitesim import free_port, kitesim_process
from mandi.testing.pg import fresh_database
from mandi.testing.services import service_process
from mandi.testing.signed_channel import signed_channel
from mandi.v1 import history_pb2, history_pb2_grpc

RUNS_GRPC = 30
RUNS_REST = 10
YEAR = {"from_date": "2025-01-01", "to_date": "2025-12-31"}


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def grpc_read(addr: str) -> tuple[list[float], int]:
    req = history_pb2.GetCandlesRequest(instrument=symbol_ref("NSE", "INFY"), interval="minute")
    getattr(req, "from").CopyFrom(to_timestamp(parse_ist("2025-01-01", field="from")))
    req.to.CopyFrom(to_timestamp(parse_ist("2025-12-31", field="to", end_of_day=True)))
    times, rows = [], 0
    with signed_channel(addr, options=[
            ("grpc.max_receive_message_length", 64 << 20)]) as ch:
        stub = history_pb2_grpc.HistoryServiceStub(ch)
        for i in range(RUNS_GRPC + 3):
            t0 = time.perf_counter()
            n = sum(len(r.batch.ts_unix_ms) for r in stub.GetCandles(req, timeout=60))
            if i >= 3:  # warm-up: connection, plan cache
                times.append((time.perf_counter() - t0) * 1000)
            rows = n
    return times, rows


def rest_read(base: str, fmt: str) -> tuple[list[float], int]:
    times, size = [], 0
    with httpx.Client(base_url=base, timeout=120, auth=GatewayLogin()) as http:
        for i in range(RUNS_REST + 1):
            t0 = time.perf_counter()
            r = http.get("/api/data/candles/NSE/INFY/minute", params={**YEAR, "format": fmt})
            r.raise_for_status()
            if i >= 1:
                times.append((time.perf_counter() - t0) * 1000)
            size = len(r.content)
    return times, size


def main() -> int:
    loop = asyncio.new_event_loop()
    db = fresh_database()
    dsn = loop.run_until_complete(db.__aenter__())
    logs = Path(tempfile.mkdtemp(prefix="mandi-bench-"))
    try:
        with kitesim_process("--start", "2026-03-02T15:45:00+05:30", "--no-rate-limits",
                             seed=7) as sim:
            env = {"MANDI_PG_DSN": dsn, "MANDI_KITE_ROOT": sim.url, "MANDI_CLOCK": "sim",
                   "MANDI_KITE_HISTORICAL_RATE": "50"}
            with service_process("history", env, logs) as history:
                port = free_port()
                with service_process("gateway", {**env, "MANDI_HISTORY_ADDR": history.addr,
                                                 "MANDI_GATEWAY_PORT": str(port)}, logs):
                    base = f"http://127.0.0.1:{port}"
                    with httpx.Client(base_url=base, timeout=600, auth=GatewayLogin()) as http:
                        r = http.post("/api/data/fetch-equity",
                                      json={"symbol": "INFY", "interval": "minute", **YEAR})
                        r.raise_for_status()
                        print(f"stored {r.json()['records']} INFY minute bars for 2025")
                    g, rows = grpc_read(history.addr)
                    print(f"gRPC GetCandles, {rows} rows: p50 {statistics.median(g):.1f} ms, "
                          f"p95 {pct(g, 0.95):.1f} ms, min {min(g):.1f} ms ({RUNS_GRPC} runs)")
                    for fmt in ("json", "parquet"):
                        t, size = rest_read(base, fmt)
                        print(f"REST candles {fmt:<7} ({size / 1e6:.1f} MB): p50 "
                              f"{statistics.median(t):.1f} ms, p95 {pct(t, 0.95):.1f} ms "
                              f"({RUNS_REST} runs)")
    finally:
        loop.run_until_complete(db.__aexit__(None, None, None))
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
