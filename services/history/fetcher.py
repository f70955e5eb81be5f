"""Fetch one instrument/interval/range from Kite into the store.

The pipeline per request: planner chunk → shared Redis token bucket (one per API key, shared by
every replica, so N replicas together stay under Kite's 3 req/s) → kiteconnect via the async
wrapper, retried with full-jitter backoff on RateLimited/TemporaryError only → validation →
`CandleStore.write`. Each chunk is written before the next is requested, so a crash loses at
most one chunk of work and the resume cursor (the last chunk end completed) is always safe.

Incremental fetches ask the store what is there and request only the missing ranges — after
the last stored bar *and* holes inside the range — then keep only bars whose timestamps are not
stored, so a repeated incremental call stores nothing and re-fetching a deleted hole stores
exactly that hole. Kite also returns the still-forming bar of a session in progress; it is
never stored (validation or not), so it stays missing until it closes and the next incremental
fetch (the daily update) stores the final bar. Bars built from live ticks (stored provisional
by WriteCandles) count as not yet fetched: an incremental fetch requests them like holes and
Kite's candles replace them.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np

from mandi.core.candles import CandleFrame, from_ms, to_ms
from mandi.core.clock import IST, Clock
from mandi.core.errors import InvalidInput, PreconditionFailed, RateLimited, TemporaryError
from mandi.core.intervals import Interval
from mandi.platform.retry import retry
from services.history import metrics
from services.history.coverage import as_ms, bar_ends, missing_ranges
from services.history.instruments import InstrumentRecord
from services.history.planner import Chunk, eta_seconds, plan_chunks, plan_ranges, resume_chunks
from services.history.validation import validate

log = logging.getLogger(__name__)

# Kite (and kitesim) count a sliding one-second window. A bucket of capacity 3 refilled at 3/s
# lets 3 burst requests plus one refill land inside one second — a 429. Capacity 1 spaces every
# request by 1/rate, and 3% headroom absorbs network jitter between our send and their clock.
BUCKET_CAPACITY = 1.0
RATE_HEADROOM = 0.97


def bucket_key(api_key: str) -> str:
    """The Redis key of the historical-data bucket shared by every replica using `api_key`."""
    return f"kite:{api_key}:historical"


def historical_bucket(redis: Any, api_key: str, rate_per_s: float) -> Any:
    """The shared limiter for Kite historical calls of `api_key` (settings.kite_historical_rate
    as `rate_per_s`); every replica building it with the same key shares one budget."""
    from mandi.platform.ratelimit import TokenBucket

    return TokenBucket(redis, bucket_key(api_key), BUCKET_CAPACITY, rate_per_s * RATE_HEADROOM)


class HistoricalSource(Protocol):
    async def historical_candles(self, instrument_token: int, start: datetime, end: datetime,
                                 interval: str, *, continuous: bool = False,
                                 oi: bool = False) -> CandleFrame: ...


class Limiter(Protocol):
    async def acquire(self, n: float = 1, timeout_s: float | None = None) -> None: ...


class Store(Protocol):
    async def write(self, token: int, interval: str, frame: CandleFrame, *,
                    overwrite: bool, **kw: Any) -> int: ...

    async def stored_timestamps(self, token: int, interval: str, start: datetime,
                                end: datetime, *, final_only: bool = False) -> Any: ...


@dataclass(frozen=True, slots=True)
class FetchOptions:
    validate: bool = True
    overwrite: bool = False
    incremental: bool = False
    oi: bool = False
    continuous: bool = False

    def to_json(self) -> dict[str, bool]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FetchOptions:
        data = data or {}
        return cls(**{k: bool(data[k]) for k in cls.__slots__ if k in data})  # type: ignore


@dataclass(frozen=True, slots=True)
class FetchProgress:
    requests_done: int
    requests_total: int
    rows_stored: int
    rows_fetched: int
    rows_invalid: int
    eta_seconds: float
    cursor: datetime | None  # end of the last chunk completed
    issues: dict[str, int]
    done: bool = False


@dataclass(slots=True)
class FetchSummary:
    records: int = 0  # bars stored by this call
    rows_fetched: int = 0  # bars Kite returned (inside the requested ranges)
    rows_invalid: int = 0
    issues: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    requests_total: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    cancelled: bool = False


@dataclass(slots=True)
class FetchStats:
    """This fetcher's counters. The same events feed the process-wide Prometheus counters in
    services.history.metrics, incremented at the same sites."""

    requests: int = 0
    rate_limited: int = 0
    retries: int = 0


ProgressCallback = Callable[[FetchProgress], Awaitable[None] | None]
StopCheck = Callable[[], Awaitable[bool] | bool]
Validator = Callable[..., tuple[CandleFrame, Any]]


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class Fetcher:
    """Fetches for one Kite API key. Safe to share between concurrent jobs."""

    def __init__(
        self, kite: HistoricalSource, store: Store, clock: Clock, *,
        limiter: Limiter | None, rate_per_s: float = 3.0, retry_attempts: int = 6,
        base_delay_s: float = 0.5, max_delay_s: float = 10.0, limiter_timeout_s: float = 300.0,
        validator: Validator | bool | None = True,
    ) -> None:
        self._kite = kite
        self._store = store
        self._clock = clock
        self._limiter = limiter
        self.rate_per_s = rate_per_s
        self._attempts = retry_attempts
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._limiter_timeout_s = limiter_timeout_s
        self._validate = validate if validator is True else (validator or None)
        self.stats = FetchStats()

    # --- planning -----------------------------------------------------------------------------
    def _check(self, instrument: InstrumentRecord, interval: Interval, start: datetime,
               end: datetime, options: FetchOptions, now: datetime) -> tuple[datetime, datetime]:
        if start.tzinfo is None:
            raise InvalidInput("'from' must be timezone-aware", field="from")
        if end.tzinfo is None:
            raise InvalidInput("'to' must be timezone-aware", field="to")
        if end < start:
            raise InvalidInput(f"'from' {start.isoformat()} is after 'to' {end.isoformat()}",
                               field="from")
        if start > now:
            raise InvalidInput(f"'from' {start.isoformat()} is in the future", field="from")
        if options.continuous and (interval.is_intraday or instrument.instrument_type != "FUT"):
            raise InvalidInput("continuous data exists only for futures with day candles",
                               field="continuous")
        if not instrument.active:
            raise PreconditionFailed(
                f"{instrument.key} expired (last listed {instrument.last_seen}); Kite serves no "
                "history for expired contracts — bars already stored stay queryable",
                field="instrument")
        if not interval.is_intraday:  # day candles are stamped 00:00 IST
            start = datetime.combine(start.astimezone(IST).date(), datetime.min.time(), IST)
        return start, min(end, now)

    async def plan(
        self, instrument: InstrumentRecord, interval: Interval, start: datetime, end: datetime,
        options: FetchOptions, *, cursor: datetime | None = None,
    ) -> tuple[list[Chunk], np.ndarray | None]:
        """The requests still needed, and (incremental only) the stored timestamps to skip."""
        now = self._clock.now()
        start, end = self._check(instrument, interval, start, end, options, now)
        if not options.incremental:
            return resume_chunks(plan_chunks(interval, start, end), cursor), None
        # The store's ranges are half-open; +1 ms makes `end` inclusive like Kite's.
        stored = await self._store.stored_timestamps(
            instrument.instrument_token, interval.name, start, end + timedelta(milliseconds=1),
            final_only=True)
        # coverage works on [start, end); Kite's `end` (and ours here) is inclusive
        have = as_ms(stored)
        missing = missing_ranges(have, interval, start, end + timedelta(milliseconds=1), now)
        if len(have) and missing and to_ms(missing[-1][0]) > have[-1]:
            # The tail request also takes the last stored bar back, at no extra request: a bar
            # stored while still forming (by an older version) is then overwritten with the
            # final one. `have` without it makes _select keep it; fetch() overwrites it.
            missing[-1] = (from_ms(int(have[-1])), missing[-1][1])
            have = have[:-1]
        # a missing range ends where its last bar ends (exclusive); asked of Kite inclusively
        # it would bring the next bar too — for day bars, the day after `end`, never stored
        missing = [(s, e - timedelta(milliseconds=1)) for s, e in missing]
        chunks = resume_chunks(plan_ranges(interval, missing), cursor)
        return chunks, have

    # --- fetching -----------------------------------------------------------------------------
    async def _request(self, instrument: InstrumentRecord, interval: Interval, chunk: Chunk,
                       options: FetchOptions) -> CandleFrame:
        async def once() -> CandleFrame:
            if self._limiter is not None:
                await self._limiter.acquire(1, timeout_s=self._limiter_timeout_s)
            self.stats.requests += 1
            metrics.KITE_REQUESTS.inc()
            try:
                return await self._kite.historical_candles(
                    instrument.instrument_token, chunk.start, chunk.end, interval.name,
                    continuous=options.continuous, oi=options.oi and instrument.is_derivative)
            except RateLimited:
                self.stats.rate_limited += 1
                metrics.KITE_RATE_LIMITED.inc()
                raise

        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            self.stats.retries += 1
            metrics.KITE_RETRIES.inc()
            log.warning("kite historical %s %s retry %d in %.2fs: %s", instrument.key,
                        interval.name, attempt, delay, exc)

        return await retry(once, attempts=self._attempts, base_delay_s=self._base_delay_s,
                           max_delay_s=self._max_delay_s, retry_on=(TemporaryError,),
                           on_retry=on_retry)

    async def fetch(
        self, instrument: InstrumentRecord, interval: Interval, start: datetime, end: datetime,
        options: FetchOptions = FetchOptions(), *, cursor: datetime | None = None,
        on_progress: ProgressCallback | None = None, should_stop: StopCheck | None = None,
    ) -> FetchSummary:
        """Fetch [start, end] and store it. `cursor` resumes after a completed chunk end.

        Raises InvalidInput/PreconditionFailed before any request for bad input, AuthError at
        once on bad credentials, TemporaryError when retries run out; bars stored by earlier
        chunks stay stored (the job's cursor records how far it got).
        """
        chunks, skip = await self.plan(instrument, interval, start, end, options, cursor=cursor)
        # incremental: rows Kite returns that are stored already are only the last stored bar,
        # re-fetched on purpose (see plan), so such chunks are written as overwrites
        overwrite = options.overwrite or skip is not None
        summary = FetchSummary(requests_total=len(chunks))
        done_cursor = cursor
        for chunk in chunks:
            if should_stop is not None and await _maybe_await(should_stop()):
                summary.cancelled = True
                break
            received = await self._request(instrument, interval, chunk, options)
            summary.requests += 1
            frame = self._select(received, chunk, skip)
            summary.rows_fetched += len(frame)
            frame = self._final_only(frame, interval, summary)
            if self._validate is not None and options.validate and len(frame):
                valid, issues = self._validate(frame, interval=interval,
                                               segment=instrument.storage_segment,
                                               now=self._clock.now())
                for reason, count in issues.items():
                    summary.issues[reason] = summary.issues.get(reason, 0) + count
                summary.rows_invalid += len(frame) - len(valid)
                metrics.ROWS_INVALID.inc(len(frame) - len(valid))
                frame = valid
            if len(frame):
                stored = await self._store.write(instrument.instrument_token, interval.name,
                                                 frame, overwrite=overwrite)
                summary.records += stored
                metrics.ROWS_STORED.labels(instrument.storage_segment).inc(stored)
                first, last = from_ms(int(frame.ts.min())), from_ms(int(frame.ts.max()))
                summary.first_ts = first if summary.first_ts is None else min(summary.first_ts,
                                                                              first)
                summary.last_ts = last if summary.last_ts is None else max(summary.last_ts, last)
            done_cursor = chunk.end
            if on_progress is not None:
                await _maybe_await(on_progress(self._progress(summary, done_cursor)))
        if on_progress is not None:
            await _maybe_await(on_progress(self._progress(summary, done_cursor, done=True)))
        return summary

    def _select(self, frame: CandleFrame, chunk: Chunk, skip: np.ndarray | None) -> CandleFrame:
        """Bars inside the chunk (Kite may pad day ranges) and, when incremental, not stored."""
        if not len(frame):
            return frame
        lo, hi = to_ms(chunk.start), to_ms(chunk.end)
        keep = (frame.ts >= lo) & (frame.ts <= hi)
        if skip is not None and skip.size:
            keep &= ~np.isin(frame.ts, skip)
        return frame if keep.all() else frame.take(np.flatnonzero(keep))

    def _final_only(self, frame: CandleFrame, interval: Interval,
                    summary: FetchSummary) -> CandleFrame:
        """Drop the bar Kite sent while it was still forming (a session in progress): stored,
        it would stay partial, since coverage counts it present. Left out, it is simply
        missing, and the next incremental fetch after it closes stores the final bar."""
        if not len(frame):
            return frame
        final = bar_ends(frame.ts, interval) <= to_ms(self._clock.now())
        if final.all():
            return frame
        summary.issues["forming bar"] = summary.issues.get("forming bar", 0) + int(
            (~final).sum())
        return frame.take(np.flatnonzero(final))

    def _progress(self, s: FetchSummary, cursor: datetime | None,
                  done: bool = False) -> FetchProgress:
        left = max(0, s.requests_total - s.requests)
        return FetchProgress(s.requests, s.requests_total, s.records, s.rows_fetched,
                             s.rows_invalid, 0.0 if done else eta_seconds(left, self.rate_per_s),
                             cursor, dict(s.issues), done)
