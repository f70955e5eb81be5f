"""A minimal real gRPC HistoryService that serves deterministic minute candles: the history
service's wire contract (GetCandles streaming columnar batches) without its storage, so strategy
tests exercise a real gRPC peer. Shared by the integration and e2e strategy tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc
import numpy as np

from mandi.core.backtest.data import Bars, random_walk_bars, session_minute_timestamps
from mandi.platform.protoconv import EXCHANGE_NAMES
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc

BARS = 20_000  # minute bars per symbol (about 53 sessions)
START_NS = 1_735_689_600 * 10**9  # from 2025-01-01 09:15 IST


def make_bars(name: str, seed: int) -> Bars:
    walk = random_walk_bars(BARS, seed=seed, symbol=name)
    return Bars(session_minute_timestamps(BARS, START_NS), walk.open, walk.high, walk.low,
                walk.close, walk.volume, name)


@dataclass
class FakeHistory(history_pb2_grpc.HistoryServiceServicer):
    """Serves `BARS` minute bars per symbol; symbols named EMPTY* have none. `delay_s` slows
    each batch so tests can catch a job mid-run."""

    delay_s: float = 0.0
    batch: int = 2_000
    calls: list[str] = field(default_factory=list)

    async def GetCandles(self, request, context):
        sym = request.instrument.symbol
        name = f"{EXCHANGE_NAMES.get(sym.exchange)}:{sym.tradingsymbol}"
        self.calls.append(name)
        if sym.tradingsymbol.startswith("EMPTY"):
            return
        seed = sum(map(ord, name))
        bars = make_bars(name, seed)
        lo_ms = getattr(request, "from").ToMilliseconds()
        hi_ms = request.to.ToMilliseconds()
        ts_ms = bars.ts // 1_000_000
        keep = np.nonzero((ts_ms >= lo_ms) & (ts_ms < hi_ms))[0]
        size = request.batch_size or self.batch
        size = min(size, self.batch)
        first = True
        for start in range(0, len(keep), size):
            idx = keep[start:start + size]
            msg = history_pb2.GetCandlesResponse(batch=common_pb2.CandleBatch(
                ts_unix_ms=ts_ms[idx].tolist(), open=bars.open[idx].tolist(),
                high=bars.high[idx].tolist(), low=bars.low[idx].tolist(),
                close=bars.close[idx].tolist(), volume=bars.volume[idx].tolist(),
                oi=[0] * len(idx)))
            if first:
                msg.instrument.tradingsymbol = sym.tradingsymbol
                first = False
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield msg




async def start_history(fake: FakeHistory, host: str = "127.0.0.1") -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    history_pb2_grpc.add_HistoryServiceServicer_to_server(fake, server)
    port = server.add_insecure_port(f"{host}:0")
    await server.start()
    return server, port
