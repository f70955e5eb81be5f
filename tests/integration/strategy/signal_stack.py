"""The real parts external-signal bots need, over sockets: execution (paper broker, real
PostgreSQL ledger), marketdata (fan-out, LTPs from its Redis cache), the strategy service, and
the gateway app (ASGI). The caller of a REST call is the `x-test-user` header."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import Request

from mandi.platform.config import load_settings
from mandi.platform.migrations import run_migrations
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import execution_pb2, execution_pb2_grpc
from services.gateway.app import create_app
from services.gateway.auth.enforce import guard
from services.gateway.auth.principal import Principal
from services.gateway.clients import open_backends
from services.strategy.server import MIGRATIONS
from tests.integration.execution.kit import MIGRATIONS as EXEC_MIGRATIONS
from tests.integration.execution.kit import Env, make_env, served_execution
from tests.integration.marketdata.fanout_kit import Served, lookup_history, served
from tests.integration.strategy.conftest import StrategyProcess, fast_options

TOKENS = {"SBIN": 779521, "INFY": 408065}


@dataclasses.dataclass
class SignalStack:
    env: Env
    md: Served
    strategy: StrategyProcess
    api: httpx.AsyncClient
    exec_stub: execution_pb2_grpc.ExecutionServiceStub  # signed as svc:tests
    exec_addr: str = ""

    async def set_ltp(self, symbol: str, rupees: str) -> None:
        """What marketdata's ingester caches for GetLtp (`price,exchange_ts,received_ns`)."""
        paise = round(float(rupees) * 100)
        await self.md.bus.redis.hset(self.md.bus.ltp_key, mapping={
            str(TOKENS[symbol]): f"{paise},{int(time.time())},{time.time_ns()}"})

    async def exec_orders(self, account_id: str) -> list[execution_pb2.Order]:
        resp = await self.exec_stub.ListOrders(
            execution_pb2.ListOrdersRequest(account_id=account_id), timeout=10)
        return list(resp.orders)


def _principal_of(env: Env) -> Any:
    async def principal(request: Request) -> Principal:
        """The gateway's guard stood in for (its own checks are tested in
        tests/integration/auth): each request is the trader its `x-test-user` header names,
        holding every account (tests add one per bot)."""
        held = frozenset(a.account_id for a in await env.engine.accounts.list())
        return Principal(request.headers.get("x-test-user", "nobody"), "trader", held, "test")
    return principal


@contextlib.asynccontextmanager
async def signal_stack() -> AsyncIterator[SignalStack]:
    async with fresh_database() as edsn, fresh_database() as sdsn, redis_namespace() as ns:
        await run_migrations(edsn, "execution", EXEC_MIGRATIONS)
        env = await make_env(edsn, ns)
        async with served_execution(env) as ex_port, lookup_history(TOKENS) as hist_addr, \
                served(history_addr=hist_addr) as md:
            await run_migrations(sdsn, "strategy", MIGRATIONS)
            proc = StrategyProcess(sdsn, 1, fast_options())
            proc.settings = load_settings({
                "MANDI_PG_DSN": sdsn, "MANDI_HISTORY_ADDR": hist_addr,
                "MANDI_MARKETDATA_ADDR": md.addr,
                "MANDI_EXECUTION_ADDR": f"127.0.0.1:{ex_port}",
                "MANDI_REDIS_PREFIX": f"t-signals-{uuid.uuid4().hex}",
                "MANDI_SHUTDOWN_GRACE_S": "1"})
            await proc.start()
            gw = load_settings({"MANDI_STRATEGY_ADDR": f"127.0.0.1:{proc.port}"})
            app = create_app(gw)
            app.state.backends = open_backends(gw)
            app.dependency_overrides[guard] = _principal_of(env)
            channel = signed_aio_channel(f"127.0.0.1:{ex_port}")
            try:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                             base_url="http://gw", timeout=30) as api:
                    yield SignalStack(env, md, proc, api,
                                      execution_pb2_grpc.ExecutionServiceStub(channel),
                                      f"127.0.0.1:{ex_port}")
            finally:
                await channel.close()
                await app.state.backends.close()
                await proc.stop()
        await env.engine.brokers.close()
        await env.pool.close()
