"""A minimal real gRPC MarketdataService for bot tests: `Subscribe` answers the instruments it was
given, `StreamCandles` sends the closed candles the test pushes (to every open stream). The
marketdata service's wire contract without kitesim and the tick pipeline, so a test decides
exactly which bars a bot sees, and when."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

import grpc

from mandi.platform.protoconv import to_timestamp
from mandi.v1 import common_pb2, marketdata_pb2, marketdata_pb2_grpc

TOKENS = {"SBIN": 779521, "INFY": 408065}


@dataclass
class FakeMarketdata(marketdata_pb2_grpc.MarketdataServiceServicer):
    streams: list[asyncio.Queue] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def Subscribe(self, request, context):
        out = [common_pb2.Instrument(instrument_token=TOKENS[r.symbol.tradingsymbol],
                                     tradingsymbol=r.symbol.tradingsymbol,
                                     exchange=r.symbol.exchange)
               for r in request.instruments]
        return marketdata_pb2.SubscribeResponse(subscribed=out)

    async def StreamCandles(self, request, context):
        q: asyncio.Queue = asyncio.Queue()
        self.streams.append(q)
        self.opened.set()
        try:
            while True:
                msg = await q.get()
                if msg.instrument_token in request.instrument_tokens:
                    yield msg
        finally:
            self.streams.remove(q)

    def push(self, symbol: str, ts: datetime, close: float) -> None:
        msg = marketdata_pb2.StreamCandlesResponse(
            instrument_token=TOKENS[symbol], closed=True,
            candle=common_pb2.Candle(ts=to_timestamp(ts), open=close, high=close, low=close,
                                     close=close, volume=100))
        for q in self.streams:
            q.put_nowait(msg)


async def start_marketdata(fake: FakeMarketdata) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    marketdata_pb2_grpc.add_MarketdataServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port
