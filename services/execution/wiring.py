"""Process wiring: database, Redis, clock, accounts, brokers, engine and background worker.

Accounts choose their broker: a `paper` account gets a PaperBroker whose only outside
connection is a *data* client (quotes, instruments); a `kite` account gets a KiteBroker with its
own credentials. Against the simulator (a local Kite root) `make run` seeds one account of each
kind, logging in to kitesim through the real login flow.

Prices come from the marketdata service: one TickStream per process (market_stream) answers the
quotes of every broker — paper fills, trailing stops and mark-to-market read them through
`broker.quotes` — with Kite's REST quote API only as the fallback. Order postbacks of the API
key marketdata runs with arrive through marketdata's Redis channel (postbacks), so execution
does not spend one of Kite's three sockets per API key on a socket of its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mandi.core.clock import to_ist
from mandi.core.errors import MandiError
from mandi.kite.auth import TokenProvider
from mandi.kite.client import KiteClient
from mandi.kite.session_store import session_store
from mandi.platform.config import Settings
from mandi.platform.db import create_pool
from mandi.platform.migrations import ensure_database, run_migrations
from mandi.platform.redis import create_redis
from mandi.platform.secret_box import secret_box
from mandi.platform.simclock import SimClock, make_clock
from services.execution.accounts import Account, AccountStore, CredentialBox
from services.execution.brokers.kite import KiteBroker
from services.execution.brokers.kite_limits import KiteRateLimiter
from services.execution.brokers.paper import PaperBroker
from services.execution.engine import BrokerRegistry, Engine
from services.execution.events import EventBus
from services.execution.market_stream import (
    StreamedMarketData,
    StreamedQuotes,
    TickStream,
    open_tick_stream,
)
from services.execution.marketdata import KiteMarketData
from services.execution.postbacks import postback_channel, redis_postbacks
from services.execution.reconcile import reconcile
from services.execution.worker import Worker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PAPER_ACCOUNT = "PAPER1"


def relaxed_dsn(dsn: str) -> str:
    """The same database with synchronous_commit=off (asyncpg passes unknown DSN query
    parameters as server settings): for writes reconciliation can rebuild, and the paper
    broker's simulated book."""
    return dsn + ("&" if "?" in dsn else "?") + "synchronous_commit=off"


def is_simulator(settings: Settings) -> bool:
    return (urlparse(settings.kite_root).hostname or "") in ("127.0.0.1", "localhost", "::1")


def kite_parts(settings: Settings, account: Account,
               redis: Any = None) -> tuple[KiteClient, Any, bool]:
    """A Kite client for the account's own credentials (settings' for the seeded sim accounts),
    and a login callable: the gateway's stored daily login (with `redis`), else kitesim's."""
    c = account.credentials
    s = dataclasses.replace(settings, kite_api_key=c.api_key or settings.kite_api_key,
                            kite_api_secret=c.api_secret or settings.kite_api_secret,
                            kite_root=c.root or settings.kite_root,
                            kite_access_token=c.access_token)
    client = KiteClient(s.kite_api_key, access_token=c.access_token or None, root=s.kite_root)
    provider = TokenProvider(s, session_store(s, redis) if redis is not None else None)
    return client, provider.get, bool(c.access_token)


def data_key(settings: Settings, account: Account) -> tuple[str, str, str]:
    """Which Kite app (root, API key) and token an account's market data comes through:
    accounts that share it share instrument lists and quotes. The token stands in it as its
    sha256 (hex), never itself: the key lives in long-lived dicts a dump or a debugger shows."""
    c = account.credentials
    return (c.root or settings.kite_root, c.api_key or settings.kite_api_key,
            hashlib.sha256(c.access_token.encode()).hexdigest())


def instruments_key(settings: Settings, account: Account) -> str:
    """The engine's instrument cache key: one instrument list per data_key."""
    return "|".join(data_key(settings, account))


