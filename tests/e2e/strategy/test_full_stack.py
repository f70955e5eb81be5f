"""The whole path with nothing stubbed: kitesim → history (fetch, store, GetCandles) → strategy
(job, engine, results in PostgreSQL) → gateway REST, every service its own process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from kiteconnect.exceptions import NetworkException

from mandi.core.backtest.data import Bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.sizing import FixedQty
from mandi.core.charges import Segment
from mandi.core.strategies.ema_crossover import EmaCrossover
from mandi.testing.gateway_auth import GatewayLogin
from mandi.testing.kitesim import KitesimServer, free_port, kitesim_process
from mandi.testing.pg import fresh_database
from mandi.testing.services import services_together
from tests.integration.strategy.reference import core_trades, rest_trades

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, KitesimServer]]:
    log_dir: Path = tmp_path_factory.mktemp("logs")
    loop = asyncio.new_event_loop()
    db = fresh_database()
    dsn = loop.run_until_complete(db.__aenter__())
    try:
        with kitesim_process("--start", "2026-03-02T15:45:00+05:30", seed=11) as sim:
            env = {"MANDI_PG_DSN": dsn, "MANDI_KITE_ROOT": sim.url,
                   "MANDI_KITE_WS_ROOT": sim.ws_url, "MANDI_CLOCK": "sim",
                   "MANDI_HISTORY_ADDR": f"127.0.0.1:{free_port()}",
                   "MANDI_STRATEGY_ADDR": f"127.0.0.1:{free_port()}",
                   "MANDI_KITE_API_KEY": sim.api_key}
            port = free_port()
            with services_together([("history", env), ("strategy", env), (
                    "gateway", {**env, "MANDI_GATEWAY_PORT": str(port)})], log_dir):
                yield f"http://127.0.0.1:{port}", sim
    finally:
        loop.run_until_complete(db.__aexit__(None, None, None))
        loop.close()


def kite_bars(sim: KitesimServer, symbol: str, interval: str, start: str, end: str) -> Bars:
    """The candles straight from kitesim through the real kiteconnect client (Kite's `to` is
    inclusive), retrying while kitesim's one-second window still holds history's requests."""
    kite = sim.kite()
    token = kite.ltp([symbol])[symbol]["instrument_token"]
    for attempt in range(60):
        try:
            rows = kite.historical_data(token, f"{start} 00:00:00", f"{end} 23:59:59", interval)
            break
        except NetworkException as exc:
            if exc.code != 429 or attempt == 59:
                raise
            time.sleep(0.5)
    ts = np.array([int(r["date"].timestamp()) * 10**9 for r in rows], dtype=np.int64)
    return Bars(ts, np.array([r["open"] for r in rows]), np.array([r["high"] for r in rows]),
                np.array([r["low"] for r in rows]), np.array([r["close"] for r in rows]),
                np.array([r["volume"] for r in rows]), symbol)


def test_backtest_when_candles_fetched_from_kitesim_runs_through_every_service(stack) -> None:
    base, sim = stack
    with httpx.Client(base_url=base, timeout=120, auth=GatewayLogin()) as http:
        fetched = http.post("/api/data/fetch-equity", json={
            "symbol": "INFY", "exchange": "NSE", "interval": "15minute",
            "from_date": "2025-10-01", "to_date": "2025-12-31"})
        assert fetched.status_code == 200, fetched.text
        stored = fetched.json()["records"]
        assert stored > 1000

        run = http.post("/api/v1/backtest/run", json={
            "strategy": {"type": "ema_crossover", "params": {"fast": 5, "slow": 20}},
            "symbols": ["NSE:INFY"], "interval": "15minute", "from": "2025-10-01",
            "to": "2025-12-31", "capital": 1000000,
            "sizing": {"type": "fixed_qty", "qty": 10}, "costs": {"product": "MIS"},
            "fill": "next_open"})
        assert run.status_code == 202, run.text
        bid = run.json()["id"]
        deadline = time.monotonic() + 60
        while (status := http.get(f"/api/v1/backtest/{bid}").json())["status"] in (
                "queued", "running"):
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["status"] == "done", status

        res = http.get(f"/api/v1/backtest/{bid}/results").json()
        assert len(res["equity_curve"]) == stored  # one point per bar history served
        assert res["metrics"]["trades"] == len(res["trades"]) > 0
        assert all(t["quantity"] == 10 for t in res["trades"])
        assert res["metrics"]["charges"] > 0  # MIS charges from the dated table
        net = sum(t["net_pnl"] for t in res["trades"])
        assert net == pytest.approx(res["metrics"]["net_pnl"], abs=0.01)
        # The values: kitesim's own candles for the range, read with kiteconnect, through the
        # core engine here (MIS, ₹10,00,000, 10 shares, next-open fills) give the same trades —
        # a timezone shift, a reordered batch or a wrong from/to slice in history would not.
        bars = kite_bars(sim, "NSE:INFY", "15minute", "2025-10-01", "2025-12-31")
        assert len(bars) == stored
        local = run_backtest({"NSE:INFY": bars}, EmaCrossover(fast=5, slow=20),
                             BacktestConfig(segment=Segment.EQUITY_INTRADAY, exchange="NSE",
                                            initial_capital_paise=100_000_000,
                                            sizer=FixedQty(10), mis=True))
        assert rest_trades(res["trades"]) == core_trades(local)
        assert round(res["metrics"]["final_equity"] * 100) == local.final_equity_paise
        # where the bars came from: history's table, every bar it served, from the first
        src = res["data_source"]
        assert (src["table"], src["interval"], src["bars"]) == ("history.ohlcv", "15minute",
                                                                stored)
        assert datetime.fromisoformat(src["symbols"][0]["first_ts"]).timestamp() * 10**9 == \
            bars.ts[0]
        # the run in the caller's history, its trades as CSV and its report, then deleted
        listed = http.get("/api/v1/backtests", params={"symbol": "NSE:INFY"}).json()
        assert bid in [b["id"] for b in listed["backtests"]]
        csv_text = http.get(f"/api/v1/backtest/{bid}/trades.csv").text
        assert len(csv_text.splitlines()) == len(res["trades"]) + 1
        report = http.get(f"/api/v1/backtest/{bid}/report")
        assert report.status_code == 200 and 'data-metric="sharpe"' in report.text
        assert http.delete(f"/api/v1/backtest/{bid}").json()["action"] == "deleted"
        assert http.get(f"/api/v1/backtest/{bid}").status_code == 404

        missing = http.post("/api/v1/backtest/run", json={
            "strategy": {"type": "rsi"}, "symbols": ["NSE:TCS"], "interval": "15minute",
            "from": "2025-10-01", "to": "2025-12-31", "sizing": {"type": "fixed_qty", "qty": 1},
            "wait": True})
        assert missing.json()["status"] == "failed"
        assert "no 15minute candles stored for NSE:TCS" in missing.json()["error"]
