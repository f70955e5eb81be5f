"""SimClock follows a (fake) simulator's /sim/clock and extrapolates between samples."""

from __future__ import annotations

import asyncio
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
    clock = SimClock(sim.root, resync_s=60)
    await clock.start()
    try:
        first = clock.now()
        assert first.tzinfo is not None and first.utcoffset() == timedelta(0)
        assert abs(first - START) < timedelta(seconds=1)
        await asyncio.sleep(0.2)
        advanced = clock.now() - first
        assert timedelta(seconds=10) <= advanced <= timedelta(seconds=20)  # 0.2 s × 60
    finally:
        await clock.close()


async def test_simclock_resync_picks_up_pause_and_jump(sim: FakeSim) -> None:
    clock = SimClock(sim.root, resync_s=0.05)
    await clock.start()
    try:
        jumped = START + timedelta(days=1)
        sim.payload = {"now": jumped.isoformat(), "speed": 0}
        await asyncio.sleep(0.3)
        assert sim.requests >= 3  # periodic resync happened
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