class Runtime:
    def __init__(self, settings: Settings, *, fault_point: str = "",
                 poll_interval_s: float = 1.0, run_worker: bool = True,
                 market_stream: bool = True, postbacks_via_marketdata: bool = True) -> None:
        self.settings = settings
        self.fault_point = fault_point
        self.poll_interval_s = poll_interval_s
        self.run_worker = run_worker
        self.market_stream = market_stream
        self.postbacks_via_marketdata = postbacks_via_marketdata
        self.ticks: TickStream | None = None
        self.engine: Engine | None = None
        self.worker: Worker | None = None
        self._closers: list[Any] = []
        self._data: dict[tuple[str, str, str], KiteMarketData] = {}  # by data_key

    def _fault(self, point: str) -> None:
        if point == self.fault_point:
            log.error("test fault %s: exiting abruptly", point)
            os._exit(137)

    def _make_broker(self, account: Account) -> Any:
        assert self.engine is not None
        client, login, has_token = kite_parts(self.settings, account, self.engine.redis)
        limiter = KiteRateLimiter(self.engine.redis, client.api_key,
                                  prefix=f"{self.settings.redis_prefix}:kite")
        clock = self.engine.clock

        def today() -> Any:
            return to_ist(clock.now()).date()

        if account.broker == "paper":
            data: Any = self._paper_data(account, client, login, has_token, limiter)
            if self.ticks is not None:
                data = StreamedMarketData(self.ticks, data, today=today)
            return PaperBroker(self.engine.relaxed_pool, account.account_id, data, clock)
        c = account.credentials
        postbacks = None
        ws_root = c.ws_root or self.settings.kite_ws_root
        if self.postbacks_via_marketdata and client.api_key == self.settings.kite_api_key:
            # marketdata's ticker sockets are this API key's: its postbacks come through Redis
            redis, channel = self.engine.redis, postback_channel(self.settings.redis_prefix)
            postbacks, ws_root = (lambda: redis_postbacks(redis, channel)), ""
        store = session_store(self.settings, self.engine.redis)
        broker = KiteBroker(client, login=login, has_token=has_token, ws_root=ws_root,
                            api_secret=c.api_secret or self.settings.kite_api_secret,
                            limiter=limiter, postbacks=postbacks,
                            login_version=lambda: store.status(client.api_key),
                            login_rejected=lambda v: store.mark_login_needed(client.api_key, v))
        if self.ticks is not None:
            broker.market = StreamedQuotes(self.ticks, broker.rest_quotes, today=today)
        return broker

    def _paper_data(self, account: Account, client: KiteClient, login: Any, has_token: bool,
                    limiter: KiteRateLimiter) -> KiteMarketData:
        """The data client of paper accounts on the same Kite app: one for all of them (one
        login, one quote cache, one instrument download), not one per account — fifty paper
        accounts placing their first orders at once used to log in and download the
        instrument dump fifty times, and drew Kite's 429s."""
        key = data_key(self.settings, account)
        shared = self._data.get(key)
        if shared is None:
            shared = self._data[key] = KiteMarketData(client, login=login, has_token=has_token,
                                                      limiter=limiter, own_client=False)
            self._closers.append(client.close)
        return shared

    async def start(self) -> Engine:
        s = self.settings
        await ensure_database(s.pg_dsn)
        await run_migrations(s.pg_dsn, "execution", MIGRATIONS)
        pool = await create_pool(s.pg_dsn, schema="execution", min_size=2, max_size=20,
                                 stateless=True)
        relaxed = await create_pool(relaxed_dsn(s.pg_dsn), schema="execution", min_size=1,
                                    max_size=10, stateless=True)
        redis = create_redis(s.redis_url)
        clock = make_clock(s)
        if isinstance(clock, SimClock):
            await clock.start()
            self._closers.append(clock.close)
        self._closers += [pool.close, relaxed.close, redis.aclose]
        if self.market_stream:
            self.ticks = open_tick_stream(s.marketdata_addr, s)
            self._closers.append(self.ticks.close)
        accounts = AccountStore(pool, CredentialBox(secret_box(s)))
        registry = BrokerRegistry(self._make_broker,
                                  instruments_key=lambda a: instruments_key(s, a))
        self._closers.insert(0, registry.close)
        p = s.redis_prefix
        events = EventBus(redis, f"{p}:exec:events", notify_prefix=p)
        accounts.notify = events.notify
        self.engine = Engine(pool, redis, clock, accounts, registry, events, fault=self._fault,
                             redis_prefix=f"{p}:exec", relaxed_pool=relaxed)
        if is_simulator(s):
            await self.seed()
        for account in await accounts.list():
            try:
                diffs = await reconcile(self.engine, account.account_id)
                log.info("start-up reconciliation of %s: %d differences", account.account_id,
                         len(diffs))
            except MandiError as exc:
                log.warning("start-up reconciliation of %s failed: %s", account.account_id, exc)
        if self.run_worker:
            self.worker = Worker(self.engine, poll_interval_s=self.poll_interval_s)
            self.worker.start()
        return self.engine

    async def seed(self) -> None:
        """The simulator's Kite account and a paper account (idempotent)."""
        assert self.engine is not None
        accounts = self.engine.accounts
        await accounts.create(PAPER_ACCOUNT, "paper", name="Paper trading")
        try:
            client, login, _ = kite_parts(self.settings, Account("probe", "kite"))
            client.set_access_token(await login())
            profile = await client.profile()
            await client.close()
            await accounts.create(str(profile["user_id"]), "kite",
                                  name=str(profile.get("user_name") or "Kite (simulator)"))
        except MandiError as exc:
            log.warning("simulator Kite account not seeded: %s", exc)

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        for close in self._closers:
            try:
                await close()
            except Exception:
                log.exception("execution: close failed")
        self._closers.clear()
