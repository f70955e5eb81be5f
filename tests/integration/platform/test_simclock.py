"""SimClock follows a (fake) simulator's /sim/clock and extrapolates between samples."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from mandi.core.clock import WallClock
from mandi.core.errors import TemporaryError
from mandi.platform.config import ClockKind, Settings
from mandi.platform.simclock import SimClock, make_clock

pytestmark = pytest.mark.integration

START = datetime.fromisoformat("2024-01-02T09:15:00+05:30")
_S = timedelta(seconds=1)


class FakeSim:
    def __init__(self) -> None:
        self.payload: dict[str, object] = {"now": START.isoformat(), "speed": 60.0}
        self.requests = 0
        self.root = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response(self.payload)


@pytest.fixture
async def sim() -> AsyncIterator[FakeSim]:
    fake = FakeSim()
    app = web.Application()
    app.router.add_get("/sim/clock", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.root = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


async def test_simclock_extrapolates_at_simulator_speed(sim: FakeSim) -> None:
    # No wall-time assumption: every bound is the monotonic time actually measured around the
    # calls, × 60 (the fake's speed), ± 1 ms for float rounding. A loaded machine widens the
    # brackets; it cannot break them. resync_s=600 keeps the anchor fixed for the whole test.
    slack = timedelta(milliseconds=1)
    clock = SimClock(sim.root, resync_s=600)
    before_start = time.monotonic()
    await clock.start()
    try:
        first = clock.now()
        after_first = time.monotonic()
        assert first.tzinfo is not None and first.utcoffset() == timedelta(0)
        # Anchored at START somewhere inside start(), then extrapolated at 60× up to now().
        assert START - slack <= first <= START + (after_first - before_start) * 60 * _S + slack
        await asyncio.sleep(0.2)
        before_second = time.monotonic()
        second = clock.now()
        after_second = time.monotonic()
        advanced = second - first
        # At least the 0.2 s slept × 60 = 12 s, and exactly 60× the wall time between the calls.
        assert advanced >= timedelta(seconds=12) - slack
        assert (before_second - after_first) * 60 * _S - slack <= advanced
        assert advanced <= (after_second - before_start) * 60 * _S + slack
    finally:
        await clock.close()


async def test_simclock_resync_picks_up_pause_and_jump(sim: FakeSim) -> None:
    clock = SimClock(sim.root, resync_s=0.05)
    await clock.start()
    try:
        jumped = START + timedelta(days=1)
        seen = sim.requests
        sim.payload = {"now": jumped.isoformat(), "speed": 0}
        # Wait (generous deadline, not a fixed sleep) for two more periodic resyncs: the clock
        # resyncs one request at a time, so when the second arrives the first (already
        # answered with the new payload) has been applied.
        deadline = time.monotonic() + 30
        for _ in itertools.count():
            if sim.requests >= seen + 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert sim.requests >= seen + 2  # periodic resync happened
        assert clock.speed == 0
        assert clock.now() == jumped.astimezone(UTC)
        await asyncio.sleep(0.05)
        assert clock.now() == jumped.astimezone(UTC)  # paused simulator, paused clock
    finally:
        await clock.close()


async def test_simclock_small_step_back_on_resync_is_hidden(sim: FakeSim) -> None:
    clock = SimClock(sim.root, resync_s=60)
    await clock.start()
    try:
        ahead = clock.now()
        sim.payload = {"now": (START - timedelta(seconds=1)).isoformat(), "speed": 0}
        await clock.sync()
        assert clock.now() >= ahead  # never runs backwards by measurement noise
        sim.payload = {"now": (START - timedelta(hours=1)).isoformat(), "speed": 0}
        await clock.sync()
        assert clock.now() == (START - timedelta(hours=1)).astimezone(UTC)  # a reset is real
    finally:
        await clock.close()


async def test_simclock_rejects_naive_time_and_unreachable_simulator(sim: FakeSim) -> None:
    sim.payload = {"now": "2024-01-02T09:15:00", "speed": 1}
    clock = SimClock(sim.root)
    with pytest.raises(TemporaryError):
        await clock.start()
    await clock.close()
    dead = SimClock("http://127.0.0.1:9", timeout_s=1)
    with pytest.raises(TemporaryError):
        await dead.sync()
    await dead.close()


def test_make_clock_picks_wall_or_sim() -> None:
    assert isinstance(make_clock(Settings()), WallClock)
    sim_clock = make_clock(replace(Settings(), clock=ClockKind.SIM, kite_root="http://k:1/"))
    assert isinstance(sim_clock, SimClock)
    assert sim_clock.url == "http://k:1/sim/clock"
