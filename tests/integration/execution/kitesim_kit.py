"""The execution engine against a real kitesim (the unmodified kiteconnect client), with a test
clock the test moves together with the simulator's (`/sim/clock`), so days can be replayed.

The broker factory reads the simulator from `KiteRig.sim`, so a test can restart kitesim and
point the same account at the new instance (`rig.swap(server)`).

Also: `kite_replicas` (several engines on one database and one Redis, each with its own Kite
client, their limiters shared through Redis only) and `order_request`, the gRPC PlaceOrder of
a marketable LIMIT buy for the execution service run as a process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mandi.core.clock import TestClock
from mandi.kite.client import KiteClient, session_from_request_token
from mandi.platform.db import create_pool
from mandi.platform.protoconv import symbol_ref
from mandi.platform.simclock import SimClock
from mandi.testing.kitesim import KitesimServer
from mandi.testing.redis import redis_namespace
from mandi.v1 import execution_pb2 as pb
from mandi.v1 import strategy_pb2
from services.execution.accounts import (
    Account,
    AccountStore,
    CredentialBox,
    Credentials,
    RiskLimits,
)
from services.execution.brokers.kite import KiteBroker
from services.execution.brokers.kite_limits import KiteRateLimiter
from services.execution.engine import BrokerRegistry, Engine
from services.execution.events import EventBus
from services.execution.sync import sync_account
from services.execution.worker import Worker
from tests.integration.execution.kit import new_account_id


@dataclass
class KiteRig:
    engine: Engine
    clock: TestClock
    sim: KitesimServer
    account_id: str = ""

    async def login(self) -> str:
        """A fresh access token through kitesim's login flow (what renew_session does)."""
        token = await asyncio.to_thread(self.sim.request_token)
        session = await session_from_request_token(self.sim.api_key, self.sim.api_secret,
                                                   token, root=self.sim.url)
        return session.access_token

    def move(self, when: datetime) -> None:
        """Move the simulator and the engine's clock to `when` together."""
        self.sim.admin("clock", {"now": when.isoformat()})
        self.clock.set(when)

    def swap(self, server: KitesimServer) -> None:
        """Point the account at another kitesim (a restart): a new broker on the next call."""
        self.sim = server
        self.engine.brokers.drop(self.account_id)
        self.engine.forget_instruments(Account(self.account_id, "kite"))
        self.engine.seen_orders.clear()

    async def sync(self) -> None:
        account = await self.engine.accounts.get(self.account_id)
        await sync_account(self.engine, account)

    async def until(self, check: Any, worker: Worker | None = None,
                    timeout_s: float = 30.0) -> Any:
        """Run sync passes (or worker passes) until `check()` is truthy; bounded wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if worker is not None:
                await worker.run_once()
            else:
                await self.sync()
            got = await check()
            if got:
                return got
            if loop.time() > deadline:
                raise AssertionError("condition not reached in time")
            await asyncio.sleep(0.3)


@asynccontextmanager
async def kite_rig(ledger_dsn: str, sim: KitesimServer, start: datetime) -> AsyncIterator[KiteRig]:
    pool = await create_pool(ledger_dsn, schema="execution")
    clock = TestClock(start)
    async with redis_namespace() as ns:
        rig: KiteRig | None = None

        def factory(account: Any) -> KiteBroker:
            assert rig is not None
            server = rig.sim
            client = KiteClient(server.api_key, access_token=server.access_token, root=server.url)
            return KiteBroker(client, login=rig.login)

        engine = Engine(pool, ns.client, clock, AccountStore(pool, CredentialBox("t")),
                        BrokerRegistry(factory), EventBus(ns.client, ns.prefix + "ev"),
                        redis_prefix=ns.prefix.rstrip(":"))
        engine.ltp_ttl_s = 0.0
        engine.mtm_interval_s = 0.0
        rig = KiteRig(engine, clock, sim)
        rig.account_id = new_account_id()
        await engine.accounts.create(rig.account_id, "kite", credentials=Credentials(
            api_key=sim.api_key, access_token=sim.access_token or "", root=sim.url))
        try:
            yield rig
        finally:
            await engine.brokers.close()
            await pool.close()


def limit_above(sim: KitesimServer, symbol: str = "SBIN") -> int:
    """A LIMIT price (paise, a tick multiple) ₹2 above the NSE last price: it fills at once."""
    key = f"NSE:{symbol}"
    ltp = round(sim.kite().quote([key])[key]["last_price"] * 100)
    return (ltp + 200) // 5 * 5


def order_request(sim: KitesimServer, coid: str, qty: int, *, account_id: str = "SIM001",
                  product: int = strategy_pb2.PRODUCT_CNC,
                  allow_duplicate: bool = False) -> pb.PlaceOrderRequest:
    """A marketable LIMIT buy of SBIN for the simulator's Kite account, as PlaceOrder takes it.
    Build it once and send that when resending: the price follows kitesim's moving LTP."""
    return pb.PlaceOrderRequest(account_id=account_id, order=pb.OrderRequest(
        client_order_id=coid, symbol=symbol_ref("NSE", "SBIN").symbol, side=pb.SIDE_BUY,
        quantity=qty, order_type=pb.ORDER_TYPE_LIMIT, price_paise=limit_above(sim),
        product=product, allow_duplicate=allow_duplicate))


@dataclass
class KiteReplicas:
    engines: list[Engine]
    sim: KitesimServer
    account_id: str
    clock: SimClock

    def broker(self, i: int) -> KiteBroker:
        return self.engines[i].brokers._brokers[self.account_id]  # type: ignore[attr-defined]


@asynccontextmanager
async def kite_replicas(ledger_dsn: str, sim: KitesimServer, n: int, *,
                        limits: RiskLimits | None = None) -> AsyncIterator[KiteReplicas]:
    """`n` execution engines (replicas) on one database and one Redis, each with its own pool,
    Kite client and limiter objects (the limits are shared through Redis only), on the
    simulator's clock; one Kite account, whose broker each replica has built."""
    clock = SimClock(sim.url, resync_s=0.5)
    await clock.start()
    async with redis_namespace() as ns:
        def factory(account: Any) -> KiteBroker:
            c = account.credentials
            client = KiteClient(c.api_key, access_token=c.access_token, root=c.root)
            return KiteBroker(client, limiter=KiteRateLimiter(ns.client, c.api_key,
                                                              prefix=ns.prefix + "kite"))

        engines, pools = [], []
        try:
            for _ in range(n):
                pool = await create_pool(ledger_dsn, schema="execution")
                pools.append(pool)
                engines.append(Engine(pool, ns.client, clock,
                                      AccountStore(pool, CredentialBox("t")),
                                      BrokerRegistry(factory),
                                      EventBus(ns.client, ns.prefix + "ev"),
                                      redis_prefix=ns.prefix.rstrip(":")))
            aid = new_account_id()
            await engines[0].accounts.create(aid, "kite", credentials=Credentials(
                api_key=sim.api_key, access_token=sim.access_token or "", root=sim.url),
                limits=limits)
            for eng in engines:
                await eng.account(aid)  # builds each replica's broker
            yield KiteReplicas(engines, sim, aid, clock)
        finally:
            for eng in engines:
                await eng.brokers.close()
            for pool in pools:
                await pool.close()
            await clock.close()
