"""The history service's parts, wired once per process: pool, Kite source, instrument master,
fetcher under the shared rate limiter, durable job queue and the daily scheduler."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import asyncpg

from mandi.core.clock import Clock
from mandi.platform.config import Settings
from mandi.platform.db import create_pool
from mandi.platform.migrations import ensure_database, run_migrations
from mandi.platform.notify_events import publish_event
from mandi.platform.redis import create_redis
from mandi.platform.simclock import SimClock, make_clock
from services.history.fetcher import Fetcher, historical_bucket
from services.history.instruments import InstrumentMaster
from services.history.jobs import JobQueue
from services.history.kite_source import KiteSource
from services.history.scheduler import DailyScheduler
from services.history.store import CandleStore

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class HistoryApp:
    pool: asyncpg.Pool
    store: CandleStore
    master: InstrumentMaster
    fetcher: Fetcher
    queue: JobQueue
    scheduler: DailyScheduler
    clock: Clock

    def __init__(self, settings: Settings, *, workers: bool = True) -> None:
        self.settings = settings
        self._workers = workers
        self._refresh_task: asyncio.Task | None = None

    async def start(self) -> None:
        s = self.settings
        await ensure_database(s.pg_dsn)
        applied = await run_migrations(s.pg_dsn, "history", MIGRATIONS)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        self.pool = await create_pool(s.pg_dsn, schema="history", max_size=10)
        self.clock = make_clock(s)
        if isinstance(self.clock, SimClock):
            await self.clock.start()
        self.redis = create_redis(s.redis_url)
        self.kite = KiteSource(s, self.redis)
        self.store = CandleStore(self.pool)
        self.master = InstrumentMaster(self.pool, self.kite, self.clock)
        limiter = historical_bucket(self.redis, s.kite_api_key, s.kite_historical_rate)
        self.fetcher = Fetcher(self.kite, self.store, self.clock, limiter=limiter,
                               rate_per_s=s.kite_historical_rate)
        self.queue = JobQueue(self.pool, self.fetcher, self.master,
                              concurrency=s.history_concurrency, lease_s=s.history_lease_s,
                              retry_window_s=s.history_retry_window_s,
                              notify=self._notify)
        self.scheduler = DailyScheduler(self.pool, self.queue, self.master, self.clock,
                                        at=s.history_daily_update_at)
        self._refresh_task = asyncio.create_task(self._initial_refresh())
        if self._workers:
            await self.queue.start()
            self.scheduler.start()

    def _notify(self, kind: str, data: dict[str, Any]) -> None:
        """A job's end as a user notification (fire and forget; Redis down loses only it)."""
        publish_event(self.redis, self.settings.redis_prefix, kind, data)

    async def _initial_refresh(self) -> None:
        """Load today's instrument dump in the background; Kite may be slow or down at start,
        and lookups retry it on demand."""
        for attempt in range(10):
            try:
                await self.master.ensure_fresh()
                return
            except Exception as exc:
                log.warning("instrument refresh failed (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(min(30, 2 ** attempt))

    async def instruments_ready(self) -> None:
        if self._refresh_task is not None and not self._refresh_task.done():
            await self._refresh_task
        if await self.master.refreshed_at() is None:
            await self.master.ensure_fresh()

    async def stop(self) -> None:
        """Also safe after a start that failed half-way: closes whatever was opened."""
        if self._refresh_task is not None:
            self._refresh_task.cancel()
        if self._workers and hasattr(self, "scheduler"):
            await self.scheduler.stop()
            await self.queue.stop()
        for name in ("kite", "redis", "clock", "pool"):
            part = getattr(self, name, None)
            if part is None:
                continue
            if name == "redis":
                await part.aclose()
            elif name in ("kite", "pool") or isinstance(part, SimClock):
                await part.close()
