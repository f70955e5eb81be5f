"""A stack for the WebSocket channels: the real gateway under uvicorn (its own database and
Redis prefix) in front of the real execution service over gRPC (Engine + PaperBroker on a
fresh ledger, quotes set by the test), with signed-in users: trader_a and viewer_a hold
account A, trader_b holds account B.
Clients are the real `websockets` library."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from fastapi import FastAPI

from mandi.core.strategies import registry
from mandi.core.strategies.ema_crossover import EmaCrossover
from mandi.platform.config import load_settings
from mandi.platform.grpc_server import ServerReady, ServiceSpec, serve
from mandi.platform.migrations import run_migrations
from mandi.testing.gateway_auth import ADMIN_ENV, TEST_ADMIN_PASSWORD
from mandi.testing.kitesim import free_port
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from mandi.v1 import execution_pb2_grpc
from services.execution.sync import sync_account
from services.strategy.server import MIGRATIONS as STRATEGY_MIGRATIONS
from tests.integration.auth.kit import PASSWORD, signed_in_gateway
from tests.integration.execution.kit import MIGRATIONS, Env, make_env
from tests.integration.marketdata.fanout_kit import LookupHistory, Served, served
from tests.integration.strategy.conftest import StrategyProcess, fast_options
from tests.integration.strategy.fake_history import FakeHistory, start_history
from tests.integration.strategy.signal_stack import TOKENS

NOWHERE = "127.0.0.1:1"
SYNC_EVERY_S = 0.05


async def _sync_loop(env: Env, accounts: tuple[str, ...]) -> None:
    """What execution's worker does: poll each paper account, so orders fill and publish."""
    while True:
        for aid in accounts:
            await sync_account(env.engine, (await env.engine.account(aid))[0])
        await asyncio.sleep(SYNC_EVERY_S)


class ExecutionServer:
    """execution's gRPC service over the kit's engine on a fixed port, so a test can stop it
    and start it again where the gateway's channel reconnects."""

    def __init__(self, env: Env) -> None:
        self.env, self.port = env, free_port()
        self.task: asyncio.Task[int] | None = None
        self.stop_event = asyncio.Event()

    async def start(self) -> None:
        from services.execution.server import SERVICE_NAME, ExecutionServicer

        servicer = ExecutionServicer({"engine": self.env.engine})
        spec = ServiceSpec("execution", lambda s: execution_pb2_grpc.
                           add_ExecutionServiceServicer_to_server(servicer, s), [SERVICE_NAME])
        ready, self.stop_event = ServerReady(), asyncio.Event()
        settings = dataclasses.replace(load_settings({}), shutdown_grace_s=0.2)
        self.task = asyncio.create_task(serve(spec, settings, port=self.port, metrics_port=-1,
                                              ready=ready, stop=self.stop_event))
        await asyncio.wait_for(ready.wait(), 10)

    async def stop(self) -> None:
        self.stop_event.set()
        if self.task is not None:
            await self.task


@dataclass
class WsStack:
    env: Env
    app: FastAPI
    url: str
    acc_a: str
    acc_b: str
    http: dict[str, httpx.AsyncClient]  # username (and "admin") -> signed-in REST client
    tokens: dict[str, str]  # username -> an access token
    md: Served | None = None  # marketdata, with `bots` (md.bus plays its ingester)
    execution: ExecutionServer | None = None

    def ws_url(self, path: str, user: str | None = None, **query: Any) -> str:
        if user is not None:
            query["token"] = self.tokens[user]
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return self.url.replace("http://", "ws://") + path + (f"?{qs}" if qs else "")

    async def place(self, user: str, account: str, **order: Any) -> dict[str, Any]:
        body = {"account_id": account, "exchange": "NSE", "symbol": "SBIN", "side": "BUY",
                "quantity": 1, "order_type": "MARKET", "product": "CNC",
                "allow_duplicate": True, **order}
        r = await self.http[user].post("/api/v1/orders", json=body)
        assert r.status_code == 201, r.text
        return r.json()


@dataclass
class _History(FakeHistory):
    """Candles for backtests (FakeHistory) and instrument lookups for marketdata."""

    tokens: dict[str, int] = field(default_factory=lambda: dict(TOKENS))

    async def LookupInstrument(self, request: Any, context: Any) -> Any:
        return await LookupHistory.LookupInstrument(self, request, context)  # type: ignore


async def _bots_backend(stack: AsyncExitStack, exec_port: int
                       ) -> tuple[dict[str, str], Served]:
    """The strategy service (bots, backtests) and what it needs (history's candles and
    lookups, marketdata); the gateway's addresses of them, and marketdata."""
    fake = _History(delay_s=0.2)  # a backtest's candles arrive slowly: progress to watch
    server, hist_port = await start_history(fake)
    stack.push_async_callback(server.stop, None)
    hist_addr = f"127.0.0.1:{hist_port}"
    md = await stack.enter_async_context(served(history_addr=hist_addr))
    sdsn = await stack.enter_async_context(fresh_database())
    await run_migrations(sdsn, "strategy", STRATEGY_MIGRATIONS)
    proc = StrategyProcess(sdsn, 1, fast_options())
    proc.settings = load_settings({
        "MANDI_PG_DSN": sdsn, "MANDI_HISTORY_ADDR": hist_addr, "MANDI_MARKETDATA_ADDR": md.addr,
        "MANDI_EXECUTION_ADDR": f"127.0.0.1:{exec_port}",
        "MANDI_REDIS_PREFIX": f"t-wsbots-{uuid.uuid4().hex}", "MANDI_SHUTDOWN_GRACE_S": "1"})
    await proc.start()
    stack.push_async_callback(proc.stop)
    return {"MANDI_STRATEGY_ADDR": f"127.0.0.1:{proc.port}", "MANDI_HISTORY_ADDR": hist_addr,
            "MANDI_MARKETDATA_ADDR": md.addr}, md


