"""Marketdata's consumers under test: the history service (which resolves symbols for
marketdata) and the marketdata gRPC server on real sockets, over a fresh PostgreSQL database and
a Redis namespace of the test, with kitesim in-process behind history.

No ingester runs: the test plays it, publishing TickBatches through a second MarketBus on the
same keys (as another replica's ingester would) — so a test decides exactly which prices only
the ticks carry. The marketdata server can be stopped and started again on the same port, to
show consumers falling back and recovering.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from mandi.platform.config import Settings, load_settings
from mandi.platform.grpc_server import ServerReady, serve
from mandi.platform.redis import create_redis
from mandi.testing.kitesim import KitesimServer, free_port, start_kitesim
from mandi.testing.pg import fresh_database
from mandi.testing.redis import RedisNamespace, redis_namespace
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc
from services.history.server import build_spec as history_spec
from services.marketdata.app import MarketdataApp
from services.marketdata.bus import MarketBus
from services.marketdata.server import make_spec
from services.marketdata.ticks import MODE_FULL, TickBatch


@dataclasses.dataclass
class Running:
    task: asyncio.Task
    stop: asyncio.Event
    port: int

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def start_service(spec: Any, settings: Settings, what: str, port: int = 0) -> Running:
    ready, stop = ServerReady(), asyncio.Event()
    task = asyncio.create_task(serve(spec, settings, port=port, metrics_port=-1, ready=ready,
                                     stop=stop))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({waiter, task}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiter.cancel()
        raise RuntimeError(f"{what} did not start: {task}")
    return Running(task, stop, ready.port)


@dataclasses.dataclass
class MarketStack:
    sim: KitesimServer
    dsn: str
    ns: RedisNamespace
    env: dict[str, str]  # MANDI_* of this stack: Postgres, Redis prefix, kitesim, history
    history: history_pb2_grpc.HistoryServiceStub
    bus: MarketBus  # the ingester's side
    md_port: int
    md: Running | None = None
    md_app: MarketdataApp | None = None

    @property
    def prefix(self) -> str:
        return self.ns.prefix.rstrip(":")

    @property
    def md_addr(self) -> str:
        return f"127.0.0.1:{self.md_port}"

    def settings(self, **extra: str) -> Settings:
        return load_settings({**self.env, **extra})

    async def start_marketdata(self) -> None:
        s = dataclasses.replace(self.settings(), shutdown_grace_s=0.5)
        self.md_app = MarketdataApp(s)
        self.md = await start_service(make_spec(self.md_app), s, "marketdata", self.md_port)

    async def stop_marketdata(self) -> None:
        if self.md is not None:
            await self.md.close()
            self.md = None

    async def token_of(self, exchange: str, symbol: str) -> int:
        ref = common_pb2.SymbolRef(exchange=common_pb2.Exchange.Value(f"EXCHANGE_{exchange}"),
                                   tradingsymbol=symbol)
        resp = await self.history.LookupInstrument(
            history_pb2.LookupInstrumentRequest(symbol=ref))
        return resp.instrument.instrument_token

    async def publish_until(self, batch: Callable[[], TickBatch],
                            arrived: Callable[[], Awaitable[bool]], what: str,
                            timeout_s: float = 15.0) -> None:
        """Publish ticks (pub/sub: lost while no stream is listening yet) until `arrived`, or
        fail at the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            await self.bus.publish(batch())
            if await arrived():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)


def full_tick(token: int, last_paise: int, *, bid_paise: int, ask_paise: int,
              exchange_ts: int | None = None, volume: int = 1000) -> TickBatch:
    """One FULL-mode tick with a one-level book (NSE prices: packet units are paise)."""
    b = TickBatch.empty(1)
    b.token[0], b.mode[0], b.price[0] = token, MODE_FULL, last_paise
    b.ltq[0], b.avg[0], b.volume[0] = 1, last_paise, volume
    b.buy_qty[0] = b.sell_qty[0] = 500
    b.open[0] = b.high[0] = b.low[0] = b.close[0] = last_paise
    b.oi[0] = 0
    b.exchange_ts[0] = b.last_trade_ts[0] = exchange_ts or int(time.time())
    b.depth_price[0, 0], b.depth_qty[0, 0], b.depth_orders[0, 0] = bid_paise, 100, 3
    b.depth_price[0, 5], b.depth_qty[0, 5], b.depth_orders[0, 5] = ask_paise, 200, 4
    b.received_ns[0] = time.time_ns()
    return b


@contextmanager
def own_kitesim(seed: int, tag: str) -> Iterator[KitesimServer]:
    """An in-process, logged-in kitesim with an API key of its own (so the Redis rate-limit
    buckets keyed per API key are this module's alone), rate limits off."""
    server = start_kitesim(seed=seed, rate_limits=False, api_key=f"{tag}_{uuid.uuid4().hex[:10]}")
    server.login()
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def market_stack(sim: KitesimServer, *, marketdata: bool = True,
                       **env: str) -> AsyncIterator[MarketStack]:
    async with fresh_database() as dsn, redis_namespace() as ns:
        base = {"MANDI_PG_DSN": dsn, "MANDI_KITE_ROOT": sim.url,
                "MANDI_KITE_API_KEY": sim.api_key, "MANDI_KITE_API_SECRET": sim.api_secret,
                "MANDI_KITE_WS_ROOT": sim.ws_url, "MANDI_CLOCK": "sim",
                "MANDI_REDIS_URL": ns.url, "MANDI_REDIS_PREFIX": ns.prefix.rstrip(":"),
                "MANDI_KITE_HISTORICAL_RATE": "50", "MANDI_SHUTDOWN_GRACE_S": "1", **env}
        hs = load_settings(base)
        history = await start_service(history_spec(hs), hs, "history")
        base["MANDI_HISTORY_ADDR"] = f"127.0.0.1:{history.port}"
        channel = signed_aio_channel(base["MANDI_HISTORY_ADDR"])
        redis = create_redis(ns.url, decode_responses=False)
        stack = MarketStack(sim, dsn, ns, base, history_pb2_grpc.HistoryServiceStub(channel),
                            MarketBus(redis, ns.prefix.rstrip(":")), free_port())
        try:
            if marketdata:
                await stack.start_marketdata()
            yield stack
        finally:
            await stack.stop_marketdata()
            await channel.close()
            await redis.aclose()
            await history.close()
