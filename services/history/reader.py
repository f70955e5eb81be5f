"""Reading stored bars: whole ranges, streamed batches and IST-aligned resampling.

Why binary COPY: GetCandles for a symbol-year of minute bars (~94k rows) has a ~150 ms budget
end to end. `fetch()` builds a Record plus seven Python objects per row (~100 ms for a year);
`COPY (SELECT ...) TO STDOUT (FORMAT binary)` of NOT NULL fixed-width columns has a fixed
row layout, so numpy decodes the whole answer in one `frombuffer` (a few ms).

Resampling runs in the database with `date_bin`, anchored at the 09:15 IST session open so
15minute buckets start 09:15, 09:30 … and 60minute ones 09:15 … 15:15 like Kite's own bars —
and, inside a special session's span (a Muhurat hour, a DR session's second span), at that
span's start, as `mandi.core.calendar` lays out its bars; day buckets are IST calendar days
(Kite stamps day candles at IST midnight). The same SQL runs
on TimescaleDB hypertables and on native partitions.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import numpy as np

from mandi.core.calendar import SESSION_MINUTES, SPECIAL_SESSIONS, session
from mandi.core.candles import COLUMNS, CandleFrame, from_ms, to_ms
from mandi.core.errors import InvalidInput
from mandi.core.intervals import Interval, parse_interval

PG_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z, PostgreSQL's timestamp epoch
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER_LEN = len(COPY_SIGNATURE) + 8  # signature, flags int32, extension length int32
_SESSION_ORIGIN = "2000-01-03 09:15:00+05:30"  # a Monday 09:15 IST; day length is a multiple
DEFAULT_BATCH_ROWS = 10_000
_IST_OFFSET_MS = 19_800_000
_DAY_MS = 86_400_000
_SLICE_ROWS = 30_000  # bars per time slice of a plain read
_PREFETCH = 2  # slices in flight

_VALUE_TYPES = {"ts": ">i8", "open": ">f8", "high": ">f8", "low": ">f8", "close": ">f8",
                "volume": ">i8", "oi": ">i8"}


def row_dtype(columns: tuple[str, ...]) -> np.dtype:
    """Binary COPY row layout for NOT NULL 8-byte columns: int16 field count, then per field
    int32 length + big-endian value (shared with store.py's encoder)."""
    spec: list[tuple[str, str]] = [("_n", ">i2")]
    for c in columns:
        spec += [(f"_len_{c}", ">i4"), (c, _VALUE_TYPES[c])]
    return np.dtype(spec)


def decode_copy(data: bytes, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Columns of a binary COPY answer whose fields are all NOT NULL 8-byte values."""
    if not data.startswith(COPY_SIGNATURE) or len(data) < _HEADER_LEN + 2:
        raise RuntimeError("not a PostgreSQL binary COPY stream")
    ext = int.from_bytes(data[len(COPY_SIGNATURE) + 4:_HEADER_LEN], "big")
    start = _HEADER_LEN + ext
    body = memoryview(data)[start:len(data) - 2]  # trailer: int16 -1
    dtype = row_dtype(columns)
    if len(body) % dtype.itemsize:
        raise RuntimeError("binary COPY rows are not fixed width (a NULL or a wide column?)")
    rows = np.frombuffer(body, dtype=dtype)
    # A NULL or a wider field shifts every later row, so checking the field count of each row
    # (plus the total length above) catches a layout mismatch without one pass per column.
    if len(rows) and (rows["_n"][0] != len(columns) or np.any(rows["_n"] != len(columns))):
        raise RuntimeError("binary COPY rows are not the expected layout")
    out = {c: rows[c].astype(np.dtype(_VALUE_TYPES[c]).newbyteorder("=")) for c in columns}
    if "ts" in out:
        out["ts"] = out["ts"] // 1000 + PG_EPOCH_MS  # µs since 2000 → ms since 1970
    return out


async def copy_query(conn: asyncpg.Connection, sql: str) -> bytes:
    """Run `COPY (sql) TO STDOUT` in binary and return the raw stream."""
    chunks: list[bytes] = []

    async def sink(chunk: bytes) -> None:
        chunks.append(chunk)

    await conn.copy_from_query(sql, output=sink, format="binary")
    return b"".join(chunks)


# --- literals: COPY takes no bind parameters, so values are rendered from checked types --------
def ts_literal(when: datetime) -> str:
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise InvalidInput("timestamps must be timezone-aware datetimes", field="from")
    return f"'{when.isoformat()}'::timestamptz"


def _segment_of_token(token: int) -> str | None:
    from services.history.store import segment_of_token  # store imports this module

    return segment_of_token(token)


def range_where(token: int, interval: str, start: datetime | None, end: datetime | None) -> str:
    """WHERE clause for one dataset and an optional [start, end) range."""
    parse_interval(interval)  # only known names reach the SQL text
    parts = [f"instrument_token = {int(token)}", f"interval = '{interval}'"]
    segment = _segment_of_token(token)
    if segment is not None:  # prune to one segment's partitions: an ordered Append, no merge
        parts.append(f"segment = '{segment}'")
    if start is not None:
        parts.append(f"ts >= {ts_literal(start)}")
    if end is not None:
        parts.append(f"ts < {ts_literal(end)}")
    if start is not None and end is not None and start >= end:
        raise InvalidInput("'from' must be before 'to'", field="from")
    return " AND ".join(parts)


def check_resample(source: Interval, target: Interval) -> None:
    """A target is valid when each of its buckets is a whole number of source bars."""
    if target.name == source.name:
        return
    whole = source.is_intraday and (
        not target.is_intraday
        or (target.minutes > source.minutes and target.minutes % source.minutes == 0)
    )
    if not whole:
        raise InvalidInput(
            f"cannot resample {source.name} bars to {target.name}: the target must be a"
            f" multiple of the stored interval",
            field="resample_to",
        )


def bucket_expr(target: Interval, start: datetime | None = None,
                end: datetime | None = None) -> str:
    if not target.is_intraday:
        return "date_trunc('day', ts, 'Asia/Kolkata')"
    step = f"'{target.minutes} minutes'"
    normal = f"date_bin({step}, ts, '{_SESSION_ORIGIN}'::timestamptz)"
    spans = [(s.open.replace(hour=a // 60, minute=a % 60), s.open.replace(hour=b // 60,
                                                                          minute=b % 60))
             for day in sorted(SPECIAL_SESSIONS)
             if (start is None or day >= start.date() - timedelta(days=1))
             and (end is None or day <= end.date() + timedelta(days=1))
             and (s := session(day)) is not None
             for a, b in s.spans if (a - 555) % target.minutes]  # 555: 09:15 in minutes
    if not spans:
        return normal
    whens = " ".join(f"WHEN ts >= '{a.isoformat()}' AND ts < '{b.isoformat()}' THEN"
                     f" date_bin({step}, ts, '{a.isoformat()}'::timestamptz)"
                     for a, b in spans)
    return f"CASE {whens} ELSE {normal} END"


def select_sql(
    token: int,
    interval: str,
    start: datetime | None,
    end: datetime | None,
    *,
    resample_to: str | None = None,
) -> str:
    where = range_where(token, interval, start, end)
    source = parse_interval(interval)
    if resample_to and resample_to != interval:
        target = parse_interval(resample_to)
        check_resample(source, target)
        return (
            "SELECT bucket, (array_agg(open ORDER BY ts))[1], max(high), min(low),"
            " (array_agg(close ORDER BY ts DESC))[1], sum(volume)::bigint,"
            " (array_agg(oi ORDER BY ts DESC))[1]"
            f" FROM (SELECT {bucket_expr(target, start, end)} AS bucket, ts, open, high, low,"
            " close,"
            f" volume, oi FROM ohlcv WHERE {where}) s GROUP BY bucket ORDER BY bucket"
        )
    return (
        "SELECT ts, open, high, low, close, volume, oi FROM ohlcv"
        f" WHERE {where} ORDER BY ts"
    )


async def read(
    pool: asyncpg.Pool,
    token: int,
    interval: str,
    start: datetime | None,
    end: datetime | None,
    *,
    resample_to: str | None = None,
) -> CandleFrame:
    """Stored bars of one dataset in [start, end) (None = unbounded), ascending by ts,
    optionally resampled to a coarser interval."""
    return CandleFrame.concat(
        [f async for f in _iter_slices(pool, token, interval, start, end, resample_to)])


async def iter_batches(
    pool: asyncpg.Pool,
    token: int,
    interval: str,
    start: datetime | None,
    end: datetime | None,
    *,
    resample_to: str | None = None,
    batch_size: int = 0,
) -> AsyncIterator[CandleFrame]:
    """Stream a range as frames of at most `batch_size` rows (0 = default), ascending.

    Reads go slice by slice of time with the next slice already in flight (see
    `_iter_slices`), so memory stays bounded for decade-long ranges and no connection is held
    while the caller consumes.
    """
    if batch_size < 0:
        raise InvalidInput("batch_size must not be negative", field="batch_size")
    size = batch_size or DEFAULT_BATCH_ROWS
    async for page in _iter_slices(pool, token, interval, start, end, resample_to):
        for lo in range(0, len(page), size):
            yield page.take(slice(lo, lo + size))


async def _read_sql(pool: asyncpg.Pool, sql: str) -> CandleFrame:
    async with pool.acquire() as conn:
        return CandleFrame(**decode_copy(await copy_query(conn, sql), COLUMNS))


def time_slices(start_ms: int, end_ms: int, interval: Interval) -> list[tuple[int, int]]:
    """[start_ms, end_ms) cut at IST midnights into spans of whole days holding at most
    ~_SLICE_ROWS bars. Midnight cuts never split a resampling bucket (no bucket crosses one)."""
    per_day = -(-SESSION_MINUTES // interval.minutes) if interval.is_intraday else 1
    span = max(1, _SLICE_ROWS // per_day) * _DAY_MS
    first_midnight = (start_ms + _IST_OFFSET_MS) // _DAY_MS * _DAY_MS - _IST_OFFSET_MS
    cuts = range(first_midnight + span, end_ms, span)
    edges = [start_ms, *cuts, end_ms]
    return list(itertools.pairwise(edges))


async def _iter_slices(
    pool: asyncpg.Pool, token: int, interval: str, start: datetime | None,
    end: datetime | None, resample_to: str | None = None,
) -> AsyncIterator[CandleFrame]:
    """Frames of consecutive time slices, `_PREFETCH` queries in flight on their own
    connections. Why: formatting a row for binary COPY costs the server about as much as
    finding it, so one backend caps a symbol-year at ~100 ms; two slices at once use a second
    core while the caller decodes or sends the previous one."""
    range_where(token, interval, start, end)  # validates the arguments before any I/O
    if resample_to == interval:
        resample_to = None
    if resample_to:
        check_resample(parse_interval(interval), parse_interval(resample_to))
    if start is None or end is None:
        async with pool.acquire() as conn:
            lo, hi = await conn.fetchrow(
                f"SELECT min(ts), max(ts) FROM ohlcv WHERE"
                f" {range_where(token, interval, start, end)}"
            )
        if lo is None:
            return
        start = start or lo
        end = end or hi + timedelta(milliseconds=1)
    slices = iter(time_slices(to_ms(start), to_ms(end), parse_interval(interval)))
    inflight: deque[asyncio.Task[CandleFrame]] = deque()

    def launch() -> None:
        nxt = next(slices, None)
        if nxt is not None:
            sql = select_sql(token, interval, from_ms(nxt[0]), from_ms(nxt[1]),
                             resample_to=resample_to)
            inflight.append(asyncio.ensure_future(_read_sql(pool, sql)))

    try:
        for _ in range(_PREFETCH):
            launch()
        while inflight:
            frame = await inflight.popleft()
            launch()
            if len(frame):
                yield frame
    finally:
        for task in inflight:
            task.cancel()
        await asyncio.gather(*inflight, return_exceptions=True)
