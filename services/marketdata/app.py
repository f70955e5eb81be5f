"""The marketdata service's parts, wired once per process: Redis bus, fan-out hub, the history
client that resolves symbols, and — on whichever replica wins the ingest lease — the ingester.

Every replica runs the bus and hub and serves gRPC; the ingester is plugged in through
`ingester_factory` (see `IngestRole`), so this module does not depend on how ingest is built.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any, Protocol

from mandi.platform.config import Settings
from mandi.platform.grpc_client import channel
from mandi.platform.redis import create_redis
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc
from services.marketdata.bus import MarketBus
from services.marketdata.fanout import Hub


class IngestRole(Protocol):
    """What the app needs of the ingester (lease → pool → builder → bus)."""

    async def start(self) -> None: ...  # returns promptly; runs the lease loop in a task

    async def stop(self) -> None: ...  # releases the lease, closes sockets

    def status(self) -> dict[str, Any]:
        """{"active": bool, "active_replica_id": str, "connections": [TickerPool.status()
        rows: index, state, instruments, reconnects, error]}"""
        ...


IngesterFactory = Callable[["MarketdataApp"], IngestRole]


def default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class MarketdataApp:
    bus: MarketBus
    hub: Hub

    def __init__(self, settings: Settings, *,
                 ingester_factory: IngesterFactory | None = None) -> None:
        self.settings = settings
        self.replica_id = settings.marketdata_replica_id or default_replica_id()
        self.ingester_factory = ingester_factory
        self.ingester: IngestRole | None = None
        self._history_channel = None

    async def start(self) -> None:
        s = self.settings
        self.redis = create_redis(s.redis_url, decode_responses=False)
        self.bus = MarketBus(self.redis, s.redis_prefix, origin=self.replica_id)
        self.hub = Hub(self.bus)
        await self.hub.start()
        self._history_channel = channel(s.addr_of("history"), s, caller="marketdata")
        self.history = history_pb2_grpc.HistoryServiceStub(self._history_channel)
        if self.ingester_factory is not None:
            self.ingester = self.ingester_factory(self)
            await self.ingester.start()

    async def stop(self) -> None:
        if self.ingester is not None:
            await self.ingester.stop()
        await self.hub.stop()
        if self._history_channel is not None:
            await self._history_channel.close()
        await self.redis.aclose()

    async def lookup(self, symbol: common_pb2.SymbolRef) -> common_pb2.Instrument:
        """An exchange + symbol resolved by history's instrument master (NotFound and bad input
        come back as the same gRPC status, which the caller re-raises)."""
        resp = await self.history.LookupInstrument(
            history_pb2.LookupInstrumentRequest(symbol=symbol))
        return resp.instrument

    def feed_status(self) -> dict[str, Any]:
        if self.ingester is None:
            return {"active": False, "active_replica_id": "", "connections": []}
        return self.ingester.status()
