"""The replica's shared candle streams (services/strategy/candle_hub.py) against the real
marketdata server (fan-out only; the test appends to its candle log as the ingester would):
a bot catching up on its own replay stream switches to the shared stream with no bar lost or
repeated, bots of the same symbols and interval share one stream, and a shared stream that
marketdata ends is reopened from its last candle without a hole."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest

from services.marketdata.candles import Bar
from services.strategy.candle_hub import CandleHub, bot_candles
from tests.integration.execution.kit import MARKET_OPEN
from tests.integration.marketdata.fanout_kit import lookup_history, served, until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SBIN, INFY = 779521, 408065


def _start(k: int) -> int:
    return int((MARKET_OPEN + timedelta(minutes=k)).timestamp())


async def _append(md, k: int, tokens=(SBIN,)) -> None:
    for t in tokens:
        assert await md.bus.append_candle(
            Bar(t, "minute", _start(k), 100 * 100 + k, 100 * 100 + k, 100 * 100 + k,
                100 * 100 + k, 100, 0, "ticks"))


class Reader:
    """A bot's loop: reads its candles slowly (as a bot saving each bar), keeps them."""

    def __init__(self, hub: CandleHub, tokens: list[int], since_k: int | None,
                 delay_s: float = 0.0) -> None:
        since = None if since_k is None else _start(since_k) * 10**9
        self.gen = bot_candles(hub, tokens, "minute", since, "test")
        self.got: list[tuple[int, int]] = []
        self.delay_s = delay_s
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async with contextlib.aclosing(self.gen):
            async for c in self.gen:
                self.got.append((c.token, (c.ts // 10**9 - _start(0)) // 60))
                await asyncio.sleep(self.delay_s)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@contextlib.asynccontextmanager
async def _served():
    async with lookup_history({"SBIN": SBIN, "INFY": INFY}) as addr, \
            served(history_addr=addr) as md:
        hub = CandleHub(md.stub, retry_s=0.1)
        try:
            yield md, hub
        finally:
            await hub.close()


async def test_catch_up_then_shared_stream_without_gap_or_repeat():
    async with _served() as (md, hub):
        for k in range(8):  # the day so far: replayed from the log
            await _append(md, k)
        # slow enough that live bars pile up in the shared feed while it replays
        r = Reader(hub, [SBIN], since_k=-1, delay_s=0.03)
        await until(lambda: len(md.app.hub.candle_subs) == 2, "own + shared stream")
        for k in range(8, 20):
            await _append(md, k)
            await asyncio.sleep(0.01)
        await until(lambda: len(r.got) >= 20, "20 bars", 15)
        await asyncio.sleep(0.2)
        assert r.got == [(SBIN, k) for k in range(20)]
        # the bot's own stream is closed: one stream left, the shared one
        assert len(md.app.hub.candle_subs) == 1 and hub.streams() == 1
        for k in range(20, 23):
            await _append(md, k)
        await until(lambda: len(r.got) == 23, "live bars on the shared stream")
        assert r.got[20:] == [(SBIN, 20), (SBIN, 21), (SBIN, 22)]
        await r.stop()
        await until(lambda: hub.streams() == 0 and not md.app.hub.candle_subs,
                    "the shared stream closed with its last bot")


async def test_bots_of_the_same_symbols_share_one_stream():
    async with _served() as (md, hub):
        await _append(md, 0, (SBIN, INFY))
        bots = [Reader(hub, [SBIN, INFY], since_k=-1) for _ in range(5)]
        other = Reader(hub, [INFY], since_k=-1)
        await until(lambda: len(md.app.hub.candle_subs) == 8, "6 own + 2 shared streams")
        for k in range(1, 4):
            await _append(md, k, (SBIN, INFY))
            await asyncio.sleep(0.05)
        await until(lambda: all(len(b.got) == 8 for b in bots) and len(other.got) == 4,
                    "every bar to every bot")
        # a bot switches at the first candle of its own stream the shared one already holds;
        # the streams deliver a bar in either order, so a bot may need another bar to switch
        n = 4
        while True:
            with contextlib.suppress(AssertionError):
                await until(lambda: len(md.app.hub.candle_subs) == 2, "own streams closed", 1.0)
                break
            assert n < 8, "a bot never switched to the shared stream"
            await _append(md, n, (SBIN, INFY))
            n += 1
        want = [(t, k) for k in range(n) for t in (SBIN, INFY)]
        await until(lambda: all(len(b.got) == 2 * n for b in bots) and len(other.got) == n,
                    "every bar to every bot")
        assert hub.streams() == 2
        for b in bots:
            assert b.got == want
        assert other.got == [(INFY, k) for k in range(n)]
        for b in (*bots, other):
            await b.stop()


async def test_shared_stream_reopened_from_its_last_candle():
    async with _served() as (md, hub):
        r = Reader(hub, [SBIN, INFY], since_k=None)
        await until(lambda: len(md.app.hub.candle_subs) == 2, "own + shared stream")
        # the bot switches at the first candle its own stream delivers that the shared one
        # already holds; the two streams deliver a new bar in either order, so the switch may
        # come a bar or two later (nothing is lost or doubled meanwhile)
        k = 0
        while True:
            await _append(md, k, (SBIN, INFY))
            await until(lambda n=2 * (k + 1): len(r.got) == n, f"bar {k}")
            with contextlib.suppress(AssertionError):
                await until(lambda: len(md.app.hub.candle_subs) == 1, "switched", 1.0)
                break
            k += 1
            assert k < 5, "the bot never switched to the shared stream"
        # marketdata ends the shared stream (as on overflow or shutdown); bars appended
        # before the hub reopens it must still arrive, once
        sub = next(iter(md.app.hub.candle_subs))
        md.app.hub.close_candles(sub)
        sub.close()
        await _append(md, k + 1, (SBIN, INFY))
        await _append(md, k + 2, (SBIN,))
        await until(lambda: hub.reopened >= 1 and len(md.app.hub.candle_subs) == 1, "reopened")
        await _append(md, k + 2, (INFY,))
        await _append(md, k + 3, (SBIN, INFY))
        await until(lambda: len(r.got) >= 2 * (k + 4), "the bars after the reopening")
        await asyncio.sleep(0.2)
        assert r.got == [(t, j) for j in range(k + 4) for t in (SBIN, INFY)]
        await r.stop()
