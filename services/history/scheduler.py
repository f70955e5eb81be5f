"""The daily update: after market close, queue an incremental fetch of every tracked series.

Why incremental over a look-back window instead of "today only": a missed day (service down,
Kite outage) is then repaired by the next run for free, and incremental makes the overlap cost
nothing but the requests. Why derivatives matter here: Kite serves no history for expired
contracts, so a live contract's bars are archived by this daily run while it still trades;
contracts that have left the dump are skipped (their stored bars stay). Items that failed on
transient Kite errors (their retry window ran out) are queued again by the same run.

Bars marketdata built from live ticks are provisional until Kite's candle replaces them, so the
update also covers every series holding provisional bars (tracked or not), and reaches back to
its first provisional bar when that is older than the look-back: after the update none is left
where Kite has the bar.

A day's run is due at `at` (16:00 IST) on every day with a session — special sessions included
— and never before that session's close (a Muhurat session ends at 19:00).

Time comes from the injected clock (the simulator's clock when running against kitesim). One
row per IST date in `daily_runs` makes the run happen once a day across all replicas.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import asyncpg

from mandi.core.calendar import session
from mandi.core.clock import IST, Clock, to_ist
from mandi.core.errors import MandiError
from services.history.fetcher import FetchOptions
from services.history.instruments import InstrumentMaster, InstrumentRecord
from services.history.jobs import BatchItemSpec, JobQueue, JobView

log = logging.getLogger(__name__)

LOOKBACK_DAYS = 7
SYSTEM_ACCOUNT = "system"
# ohlcv_provisional_idx (005) serves both `WHERE provisional` scans.
_SERIES = """
SELECT s.instrument_token, s.interval, p.first_provisional
FROM (SELECT instrument_token, interval COLLATE "C" AS interval FROM tracked
      UNION SELECT instrument_token, interval FROM ohlcv WHERE provisional) s
LEFT JOIN (SELECT instrument_token, interval, min(ts) AS first_provisional
           FROM ohlcv WHERE provisional GROUP BY instrument_token, interval) p
    USING (instrument_token, interval)
WHERE EXISTS (SELECT 1 FROM instruments i
              WHERE i.instrument_token = s.instrument_token AND i.active)
ORDER BY s.instrument_token, s.interval
"""


class DailyScheduler:
    """Runs `run_once` at `at` (IST) on trading days. `tick()` is the testable step."""

    def __init__(self, pool: asyncpg.Pool, queue: JobQueue, master: InstrumentMaster,
                 clock: Clock, *, at: time = time(16, 0), lookback_days: int = LOOKBACK_DAYS,
                 poll_s: float = 30.0) -> None:
        self._pool = pool
        self._queue = queue
        self._master = master
        self._clock = clock
        self._at = at
        self._lookback = timedelta(days=lookback_days)
        self._poll_s = poll_s
        self._task: asyncio.Task[None] | None = None

    def due(self, day: date) -> datetime | None:
        """When `day`'s update is due: `at` IST, or the session's close if later; None on a
        day without a session."""
        sess = session(day)
        if sess is None:
            return None
        return max(datetime.combine(day, self._at, IST), sess.close)

    async def tick(self) -> JobView | None:
        """Queue today's update if today has a session, it is due, and not yet queued."""
        ist = to_ist(self._clock.now())
        due = self.due(ist.date())
        if due is None or ist < due:
            return None
        return await self.run_once(ist.date())

    async def run_once(self, day: date) -> JobView | None:
        """Refresh the instrument master, then queue one incremental batch of every tracked
        (instrument, interval) whose contract is still listed. Returns None when `day` already
        ran or nothing is tracked."""
        async with self._pool.acquire() as conn:
            claimed = await conn.fetchval("INSERT INTO daily_runs (run_date) VALUES ($1)"
                                          " ON CONFLICT DO NOTHING RETURNING run_date", day)
        if claimed is None:
            return None
        try:
            await self._master.ensure_fresh()
        except MandiError as exc:  # a stale master still lets us update tracked series
            log.warning("daily update: instrument refresh failed: %s", exc)
        try:
            await self._queue.requeue_failed()
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("daily update: requeue of failed items failed: %s", exc)
        try:
            items = await self.tracked_items()
            if not items:
                log.info("daily update %s: nothing tracked", day)
                return None
            now = self._clock.now()
            items = [replace(i, start=min(i.start, now - self._lookback)) if i.start else i
                     for i in items]
            job = await self._queue.create_batch(
                items, now - self._lookback, now, FetchOptions(incremental=True, oi=True),
                SYSTEM_ACCOUNT, kind="daily_update")
        except BaseException:
            # Give the day back so the next tick (or another replica) retries it.
            async with self._pool.acquire() as conn:
                await conn.execute("DELETE FROM daily_runs WHERE run_date = $1", day)
            raise
        async with self._pool.acquire() as conn:
            await conn.execute("UPDATE daily_runs SET job_id = $2 WHERE run_date = $1", day,
                               uuid.UUID(job.id))
        log.info("daily update %s: queued job %s with %d items", day, job.id, len(items))
        return job

    async def tracked_items(self) -> list[BatchItemSpec]:
        """Tracked series and series holding provisional bars, whose instrument is still
        active (expired contracts are archived already and Kite would return nothing). A
        series with provisional bars has `start` = its first one; others leave it None."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_SERIES)
        out: list[BatchItemSpec] = []
        for r in rows:
            inst: InstrumentRecord = await self._master.get(r["instrument_token"])
            out.append(BatchItemSpec(interval=r["interval"], instrument=inst,
                                     start=r["first_provisional"]))
        return out

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except (MandiError, OSError, asyncpg.PostgresError) as exc:
                log.warning("daily update failed: %s", exc)
            await asyncio.sleep(self._poll_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="daily-update")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
