"""The execution service a bench talks to: the real `Engine` over PaperBroker (pools as in
services/execution/wiring.py, a relaxed pool for the ledger), served over gRPC on a socket.
Shared by bench_execution.py (in its own process) and bench_bots.py (in a child process); not a
bench itself (`make bench` runs bench/bench_*.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from mandi.core.clock import TestClock
from mandi.platform.config import load_settings
from mandi.platform.db import create_pool
from mandi.platform.grpc_server import ServerReady, ServiceSpec, serve
from mandi.v1 import execution_pb2_grpc
from services.execution.accounts import AccountStore, CredentialBox, RiskLimits
from services.execution.brokers.paper import PaperBroker
from services.execution.engine import BrokerRegistry, Engine
from services.execution.events import EventBus
from services.execution.marketdata import ManualMarketData
from services.execution.server import SERVICE_NAME, ExecutionServicer
from services.execution.wiring import relaxed_dsn


@asynccontextmanager
async def paper_execution(dsn: str, redis, prefix: str, clock: TestClock,
                          data: ManualMarketData, accounts: Iterable[str],
                          limits: RiskLimits) -> AsyncIterator[tuple[Engine, int]]:
    """An Engine with one paper account per name in `accounts`, serving ExecutionService on
    127.0.0.1; yields (engine, port) and shuts both down after."""
    pool = await create_pool(dsn, schema="execution", min_size=4, max_size=20, stateless=True)
    relaxed = await create_pool(relaxed_dsn(dsn), schema="execution", min_size=4, max_size=20,
                                stateless=True)
    try:
        engine = Engine(pool, redis, clock, AccountStore(pool, CredentialBox("bench")),
                        BrokerRegistry(lambda a: PaperBroker(relaxed, a.account_id, data, clock)),
                        EventBus(redis, prefix + "ev"), redis_prefix=prefix.rstrip(":"),
                        relaxed_pool=relaxed)
        for a in accounts:
            await engine.accounts.create(a, "paper", limits=limits)
        servicer = ExecutionServicer({"engine": engine})
        spec = ServiceSpec("execution", lambda s: execution_pb2_grpc.
                           add_ExecutionServiceServicer_to_server(servicer, s), [SERVICE_NAME])
        ready, stop = ServerReady(), asyncio.Event()
        settings = dataclasses.replace(load_settings({}), shutdown_grace_s=0.5)
        task = asyncio.create_task(serve(spec, settings, port=0, metrics_port=-1, ready=ready,
                                         stop=stop))
        await ready.wait()
        try:
            yield engine, ready.port
        finally:
            stop.set()
            await task
            await engine.brokers.close()
    finally:
        await pool.close()
        await relaxed.close()
