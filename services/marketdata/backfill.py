"""Gap backfill: the minutes the ticker did not see completely, from Kite's historical API
through the history service.

A gap is filled only once its last minute is complete (Kite serves a candle once it has
closed, and its last candle "may be forming" otherwise), so the worker waits for
`gap.end + settle_s` on the market clock. History's `Fetch` stores Kite's candles as final
(they replace any provisional tick-built rows) and `GetCandles` reads them back as minute Bars.
A gap that still fails after `attempts` tries is given up: the builder reports it in the candle
stream and the metrics count it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from mandi.core.clock import Clock
from mandi.kite.ticker_codec import price_divisor
from mandi.v1 import common_pb2, history_pb2, history_pb2_grpc
from services.marketdata.candles import Bar, Gap

log = logging.getLogger(__name__)


def _ts(epoch: float) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(datetime.fromtimestamp(epoch, UTC))
    return out


def bars_from_history(token: int, batches: list[common_pb2.CandleBatch], start: int,
                      end: int) -> list[Bar]:
    """Minute Bars (packet units) for [start, end) from GetCandles' columnar batches."""
    div = price_divisor(token)
    out: list[Bar] = []
    for b in batches:
        for i, ms in enumerate(b.ts_unix_ms):
            t = ms // 1000
            if start <= t < end:
                out.append(Bar(token=token, interval="minute", start=int(t),
                               open=round(b.open[i] * div), high=round(b.high[i] * div),
                               low=round(b.low[i] * div), close=round(b.close[i] * div),
                               volume=int(b.volume[i]), oi=int(b.oi[i]) if b.oi else 0,
                               source="history"))
    out.sort(key=lambda bar: bar.start)
    return out


class Backfiller:
    """One worker task draining a queue of gaps; `on_filled(gap, bars)` / `on_unfilled(gap,
    reason)` hand the result back to the ingester (which owns the builder)."""

    def __init__(self, history: history_pb2_grpc.HistoryServiceStub, clock: Clock, *,
                 on_filled: Callable[[Gap, list[Bar]], Awaitable[None]],
                 on_unfilled: Callable[[Gap, str], Awaitable[None]],
                 settle_s: float = 2.0, attempts: int = 4, retry_s: float = 2.0,
                 concurrency: int = 4) -> None:
        self.history = history
        self.clock = clock
        self.on_filled = on_filled
        self.on_unfilled = on_unfilled
        self.settle_s = settle_s
        self.attempts = attempts
        self.retry_s = retry_s
        self._queue: asyncio.Queue[Gap] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._concurrency = concurrency
        self.pending = 0

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self._concurrency)]

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def submit(self, gap: Gap) -> None:
        self.pending += 1
        self._queue.put_nowait(gap)

    async def _worker(self) -> None:
        while True:
            gap = await self._queue.get()
            try:
                await self._fill(gap)
            except asyncio.CancelledError:
                raise
            except Exception:  # never lose the worker; the gap is reported as unfilled
                log.exception("backfill of %s failed", gap)
                await self.on_unfilled(gap, "internal error")
            finally:
                self.pending -= 1

    async def _wait_until(self, epoch: float) -> None:
        while True:
            left = epoch - self.clock.now().timestamp()
            if left <= 0:
                return
            await asyncio.sleep(min(1.0, max(0.05, left / 4)))

    async def _fill(self, gap: Gap) -> None:
        await self._wait_until(gap.end + self.settle_s)
        reason = ""
        for attempt in range(self.attempts):
            try:
                bars = await self.fetch(gap)
            except grpc.aio.AioRpcError as exc:
                reason = f"{exc.code().name}: {exc.details()}"
                log.warning("backfill %s attempt %d: %s", gap, attempt + 1, reason)
                await asyncio.sleep(self.retry_s * (attempt + 1))
                continue
            await self.on_filled(gap, bars)
            return
        await self.on_unfilled(gap, reason or "history unavailable")

    async def fetch(self, gap: Gap) -> list[Bar]:
        ref = common_pb2.InstrumentRef(instrument_token=gap.token)
        req = history_pb2.FetchRequest(
            instrument=ref, interval="minute", **{"from": _ts(gap.start)}, to=_ts(gap.end - 1),
            options=history_pb2.FetchOptions(validate=True, overwrite=True, oi=True))
        async for _ in self.history.Fetch(req):
            pass
        batches = [r.batch async for r in self.history.GetCandles(history_pb2.GetCandlesRequest(
            instrument=ref, interval="minute", **{"from": _ts(gap.start)}, to=_ts(gap.end)))]
        return bars_from_history(gap.token, batches, gap.start, gap.end)
