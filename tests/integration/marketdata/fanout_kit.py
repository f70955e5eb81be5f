"""A marketdata server on a real socket over a real Redis namespace, as the fan-out tests and the
fan-out benchmark use it: `Served.bus` is a second MarketBus on the same keys, playing the
ingester (another replica, as far as the server can tell)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import grpc

from mandi.platform.config import load_settings
from mandi.platform.grpc_server import MAX_MESSAGE_BYTES, ServerReady, serve
from mandi.platform.redis import create_redis
from mandi.testing.redis import redis_namespace
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc, marketdata_pb2_grpc
from services.marketdata.app import MarketdataApp
from services.marketdata.bus import MarketBus
from services.marketdata.server import make_spec


@dataclasses.dataclass
class Served:
    app: MarketdataApp
    stub: marketdata_pb2_grpc.MarketdataServiceStub
    bus: MarketBus  # the "ingester" side
    addr: str


@asynccontextmanager
async def served(**settings_overrides) -> AsyncIterator[Served]:
    async with redis_namespace() as ns:
        prefix = ns.prefix.rstrip(":")
        settings = dataclasses.replace(load_settings({}), redis_url=ns.url, redis_prefix=prefix,
                                       shutdown_grace_s=0.5, **settings_overrides)
        app = MarketdataApp(settings)
        ready, stop = ServerReady(), asyncio.Event()
        task = asyncio.create_task(serve(make_spec(app), settings, port=0, metrics_port=-1,
                                         ready=ready, stop=stop))
        await asyncio.wait_for(ready.wait(), 20)
        addr = f"127.0.0.1:{ready.port}"
        chan = signed_aio_channel(addr, options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
        redis = create_redis(ns.url, decode_responses=False)
        try:
            yield Served(app, marketdata_pb2_grpc.MarketdataServiceStub(chan),
                         MarketBus(redis, prefix), addr)
        finally:
            await chan.close()
            stop.set()
            await task
            await redis.aclose()


async def until(cond: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Poll `cond` until true or fail after the deadline (for state with no event to await,
    such as a stream call having reached the server's hub)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class LookupHistory(history_pb2_grpc.HistoryServiceServicer):
    """History's LookupInstrument only — what marketdata asks when a client subscribes by
    symbol — for tests and benches that feed the candle log themselves."""

    def __init__(self, tokens: dict[str, int]) -> None:
        self.tokens = tokens

    async def LookupInstrument(self, request, context):
        sym = request.symbol
        return history_pb2.LookupInstrumentResponse(instrument=common_pb2.Instrument(
            instrument_token=self.tokens[sym.tradingsymbol], tradingsymbol=sym.tradingsymbol,
            exchange=sym.exchange))


@asynccontextmanager
async def lookup_history(tokens: dict[str, int]) -> AsyncIterator[str]:
    """A LookupHistory on a real socket; yields its address."""
    server = grpc.aio.server()
    history_pb2_grpc.add_HistoryServiceServicer_to_server(LookupHistory(tokens), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)
