"""One live StreamCandles per (instrument set, interval) per strategy replica, shared by its bots.

Each bot used to hold its own `StreamCandles`: with 50 bots on one replica, marketdata
serialised and sent every candle 50 times and this process decoded it 50 times, on the path of
the one bot that had an order to send. The hub opens one stream per (sorted instrument tokens,
interval) that at least one bot is attached to, decodes each closed candle once and hands it to
every attached bot's `Feed` (an in-process queue, unbounded: a bot is never skipped).

A hub stream that ends or breaks (marketdata restarting, RESOURCE_EXHAUSTED on overflow) is
reopened after `retry_s` with `since` one second before the oldest of the newest candles it
dispatched per instrument, so nothing after a dispatched candle is lost; the candles it gets
again are dropped here (per instrument, by bar start), so a feed sees each bar once and in
order. Before its first candle a hub stream is reopened without `since` (no feed can rely on
it yet: see `Feed`).

A bot catches up on its own stream (replay from its `since=`, BotTask in bot_runner.py) with
its feed attached before that stream is opened, and switches to the feed at the first closed
candle its own stream delivered that the feed also holds: the hub's stream is a gapless suffix
of the candle log from that candle on, so dropping the feed's candles up to it loses and
repeats nothing (the engine would ignore a repeat anyway). Until then the bot stays on its own
stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import NamedTuple

import grpc

from mandi.platform.grpc_client import STREAM_TIMEOUT_S
from mandi.platform.protoconv import to_timestamp
from mandi.v1 import marketdata_pb2, marketdata_pb2_grpc

log = logging.getLogger("mandi.strategy.candles")



class Candle(NamedTuple):
    token: int
    ts: int  # bar start, ns
    open: float
    high: float
    low: float
    close: float
    volume: int


def candle_of(msg: marketdata_pb2.StreamCandlesResponse) -> Candle | None:
    """A closed candle of the stream; None for gaps and forming candles."""
    if not msg.HasField("candle") or not msg.closed:
        return None
    c = msg.candle
    return Candle(msg.instrument_token, c.ts.seconds * 10**9 + c.ts.nanos, c.open, c.high,
                  c.low, c.close, int(c.volume))


class Feed:
    """One bot's view of a hub stream: the candles dispatched since it attached."""

    def __init__(self, stream: _Stream) -> None:
        self._stream = stream
        self.items: deque[Candle] = deque()
        self.switched = False  # the bot reads this feed (its own stream is closed)
        self._wake = asyncio.Event()

    def put(self, c: Candle) -> None:
        self.items.append(c)
        self._wake.set()

    def take_through(self, token: int, ts: int) -> bool:
        """If the feed holds the candle (token, ts): drop it and everything before it and
        return True (the bot's own stream has delivered them); otherwise False."""
        for i, c in enumerate(self.items):
            if c.token == token and c.ts == ts:
                for _ in range(i + 1):
                    self.items.popleft()
                return True
        return False

    async def get(self) -> Candle:
        while not self.items:
            self._wake.clear()
            await self._wake.wait()
        return self.items.popleft()

    def detach(self) -> None:
        self._stream.detach(self)


class _Stream:
    def __init__(self, hub: CandleHub, tokens: tuple[int, ...], interval: str) -> None:
        self.hub = hub
        self.tokens = tokens
        self.interval = interval
        self.feeds: list[Feed] = []
        self.last: dict[int, int] = {}  # token → newest bar start dispatched (ns)
        self.task = asyncio.create_task(self._run(), name=f"candles-{interval}")

    def detach(self, feed: Feed) -> None:
        with contextlib.suppress(ValueError):
            self.feeds.remove(feed)
        if not self.feeds:
            self.hub._streams.pop((self.tokens, self.interval), None)
            self.task.cancel()

    def _request(self) -> marketdata_pb2.StreamCandlesRequest:
        req = marketdata_pb2.StreamCandlesRequest(instrument_tokens=list(self.tokens),
                                                  interval=self.interval)
        if self.last:  # bar starts are whole seconds; "after s - 1" takes bars at s again
            since_s = min(self.last.values()) // 10**9 - 1
            req.since.CopyFrom(to_timestamp(datetime.fromtimestamp(since_s, UTC)))
        return req

    async def _run(self) -> None:
        while True:
            call = self.hub.marketdata.StreamCandles(self._request(), timeout=STREAM_TIMEOUT_S)
            try:
                async for msg in call:
                    c = candle_of(msg)
                    if c is None or c.ts <= self.last.get(c.token, -1):
                        continue
                    self.last[c.token] = c.ts
                    for f in self.feeds:
                        f.put(c)
                log.info("candle stream %s %s ended; reopening", self.interval,
                         list(self.tokens))
            except grpc.aio.AioRpcError as exc:
                log.warning("candle stream %s %s: %s %s; reopening", self.interval,
                            list(self.tokens), exc.code().name, exc.details())
            except Exception:  # the bots on it must not be left without candles
                log.exception("candle stream %s %s failed; reopening", self.interval,
                              list(self.tokens))
            finally:
                call.cancel()
            self.hub.reopened += 1
            await asyncio.sleep(self.hub.retry_s)


class CandleHub:
    """The replica's shared candle streams, by (instrument tokens, interval)."""

    def __init__(self, marketdata: marketdata_pb2_grpc.MarketdataServiceStub | None = None,
                 *, retry_s: float = 1.0) -> None:
        self.marketdata = marketdata
        self.retry_s = retry_s
        self.reopened = 0
        self._streams: dict[tuple[tuple[int, ...], str], _Stream] = {}

    def attach(self, tokens: list[int], interval: str) -> Feed:
        key = (tuple(sorted(set(tokens))), interval)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream(self, key[0], interval)
        feed = Feed(stream)
        stream.feeds.append(feed)
        return feed

    def streams(self) -> int:
        return len(self._streams)

    async def close(self) -> None:
        streams = list(self._streams.values())
        self._streams.clear()
        for s in streams:
            s.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await s.task


async def bot_candles(hub: CandleHub, tokens: list[int], interval: str, since_ns: int | None,
                      who: str = "") -> AsyncIterator[Candle]:
    """A bot's closed candles after `since_ns` (None: live only): its own StreamCandles (replay,
    then live) until it delivers a candle the hub's shared stream (attached first) also holds,
    then the shared stream's candles after that one. Its own stream ending before the switch
    ends this too (the bot resumes from its saved state); its errors are raised."""
    feed = hub.attach(tokens, interval)
    try:
        req = marketdata_pb2.StreamCandlesRequest(instrument_tokens=tokens, interval=interval)
        if since_ns is not None:
            req.since.CopyFrom(to_timestamp(datetime.fromtimestamp(since_ns // 10**9, UTC)))
        # a stream lives as long as the bot: no default deadline (the channel's interceptor
        # gives every call one unless told otherwise)
        call = hub.marketdata.StreamCandles(req, timeout=STREAM_TIMEOUT_S)
        try:
            async for msg in call:
                c = candle_of(msg)
                if c is None:
                    continue
                yield c
                if feed.take_through(c.token, c.ts):
                    break
            else:
                return
        finally:
            call.cancel()
        feed.switched = True
        log.info("%s: on the replica's shared %s candle stream", who or "a bot", interval)
        while True:
            yield await feed.get()
    finally:
        feed.detach()
