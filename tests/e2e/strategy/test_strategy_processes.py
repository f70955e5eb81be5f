"""Strategy and gateway as real processes: a backtest submitted over REST reads candles from a
HistoryService over gRPC, survives `kill -9` of the strategy process (its lease runs out and the
next process resumes it), and its results come back over REST."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import grpc
import httpx
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mandi.core.backtest.sizing import FixedQty
from mandi.core.clock import IST
from mandi.testing.gateway_auth import ADMIN_ENV, GatewayLogin
from mandi.testing.kitesim import free_port
from mandi.testing.pg import fresh_database
from mandi.testing.signed_channel import signed_aio_channel
from tests.integration.strategy.fake_history import FakeHistory, start_history
from tests.integration.strategy.reference import (
    MIS_FIXED_10,
    core_trades,
    local_run,
    rest_trades,
)

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[3]
RUN = {"strategy": {"type": "ema_crossover", "params": {"fast": 10, "slow": 30}},
       "symbols": ["NSE:INFY", "NSE:TCS"], "interval": "minute", "from": "2025-01-01",
       "to": "2025-02-28", "capital": 1000000, "sizing": {"type": "fixed_qty", "qty": 100},
       "costs": {"product": "MIS"}, "fill": "next_open"}


class Platform:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **ADMIN_ENV, **env, "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.starts = 0

    def start(self, name: str) -> None:
        self.starts += 1
        cmd = ([sys.executable, str(REPO / "tests/e2e/strategy/run_strategy.py")]
               if name == "strategy" else [sys.executable, "-m", f"services.{name}"])
        log = open(self.log_dir / f"{name}-{self.starts}.log", "wb")
        self.procs[name] = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    async def wait_serving(self, name: str, timeout_s: float = 40.0) -> None:
        addr = self.env[f"MANDI_{name.upper()}_ADDR"]
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            assert self.procs[name].poll() is None, self.logs()
            async with signed_aio_channel(addr) as ch:
                try:
                    r = await health_pb2_grpc.HealthStub(ch).Check(
                        health_pb2.HealthCheckRequest(), timeout=1)
                    if r.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"{name} not SERVING\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.log_dir.glob("*.log")))

    def kill(self, name: str, sig: int) -> int:
        proc = self.procs[name]
        os.killpg(proc.pid, sig)
        return proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest_asyncio.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[Platform, FakeHistory, str]]:
    fake = FakeHistory()
    server, history_port = await start_history(fake, host="0.0.0.0")
    gateway_port = free_port()
    env = {"MANDI_HISTORY_ADDR": f"127.0.0.1:{history_port}",
           "MANDI_STRATEGY_ADDR": f"127.0.0.1:{free_port()}",
           "MANDI_GATEWAY_ADDR": f"127.0.0.1:{free_port()}",
           "MANDI_GATEWAY_PORT": str(gateway_port),
           "MANDI_METRICS_PORT_STRATEGY": str(free_port()),
           "MANDI_METRICS_PORT_GATEWAY": str(free_port()),
           "MANDI_SHUTDOWN_GRACE_S": "2"}
    async with fresh_database() as dsn:
        env["MANDI_PG_DSN"] = dsn
        p = Platform(env, tmp_path)
        try:
            p.start("strategy")
            p.start("gateway")
            await p.wait_serving("strategy")
            await p.wait_serving("gateway")
            yield p, fake, f"http://127.0.0.1:{gateway_port}"
        finally:
            p.stop_all()
            await server.stop(None)


async def status(api: httpx.AsyncClient, bid: str) -> dict:
    r = await api.get(f"/api/v1/backtest/{bid}")
    assert r.status_code == 200, r.text
    return r.json()


async def wait_for(api: httpx.AsyncClient, bid: str, states: set[str], timeout_s: float = 60
                   ) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = await status(api, bid)
        if body["status"] in states:
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


# The graceful (SIGTERM) restart is covered in tests/integration/strategy; here the process dies.
@pytest.mark.parametrize("sig", [signal.SIGKILL])
async def test_backtest_when_strategy_process_dies_mid_run_resumes_and_results_served(
        platform, sig):
    p, fake, base = platform
    fake.delay_s = 0.15  # ~2 s of candle reading: long enough to be caught running
    async with httpx.AsyncClient(base_url=base, timeout=30, auth=GatewayLogin()) as api:
        r = await api.post("/api/v1/backtest/run", json=RUN)
        assert r.status_code == 202, r.text
        bid = r.json()["id"]
        await wait_for(api, bid, {"running"})
        code = p.kill("strategy", sig)
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0)
        fake.delay_s = 0.0
        calls_before = len(fake.calls)
        p.start("strategy")
        await p.wait_serving("strategy")
        final = await wait_for(api, bid, {"done", "failed", "cancelled"})
        assert final["status"] == "done", final
        assert len(fake.calls) > calls_before  # the new process read the candles again
        res = (await api.get(f"/api/v1/backtest/{bid}/results")).json()
        assert res["metrics"]["trades"] == len(res["trades"]) > 0
        assert {t["symbol"] for t in res["trades"]} == {"NSE:INFY", "NSE:TCS"}
        assert res["equity_curve"][-1]["equity"] == res["metrics"]["final_equity"]
        # Resumed after kill -9 = never interrupted: the core engine on the same bars (1 Jan –
        # 28 Feb IST, `to` inclusive; ₹10,00,000; 100 shares a trade) trade for trade.
        local = local_run(["NSE:INFY", "NSE:TCS"], datetime(2025, 1, 1, tzinfo=IST),
                          datetime(2025, 3, 1, tzinfo=IST), "ema_crossover",
                          {"fast": 10, "slow": 30},
                          config=replace(MIS_FIXED_10, sizer=FixedQty(100)))
        assert rest_trades(res["trades"]) == core_trades(local)
        assert round(res["metrics"]["final_equity"] * 100) == local.final_equity_paise
        assert round(res["metrics"]["charges"] * 100) == sum(t.charges_paise
                                                              for t in local.trades)
        assert len(res["equity_curve"]) == len(local.ts)


async def test_backtest_when_cancelled_over_rest_stops_and_bad_input_is_400(platform):
    p, fake, base = platform
    fake.delay_s = 0.3
    async with httpx.AsyncClient(base_url=base, timeout=30, auth=GatewayLogin()) as api:
        bid = (await api.post("/api/v1/backtest/run", json=RUN)).json()["id"]
        await wait_for(api, bid, {"running"})
        assert (await api.delete(f"/api/v1/backtest/{bid}")).status_code == 200
        assert (await wait_for(api, bid, {"cancelled", "done", "failed"}))["status"] == \
            "cancelled"
        bad = await api.post("/api/v1/backtest/run", json={
            **RUN, "strategy": {"type": "ema_crossover", "params": {"fast": 30, "slow": 10}}})
        assert bad.status_code == 400 and "strategy.params.fast" in bad.json()["error"]
        assert p.procs["strategy"].poll() is None
