"""The ingester under strain, on real Redis with the failures injected around the real
MarketBus. Bars the candle builder released while the candle log failed are not lost: they
wait, in order, and go in with the next release — once each, even when the failed append had
in fact reached Redis and only its reply was lost (RELIABILITY.md: a minute bar of 50
instruments lost under load). A tick backlog past its high mark (the process starved of CPU)
is shed, and what it covered is backfilled."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import numpy as np
import pytest
import redis.exceptions

from mandi.core.clock import IST, TestClock
from mandi.platform.config import load_settings
from mandi.testing.redis import redis_namespace
from services.marketdata import metrics
from services.marketdata.bus import MarketBus
from services.marketdata.candles import Bar, Gap
from services.marketdata.ingest import Ingester
from services.marketdata.ticks import MODE_FULL, TickBatch

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

T0 = int(datetime(2026, 3, 4, 10, 22, tzinfo=IST).timestamp())
TOKENS = (408065, 779521)


def _bar(token: int, k: int) -> Bar:
    return Bar(token, "minute", T0 + 60 * k, 100_00 + k, 101_00 + k, 99_00 + k, 100_50 + k,
               1_000 + k, 0, "ticks")


async def _keys(bus: MarketBus) -> list[tuple]:
    return [(e.token, e.start, "gap" if e.gap is not None else "bar")
            async for e in bus.read_log()]


async def test_bars_released_while_the_log_fails_go_in_later_in_order_and_once() -> None:
    async with redis_namespace() as ns:
        bus = MarketBus(ns.client, ns.prefix.rstrip(":"))
        ing = Ingester(load_settings({}), bus, TestClock(datetime.fromtimestamp(T0, IST)),
                       history=None, token_source=None)  # type: ignore[arg-type]
        real = bus.append_candles
        faults = ["down", "reply lost"]

        async def flaky(bars):
            fault = faults.pop(0) if faults else ""
            if fault == "reply lost":  # Redis took them; the reply never came back
                await real(bars)
            if fault:
                raise redis.exceptions.ConnectionError(fault)
            return await real(bars)

        bus.append_candles = flaky  # type: ignore[method-assign]
        first = [_bar(t, 0) for t in TOKENS]  # the 10:22 bars: Redis down
        await ing._emit(first)
        assert await _keys(bus) == [] and ing._unlogged == first
        second = [_bar(t, 1) for t in TOKENS]  # the 10:23 bars: appended, the reply lost
        await ing._emit(second)
        assert len(await _keys(bus)) == 4 and ing._unlogged == first + second
        gap = Gap(TOKENS[0], T0 + 120, T0 + 240, "feed_down")
        third = [_bar(TOKENS[1], 2), gap, _bar(TOKENS[1], 3)]
        await ing._emit(third)  # Redis back: everything waiting goes in first, in order
        assert ing._unlogged == []
        assert await _keys(bus) == [
            (t, T0, "bar") for t in TOKENS] + [(t, T0 + 60, "bar") for t in TOKENS] + [
            (TOKENS[1], T0 + 120, "bar"), (TOKENS[0], T0 + 120, "gap"),
            (TOKENS[1], T0 + 180, "bar")]
        # the history write-back queue holds each tick bar once
        assert sorted((b.token, b.start) for q in ing._writes.values() for b in q) == sorted(
            (b.token, b.start) for b in first + second + [third[0], third[2]])


def _ticks(token: int, first: int, n: int, vol0: int) -> TickBatch:
    b = TickBatch.empty(n)
    b.token[:] = token
    b.mode[:] = MODE_FULL
    b.exchange_ts[:] = first + np.arange(n)
    b.price[:] = 100_00 + np.arange(n) % 7
    b.volume[:] = vol0 + 10 * np.arange(1, n + 1)
    return b


async def test_a_backlog_past_its_high_mark_sheds_a_sockets_ticks_and_backfills_its_minutes(
        ) -> None:
    """An ingester starved of CPU: ticks read off a socket pile up unprocessed. Past the high
    mark the socket's further ticks are shed and it is down to the candle builder from its last
    processed tick; once the backlog drains under the low mark it is up again and the minutes
    it missed are a gap for history to fill. Memory stays bounded; no bar is built short."""
    tok = TOKENS[0]
    open_ = int(datetime(2026, 3, 4, 9, 14, tzinfo=IST).timestamp())
    ten = int(datetime(2026, 3, 4, 10, 0, tzinfo=IST).timestamp())
    async with redis_namespace() as ns:
        bus = MarketBus(ns.client, ns.prefix.rstrip(":"))
        clock = TestClock(datetime.fromtimestamp(open_, IST))
        ing = Ingester(load_settings({}), bus, clock, history=None,
                       token_source=None)  # type: ignore[arg-type]
        gaps: list[Gap] = []
        ing.backfill.submit = gaps.append  # type: ignore[method-assign]
        ing.backlog_high, ing.backlog_low = 100, 20
        assert ing.builder.track(tok, ["minute"], open_) == []
        ing._conn_of[tok] = 0
        ing._on_state(0, "connected", "")
        clock.set(datetime.fromtimestamp(ten + 130, IST))
        shed = metrics.SHED_TICKS._value.get()
        for k in range(5):  # no await in between: the tick loop gets no turn
            ing._on_ticks(_ticks(tok, ten + 30 * k, 30, 1_000 * k), 0)
        assert ing.backlog == 90 and metrics.SHED_TICKS._value.get() - shed == 60
        loop = asyncio.create_task(ing._tick_loop())
        try:
            for _ in range(200):
                await asyncio.sleep(0.01)
                if gaps:
                    break
            assert ing.backlog == 0
            # down from the 10:01 bar the last processed tick fell in, up again at 10:02:10:
            # history fills 10:01 and 10:02; the 10:00 bar was built from ticks
            assert gaps == [Gap(tok, ten + 60, ten + 180, "feed_down")]
            assert [(e.start, e.bar.source) for e in [x async for x in bus.read_log()]] == [
                (ten, "ticks")]
            # taken up again: its ticks are processed as before
            ing._on_ticks(_ticks(tok, ten + 180, 30, 9_000), 0)
            await asyncio.sleep(0.05)
            assert ing.backlog == 0 and not ing._shedding
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
