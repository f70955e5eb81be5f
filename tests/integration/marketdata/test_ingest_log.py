"""Bars the candle builder released while the candle log (Redis) failed are not lost: they wait,
in order, and go in with the next release — once each, even when the failed append had in fact
reached Redis and only its reply was lost. Real Redis; the failures are injected around the
real MarketBus. (RELIABILITY.md: a minute bar of 50 instruments lost under load.)"""

from __future__ import annotations

from datetime import datetime

import pytest
import redis.exceptions

from mandi.core.clock import IST, TestClock
from mandi.platform.config import load_settings
from mandi.testing.redis import redis_namespace
from services.marketdata.bus import MarketBus
from services.marketdata.candles import Bar, Gap
from services.marketdata.ingest import Ingester

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
