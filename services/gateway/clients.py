"""gRPC stubs the gateway uses, one channel per backend service, opened once per process.

Every channel signs the caller's principal (`Principal.metadata()`) per call with the services'
shared key (mandi/platform/service_auth.py), so backends can trust the user and role."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from mandi.platform.config import Settings
from mandi.platform.grpc_client import channel
from mandi.platform.service_auth import service_key, signing_interceptors
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
    signer = signing_interceptors(service_key(settings))
    chans = {name: channel(settings.addr_of(name), settings, extra_interceptors=signer)
             for name in ("history", "marketdata", "strategy", "execution")}
    return Backends(
        history=history_pb2_grpc.HistoryServiceStub(chans["history"]),
        marketdata=marketdata_pb2_grpc.MarketdataServiceStub(chans["marketdata"]),
        strategy=strategy_pb2_grpc.StrategyServiceStub(chans["strategy"]),
        execution=execution_pb2_grpc.ExecutionServiceStub(chans["execution"]),
        channels=list(chans.values()),
    )
