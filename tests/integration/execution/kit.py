"""Test kit for the execution service: a real PostgreSQL ledger, real Redis, a PaperBroker on
quotes set by the test, and a test clock inside NSE market hours."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mandi.core.clock import IST, TestClock
from mandi.platform.config import load_settings
from mandi.platform.db import create_pool
from mandi.platform.grpc_server import ServerReady, ServiceSpec, serve
from mandi.v1 import execution_pb2_grpc
from services.execution.accounts import AccountStore, CredentialBox, RiskLimits
from services.execution.brokers.paper import PaperBroker
from services.execution.engine import BrokerRegistry, Engine
from services.execution.events import EventBus
from services.execution.marketdata import ManualMarketData
from services.execution.orders import OrderSpec

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "execution" / "migrations"
MARKET_OPEN = datetime(2026, 3, 10, 10, 0, tzinfo=IST)  # a Tuesday, inside the session

INSTRUMENTS = [
    {"instrument_token": 779521, "exchange": "NSE", "tradingsymbol": "SBIN", "name": "SBI",
     "instrument_type": "EQ", "segment": "NSE", "tick_size": 0.05, "lot_size": 1},
    {"instrument_token": 408065, "exchange": "NSE", "tradingsymbol": "INFY", "name": "INFOSYS",
     "instrument_type": "EQ", "segment": "NSE", "tick_size": 0.05, "lot_size": 1},
    {"instrument_token": 256265, "exchange": "NSE", "tradingsymbol": "NIFTY 50",
     "name": "NIFTY 50", "instrument_type": "EQ", "segment": "INDICES", "tick_size": 0.0,
     "lot_size": 0},
    {"instrument_token": 13238786, "exchange": "NFO", "tradingsymbol": "NIFTY26MARFUT",
     "name": "NIFTY", "instrument_type": "FUT", "segment": "NFO-FUT", "tick_size": 0.05,
     "lot_size": 65},
    {"instrument_token": 13238530, "exchange": "NFO", "tradingsymbol": "NIFTY26MAR24000CE",
     "name": "NIFTY", "instrument_type": "CE", "segment": "NFO-OPT", "tick_size": 0.05,
     "lot_size": 65},
    {"instrument_token": 13240066, "exchange": "NFO", "tradingsymbol": "SBIN26MAR820CE",
     "name": "SBIN", "instrument_type": "CE", "segment": "NFO-OPT", "tick_size": 0.05,
     "lot_size": 750},
]


def new_account_id() -> str:
    return "T" + uuid.uuid4().hex[:12].upper()


@dataclass
class Env:
    engine: Engine
    data: ManualMarketData
    clock: TestClock
    pool: Any
    account_id: str

    async def add_account(self, limits: RiskLimits | None = None) -> str:
        aid = new_account_id()
        await self.engine.accounts.create(aid, "paper", name="paper test", limits=limits)
        return aid

    def price(self, key: str, ltp: float, spread: float = 0.05) -> None:
        p = round(ltp * 100)
        s = round(spread * 100)
        self.data.set_quote(key, p, bid_paise=p - s, ask_paise=p + s)

    async def count(self, table: str, account_id: str | None = None) -> int:
        return await self.pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE account_id = $1", account_id or self.account_id)


def spec(coid: str | None = None, **kw: Any) -> OrderSpec:
    base = dict(client_order_id=coid or uuid.uuid4().hex[:16], exchange="NSE",
                tradingsymbol="SBIN", side="BUY", quantity=10, order_type="LIMIT",
                product="CNC", price_paise=81235)
    base.update(kw)
    return OrderSpec(**base)


async def make_env(pg_dsn: str, redis_ns: Any, *, limits: RiskLimits | None = None) -> Env:
    pool = await create_pool(pg_dsn, schema="execution", min_size=1, max_size=10)
    clock = TestClock(MARKET_OPEN)
    data = ManualMarketData(INSTRUMENTS)
    accounts = AccountStore(pool, CredentialBox("test-secret"))

    def factory(account: Any) -> PaperBroker:
        return PaperBroker(pool, account.account_id, data, clock)

    # notifications go to <prefix>n:notify:events, inside the test's own Redis prefix
    events = EventBus(redis_ns.client, redis_ns.prefix + "events",
                      notify_prefix=redis_ns.prefix + "n")
    accounts.notify = events.notify
    engine = Engine(pool, redis_ns.client, clock, accounts, BrokerRegistry(factory), events,
                    redis_prefix=redis_ns.prefix.rstrip(":"))
    engine.ltp_ttl_s = 0.0  # tests move prices between calls
    engine.mtm_interval_s = 0.0
    env = Env(engine, data, clock, pool, "")
    env.account_id = await env.add_account(limits)
    env.price("NSE:SBIN", 812.35)
    env.price("NSE:INFY", 1500.00)
    env.price("NFO:NIFTY26MARFUT", 24000.00)
    env.price("NFO:NIFTY26MAR24000CE", 150.00)
    return env


@contextlib.asynccontextmanager
async def served_execution(env: Env) -> AsyncIterator[int]:
    """The execution gRPC service over `env`'s engine on an ephemeral port; yields the port."""
    from services.execution.server import SERVICE_NAME, ExecutionServicer

    servicer = ExecutionServicer({"engine": env.engine})
    spec = ServiceSpec("execution", lambda s: execution_pb2_grpc.
                       add_ExecutionServiceServicer_to_server(servicer, s), [SERVICE_NAME])
    ready, stop = ServerReady(), asyncio.Event()
    task = asyncio.create_task(serve(spec, load_settings({}), port=0, metrics_port=-1,
                                     ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield ready.port
    finally:
        stop.set()
        await task
