"""The execution engine against a real kitesim (the unmodified kiteconnect client), with a test
clock the test moves together with the simulator's (`/sim/clock`), so days can be replayed.

The broker factory reads the simulator from `KiteRig.sim`, so a test can restart kitesim and
point the same account at the new instance (`rig.swap(server)`)."""

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
from mandi.testing.kitesim import KitesimServer
from mandi.testing.redis import redis_namespace
from services.execution.accounts import Account, AccountStore, CredentialBox, Credentials
from services.execution.brokers.kite import KiteBroker
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
