"""Bot schedules run by the runner (BotRunner.apply_schedules) with an injected clock, over real
PostgreSQL and Redis: a scheduled bot is started on trading days (special sessions included) at
its start time, once a day, and stopped after its stop time, each change audited with actor
`schedule`; bots in error or stopped by the account's emergency stop are left alone; two
replicas applying the same schedule start a bot once. The bots' peers are unreachable ports (a
started bot's task only retries): what is tested is who starts and stops them, and when."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import grpc
import pytest

from mandi.core.clock import IST
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from services.strategy.bot_runner import BotRunner
from services.strategy.bot_store import BotRow, BotStore, new_bot_id
from services.strategy.server import MIGRATIONS
from tests.integration.strategy import test_bot_leases as leases

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

WEDNESDAY = date(2026, 3, 4)
HOLIDAY = date(2026, 3, 3)  # Holi, a Tuesday
MUHURAT = date(2025, 10, 21)  # a holiday with a 13:45–14:45 session
SCHEDULE = {"start": "09:10", "stop": "15:35", "days": "trading"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 8, 0, tzinfo=IST)

    def at(self, day: date, hh: int, mm: int) -> None:
        self.now = datetime(day.year, day.month, day.day, hh, mm, tzinfo=IST)


def _runner(store: BotStore, redis, prefix: str, replica: str, clock: Clock,
            channels: list[grpc.aio.Channel]) -> BotRunner:
    r = leases._runner(store, redis, prefix, replica, channels)  # peers unreachable
    r.now = lambda: clock.now
    return r


@contextlib.asynccontextmanager
async def _stack() -> AsyncIterator[tuple[BotStore, Clock, Any, list[grpc.aio.Channel]]]:
    """A fresh strategy database, a Redis namespace, a clock; channels closed afterwards."""
    async with fresh_database() as dsn, redis_namespace() as ns:
        await run_migrations(dsn, "strategy", MIGRATIONS)
        pool = await create_pool(dsn, schema="strategy")
        channels: list[grpc.aio.Channel] = []
        try:
            yield BotStore(pool), Clock(), ns, channels
        finally:
            for ch in channels:
                await ch.close()
            await pool.close()


async def _bot(store: BotStore, name: str, schedule: dict | None) -> str:
    row = await store.create(BotRow(id=new_bot_id(), owner="u", name=name,
                                    spec=leases._spec(),
                                    account_id="PAPER1", mode="paper", product="MIS",
                                    schedule=schedule), actor="u")
    return row.id


async def test_scheduled_bots_start_and_stop_by_the_clock_once_a_day() -> None:
    async with _stack() as (store, clock, ns, channels):
        prefix = ns.prefix.rstrip(":")
        a = _runner(store, ns.client, prefix, "A", clock, channels)
        b = _runner(store, ns.client, prefix, "B", clock, channels)
        sched = await _bot(store, "scheduled", SCHEDULE)
        manual = await _bot(store, "by hand", None)
        failed = await _bot(store, "in error", SCHEDULE)
        await store.set_status(failed, "error", "runner:A", detail="boom")
        halted = await _bot(store, "halted", SCHEDULE)
        await store.set_status(halted, "running", "u")
        await a.emergency_stop("PAPER1", "test")  # stops `halted` (actor emergency_stop)
        assert (await store.get(halted)).status == "stopped"

        clock.at(date(2026, 3, 2), 9, 9)  # Monday, a minute before the window
        assert await a.apply_schedules() == []
        clock.at(date(2026, 3, 2), 9, 10)
        # two replicas apply the schedule at the same instant: the bot starts once
        done = await asyncio.gather(a.apply_schedules(), b.apply_schedules())
        assert sorted(done[0] + done[1]) == [(sched, "start")]
        row = await store.get(sched)
        assert row.status == "running" and row.schedule == SCHEDULE
        assert row.schedule_day == date(2026, 3, 2)
        assert (await store.audit(sched))[-1] == (
            "schedule", "running", "schedule window 09:10–15:35 IST")
        assert [(await store.get(i)).status for i in (manual, failed, halted)] == \
            ["created", "error", "stopped"]

        # a user stops it during the window: it stays stopped for the rest of the day
        await store.set_status(sched, "stopped", "u")
        clock.at(date(2026, 3, 2), 11, 0)
        assert await a.apply_schedules() == []
        clock.at(HOLIDAY, 10, 0)  # no session: nothing starts
        assert await a.apply_schedules() == []

        clock.at(WEDNESDAY, 9, 30)  # late (the replica was down at 09:10): it catches up
        assert await a.apply_schedules() == [(sched, "start")]
        clock.at(WEDNESDAY, 15, 34)
        assert await a.apply_schedules() == []
        clock.at(WEDNESDAY, 15, 35)
        assert await b.apply_schedules() == [(sched, "stop")]
        assert (await store.get(sched)).status == "stopped"
        assert (await store.audit(sched))[-1] == (
            "schedule", "stopped", "outside the schedule's window")
        clock.at(WEDNESDAY, 16, 0)
        assert await a.apply_schedules() == []

        # a paused bot outside its window is stopped too (e.g. left over the weekend)
        await store.set_status(sched, "running", "u")
        await store.set_status(sched, "paused", "u")
        clock.at(date(2026, 3, 7), 10, 0)  # Saturday
        assert await a.apply_schedules() == [(sched, "stop")]

        # the emergency-stopped bot starts again once a human has started it
        await store.set_status(halted, "running", "u")
        await store.set_status(halted, "stopped", "u")
        clock.at(date(2026, 3, 9), 9, 10)
        assert sorted(await a.apply_schedules()) == sorted([(sched, "start"),
                                                           (halted, "start")])
        assert (await store.get(manual)).status == "created"


async def test_a_special_session_on_a_holiday_is_a_scheduled_day_and_the_loop_applies_it(
) -> None:
    async with _stack() as (store, clock, ns, channels):
        r = _runner(store, ns.client, ns.prefix.rstrip(":"), "A", clock, channels)
        try:
            bot = await _bot(store, "muhurat", SCHEDULE)
            clock.at(MUHURAT, 12, 0)  # before the Muhurat window (13:40–14:50)
            assert await r.apply_schedules() == []
            clock.at(MUHURAT, 13, 40)
            await r.start()  # the runner's own loop applies the schedule, then holds the bot
            loop = asyncio.get_running_loop()
            start = loop.time()
            while r.held() != [bot]:
                assert loop.time() - start < 10, "the scheduled bot was not started and held"
                await asyncio.sleep(0.05)
            assert (await store.get(bot)).status == "running"
            clock.at(MUHURAT, 14, 50)
            r.wake()
            while r.held():
                assert loop.time() - start < 20, "the bot was not stopped after its window"
                await asyncio.sleep(0.05)
            assert [a[:2] for a in await store.audit(bot)][-2:] == [
                ("schedule", "running"), ("schedule", "stopped")]
        finally:
            await r.stop()
