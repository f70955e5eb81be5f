"""The Hub: one reader of the bus per replica, a bounded queue per stream subscriber.

Every replica runs one Hub. Two tasks read Redis (the tick channel; the candle log) and hand
each batch or log entry to every subscriber whose filter wants it, without ever waiting on a
subscriber: handing over is appending to that subscriber's queue. What happens when a queue is
full differs, because ticks and candles are different promises:

- ticks are state ("the price is now X"): a full tick queue is conflated — its pending ticks
  become the latest tick of each instrument, and the ticks skipped are counted and reported in
  the next message's `dropped`. A slow consumer sees fewer, fresher ticks; nobody waits for it.
- candles are history: never dropped. A subscriber whose candle queue overflows is ended with
  CapacityExceeded (RESOURCE_EXHAUSTED) naming the `since` to resume with; the replay from the
  candle log then brings it back without a hole.

Ticks are encoded to protobuf once per batch (`tickproto`), lazily, by the first subscriber
that sends it; others sending the same rows reuse the bytes, and a consumer that fell behind
sends all it has pending as one message (repeated fields concatenate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
from redis.exceptions import RedisError

from mandi.core import errors
from services.marketdata import metrics
from services.marketdata.bus import LogEntry, MarketBus
from services.marketdata.tickproto import EncodedTicks, dropped_field
from services.marketdata.ticks import TickBatch

log = logging.getLogger(__name__)

DEFAULT_TICK_QUEUE = 256  # batches pending per tick subscriber before conflation
DEFAULT_CANDLE_QUEUE = 20_000  # log entries (a minute of 3,000 instruments × a few intervals)
MAX_MESSAGE_BYTES = 4 << 20  # one StreamTicksResponse, when a consumer catches up


class _Shared:
    """A batch as every subscriber sees it; encoded on first use."""

    __slots__ = ("_enc", "batch")

    def __init__(self, batch: TickBatch) -> None:
        self.batch = batch
        self._enc: EncodedTicks | None = None

    @property
    def enc(self) -> EncodedTicks:
        if self._enc is None:
            self._enc = EncodedTicks(self.batch)
        return self._enc


class TickSubscriber:
    def __init__(self, tokens: Iterable[int] | None, queue_size: int) -> None:
        toks = sorted(set(tokens or ()))
        self.tokens = np.asarray(toks, dtype=np.int64) if toks else None
        self.limit = queue_size
        self.items: deque[tuple[_Shared, np.ndarray | None]] = deque()
        self.dropped = 0  # not yet reported
        self.dropped_total = 0
        self.delivered = 0
        self.closed = False
        self._wake = asyncio.Event()

    def offer(self, shared: _Shared) -> None:
        rows = None
        if self.tokens is not None:
            rows = np.flatnonzero(np.isin(shared.batch.token, self.tokens))
            if not len(rows):
                return
            if len(rows) == len(shared.batch):
                rows = None
        if len(self.items) >= self.limit:
            self._conflate(shared, rows)
        else:
            self.items.append((shared, rows))
        self._wake.set()

    def _conflate(self, shared: _Shared, rows: np.ndarray | None) -> None:
        parts = [s.batch if r is None else s.batch.take(r) for s, r in self.items]
        parts.append(shared.batch if rows is None else shared.batch.take(rows))
        merged = TickBatch.concat(parts)
        _, first = np.unique(merged.token[::-1], return_index=True)
        keep = np.sort(len(merged) - 1 - first)
        skipped = len(merged) - len(keep)
        self.items.clear()
        self.items.append((_Shared(merged.take(keep)), None))
        self.dropped += skipped
        self.dropped_total += skipped
        metrics.CONFLATED_TICKS.inc(skipped)

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next_message(self) -> bytes | None:
        """The next StreamTicksResponse (serialized): every pending tick up to MAX_MESSAGE_BYTES,
        plus `dropped` when ticks were conflated away. None once closed."""
        while not self.items:
            if self.closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        parts, size, count = [], 0, 0
        while self.items and size < MAX_MESSAGE_BYTES:
            shared, rows = self.items.popleft()
            body = shared.enc.body(rows)
            parts.append(body)
            size += len(body)
            count += shared.enc.n if rows is None else len(rows)
        self.delivered += count
        if self.dropped:
            parts.append(dropped_field(self.dropped))
            self.dropped = 0
        return b"".join(parts)


class CandleSubscriber:
    def __init__(self, tokens: Iterable[int] | None, interval: str, since: int | None,
                 queue_size: int) -> None:
        self.tokens = frozenset(tokens or ()) or None
        self.interval = interval
        self.since = since
        self.limit = queue_size
        self.queue: deque[LogEntry] = deque()
        self.overflow: LogEntry | None = None  # the entry that did not fit
        self.last_start: int | None = since  # newest start delivered (or the request's since)
        self.closed = False
        self._wake = asyncio.Event()

    def wants(self, e: LogEntry) -> bool:
        if self.tokens is not None and e.token not in self.tokens:
            return False
        if e.bar is not None and e.bar.interval != self.interval:
            return False
        return self.since is None or e.start > self.since

    def offer(self, e: LogEntry) -> None:
        if self.overflow is not None or not self.wants(e):
            return
        if len(self.queue) >= self.limit:
            self.overflow = e
        else:
            self.queue.append(e)
        self._wake.set()

    def delivered(self, e: LogEntry) -> None:
        if self.last_start is None or e.start > self.last_start:
            self.last_start = e.start

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    def resume_since(self) -> int:
        """The `since` that loses nothing: the newest start delivered when every candle still
        pending starts after it, else just before the oldest pending one (then candles of other
        instruments at that instant may come again: a client de-duplicates by token + start)."""
        pending = [e.start for e in self.queue]
        if self.overflow is not None:
            pending.append(self.overflow.start)
        oldest = min(pending)
        if self.last_start is not None and self.last_start < oldest:
            return self.last_start
        return oldest - 1

    async def next_entries(self) -> list[LogEntry] | None:
        """Pending entries, oldest first; None once closed. CapacityExceeded when the queue
        overflowed (nothing more is delivered: the client resumes from the log)."""
        while not self.queue and self.overflow is None:
            if self.closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        if self.overflow is not None:
            since = datetime.fromtimestamp(self.resume_since(), UTC)
            metrics.SLOW_DISCONNECTS.inc()
            raise errors.CapacityExceeded(
                f"candle stream fell {len(self.queue) + 1} candles behind (queue_size "
                f"{self.limit}); resume with since={since.isoformat().replace('+00:00', 'Z')}",
                field="queue_size")
        out = list(self.queue)
        self.queue.clear()
        return out


class Hub:
    def __init__(self, bus: MarketBus, *, retry_s: float = 1.0) -> None:
        self.bus = bus
        self.retry_s = retry_s
        self.tick_subs: set[TickSubscriber] = set()
        self.candle_subs: set[CandleSubscriber] = set()
        self.cursor: bytes = b"0-0"  # the last candle-log entry dispatched
        self.batches = 0
        self._tasks: list[asyncio.Task] = []
        metrics.QUEUE_DEPTH.labels("ticks").set_function(
            lambda: sum(len(s.items) for s in self.tick_subs))
        metrics.QUEUE_DEPTH.labels("candles").set_function(
            lambda: sum(len(s.queue) for s in self.candle_subs))

    async def start(self) -> None:
        """Listening on both sources when this returns: a tick published or a candle logged
        afterwards reaches the subscribers."""
        ready = asyncio.Event()
        self.cursor = await self.bus.last_log_id()
        self._tasks = [asyncio.create_task(self._tick_loop(ready), name="hub-ticks"),
                       asyncio.create_task(self._candle_loop(), name="hub-candles")]
        await ready.wait()

    async def stop(self) -> None:
        for sub in [*self.tick_subs, *self.candle_subs]:
            sub.close()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []

    # --- reading the bus --------------------------------------------------------------------
    async def _tick_loop(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async for batch in self.bus.ticks(ready):  # other replicas' ingesters
                    self.dispatch_ticks(batch)
            except (RedisError, OSError) as exc:
                log.warning("tick channel lost (%s); resubscribing in %.1fs", exc, self.retry_s)
                await asyncio.sleep(self.retry_s)

    async def _candle_loop(self) -> None:
        while True:
            try:
                async for entries in self.bus.follow_log(self.cursor):
                    if entries:
                        self.dispatch_candles(entries)
            except (RedisError, OSError) as exc:
                log.warning("candle log read failed (%s); retrying in %.1fs", exc, self.retry_s)
                await asyncio.sleep(self.retry_s)

    def dispatch_ticks(self, batch: TickBatch) -> None:
        if not len(batch):
            return
        self.batches += 1
        metrics.HUB_TICKS.inc(len(batch))
        shared = _Shared(batch)
        for sub in self.tick_subs:
            sub.offer(shared)

    def dispatch_candles(self, entries: list[LogEntry]) -> None:
        for e in entries:
            self.cursor = e.id
            for sub in self.candle_subs:
                sub.offer(e)

    # --- subscribers ------------------------------------------------------------------------
    def open_ticks(self, tokens: Iterable[int] | None = None,
                   queue_size: int = 0) -> TickSubscriber:
        sub = TickSubscriber(tokens, queue_size or DEFAULT_TICK_QUEUE)
        self.tick_subs.add(sub)
        metrics.STREAM_SUBSCRIBERS.labels("ticks").inc()
        return sub

    def close_ticks(self, sub: TickSubscriber) -> None:
        if sub in self.tick_subs:
            self.tick_subs.discard(sub)
            metrics.STREAM_SUBSCRIBERS.labels("ticks").dec()
        sub.close()

    def open_candles(self, tokens: Iterable[int] | None, interval: str, since: int | None = None,
                     queue_size: int = 0) -> tuple[CandleSubscriber, bytes]:
        """A live candle subscriber, and the log id up to which (inclusive) it must replay
        from the log: every later entry reaches its queue."""
        sub = CandleSubscriber(tokens, interval, since, queue_size or DEFAULT_CANDLE_QUEUE)
        self.candle_subs.add(sub)
        metrics.STREAM_SUBSCRIBERS.labels("candles").inc()
        return sub, self.cursor

    def close_candles(self, sub: CandleSubscriber) -> None:
        if sub in self.candle_subs:
            self.candle_subs.discard(sub)
            metrics.STREAM_SUBSCRIBERS.labels("candles").dec()
        sub.close()

    @property
    def subscribers(self) -> int:
        return len(self.tick_subs) + len(self.candle_subs)