@asynccontextmanager
async def ws_stack(*, bots: bool = False, **env_overrides: str) -> AsyncIterator[WsStack]:
    """The stack; with `bots`, the strategy service too (and the history and marketdata it
    needs)."""
    async with fresh_database() as ledger, fresh_database() as gw_db, \
            redis_namespace() as ns, AsyncExitStack() as backends:
        await run_migrations(ledger, "execution", MIGRATIONS)
        env = await make_env(ledger, ns)
        acc_b = await env.add_account()
        syncing = asyncio.create_task(_sync_loop(env, (env.account_id, acc_b)))
        execution = ExecutionServer(env)
        await execution.start()
        port = execution.port
        try:
            addrs = {f"MANDI_{s}_ADDR": NOWHERE for s in ("HISTORY", "MARKETDATA",
                                                          "STRATEGY")}
            md = None
            if bots:
                more, md = await _bots_backend(backends, port)
                addrs.update(more)
            settings = load_settings({
                "MANDI_PG_DSN": gw_db, "MANDI_REDIS_URL": ns.url,
                # the prefix execution's notifications go to (make_env): the gateway's
                # notifier reads them
                "MANDI_REDIS_PREFIX": ns.prefix + "n", "MANDI_SHUTDOWN_GRACE_S": "1",
                "MANDI_GATEWAY_RATE_IP": "off", "MANDI_GATEWAY_RATE_USER": "off",
                "MANDI_EXECUTION_ADDR": f"127.0.0.1:{port}", **addrs,
                **ADMIN_ENV, **env_overrides})
            users = (("trader_a", "trader", env.account_id), ("viewer_a", "viewer",
                                                              env.account_id),
                     ("trader_b", "trader", acc_b))
            async with signed_in_gateway(settings, users) as gw:
                # one clock for the stack, as MANDI_CLOCK=sim gives every service (the
                # orders snapshot keeps today's orders by the gateway's clock)
                gw.app.state.clock = env.clock
                tokens = {}
                for name, _role, _acc in users:
                    r = await gw.anon.post("/api/v1/auth/login", json={
                        "username": name, "password": PASSWORD})
                    tokens[name] = r.json()["access_token"]
                yield WsStack(env, gw.app, gw.url, env.account_id, acc_b,
                              {**gw.users, "admin": gw.admin}, tokens, md, execution)
            await backends.aclose()
        finally:
            await execution.stop()
            syncing.cancel()
            await asyncio.gather(syncing, return_exceptions=True)
            await env.engine.brokers.close()
            await env.pool.close()


async def next_message(ws: Any, timeout_s: float = 10.0, *, skip_pings: bool = True
                       ) -> dict[str, Any]:
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
        if not (skip_pings and msg["type"] == "ping"):
            return msg


async def until(ws: Any, pred: Any, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Messages (pings left out) up to and including the first for which `pred` holds."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        while True:
            got.append(await next_message(ws, timeout_s))
            if pred(got[-1]):
                return got


async def close_code(url: str, **kw: Any) -> int | None:
    """The close code of a socket the server refuses (it is accepted, then closed)."""
    try:
        async with websockets.connect(url, **kw) as ws:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    return None


class PacedEma(EmaCrossover):
    """EMA crossover that pauses now and then: a backtest of RUN lasts ~2.5 s (an optimisation
    ~0.06 s a combination), long enough to watch it, or leave and come back, while it runs.
    Registered only in the test process (`paced_strategy`)."""

    type_name = "paced_ema_test"

    def on_bar(self, bar: Any, ctx: Any) -> None:
        if bar.index % 250 == 0:
            time.sleep(0.04)  # about 2.5 s over a run's 15,000 bars
        super().on_bar(bar, ctx)

    def signals(self, bars: Any) -> Any:  # the optimiser's fast path: per combination
        time.sleep(0.06)
        return super().signals(bars)


@contextmanager
def paced_strategy() -> Iterator[None]:
    registry.STRATEGIES[PacedEma.type_name] = PacedEma
    try:
        yield
    finally:
        registry.STRATEGIES.pop(PacedEma.type_name, None)


RUN = {"strategy": {"type": PacedEma.type_name, "params": {"fast": 5, "slow": 20}},
       "symbols": ["NSE:INFY"], "interval": "minute", "from": "2025-01-01", "to": "2025-02-28",
       "capital": 1000000, "sizing": {"type": "fixed_qty", "qty": 10},
       "costs": {"product": "MIS"}, "fill": "next_open"}


@asynccontextmanager
async def slow_fetch_job(stack: Any) -> AsyncIterator[tuple[str, str, str]]:
    """On the gateway conftest's stack (history service + kitesim): an admin's token, a fetch
    job of half a year of INFY minutes with kitesim's answers slowed to 300 ms (so its progress
    can be watched), and the gateway's ws:// base — (token, job_id, base)."""
    http = stack.http
    token = (await http.post("/api/v1/auth/login", json={
        "username": "admin", "password": TEST_ADMIN_PASSWORD})).json()["access_token"]
    stack.sim.admin("faults", {"latency_ms": 300})
    try:
        r = await http.post("/api/data/fetch-batch", json={"async": True, "requests": [
            {"symbol": "INFY", "interval": "minute", "from_date": "2024-01-01",
             "to_date": "2024-06-30"}]})
        assert r.status_code in (200, 202), r.text
        yield token, r.json()["job_id"], str(http.base_url).rstrip("/").replace("http://", "ws://")
    finally:
        stack.sim.admin("faults", {"latency_ms": 0})
