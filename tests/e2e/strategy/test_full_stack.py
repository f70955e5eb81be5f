"""The whole path with nothing stubbed: kitesim → history (fetch, store, GetCandles) → strategy
(job, engine, results in PostgreSQL) → gateway REST, every service its own process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mandi.testing.kitesim import free_port, kitesim_process
from mandi.testing.pg import fresh_database
from mandi.testing.services import service_process

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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
            with service_process("history", env, log_dir), \
                    service_process("strategy", env, log_dir):
                port = free_port()
                with service_process("gateway", {**env, "MANDI_GATEWAY_PORT": str(port)},
                                     log_dir):
                    yield f"http://127.0.0.1:{port}"
    finally:
        loop.run_until_complete(db.__aexit__(None, None, None))
        loop.close()


def test_backtest_when_candles_fetched_from_kitesim_runs_through_every_service(stack) -> None:
    with httpx.Client(base_url=stack, timeout=120) as http:
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

        missing = http.post("/api/v1/backtest/run", json={
            "strategy": {"type": "rsi"}, "symbols": ["NSE:TCS"], "interval": "15minute",
            "from": "2025-10-01", "to": "2025-12-31", "sizing": {"type": "fixed_qty", "qty": 1},
            "wait": True})
        assert missing.json()["status"] == "failed"
        assert "no 15minute candles stored for NSE:TCS" in missing.json()["error"]
