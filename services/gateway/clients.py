"""gRPC stubs the gateway uses, one channel per backend service, opened once per process.

Every channel signs the caller's principal (`Principal.metadata()`) per call with the services'
shared key (mandi/platform/service_auth.py), so backends can trust the user and role; a call made
for no user (the WebSocket hub's feeds, caches) is signed as the service `svc:gateway`."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from mandi.platform.config import Settings
from mandi.platform.grpc_client import channel
from mandi.v1 import (
    execution_pb2_grpc,
    history_pb2_grpc,
    marketdata_pb2_grpc,
    strategy_pb2_grpc,
)


@dataclass
class Backends:
    history: history_pb2_grpc.HistoryServiceStub
    marketdata: marketdata_pb2_grpc.MarketdataServiceStub
    strategy: strategy_pb2_grpc.StrategyServiceStub
    execution: execution_pb2_grpc.ExecutionServiceStub
    channels: list[grpc.aio.Channel]

    async def close(self) -> None:
        for ch in self.channels:
            await ch.close()


def open_backends(settings: Settings) -> Backends:
    chans = {name: channel(settings.addr_of(name), settings, caller="gateway")
             for name in ("history", "marketdata", "strategy", "execution")}
    return Backends(
        history=history_pb2_grpc.HistoryServiceStub(chans["history"]),
        marketdata=marketdata_pb2_grpc.MarketdataServiceStub(chans["marketdata"]),
        strategy=strategy_pb2_grpc.StrategyServiceStub(chans["strategy"]),
        execution=execution_pb2_grpc.ExecutionServiceStub(chans["execution"]),
        channels=list(chans.values()),
    )
