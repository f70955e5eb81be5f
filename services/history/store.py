"""The OHLCV write path: COPY into a staging table, merge into `ohlcv`.

Why this shape: row-by-row INSERTs top out near 20k rows/s; binary COPY of a numpy-encoded
buffer into a TEMP table (no WAL, no indexes) followed by one `INSERT … SELECT … ON CONFLICT`
moves hundreds of thousands of rows a second while keeping upsert semantics in one statement:
`overwrite=False` keeps what is stored (DO NOTHING), `overwrite=True` replaces changed bars
(DO UPDATE … WHERE IS DISTINCT FROM, so unchanged bars are not rewritten or counted).

Bars built from live ticks (marketdata's closed candles) are stored `provisional`: Kite's
historical candle is the truth. So a final write (a Kite fetch, an import) replaces a
provisional bar whatever `overwrite` says, and a provisional write never replaces a final bar
— with `overwrite=True` it replaces only an earlier provisional one.

Every row carries its storage segment (EQUITY/DERIVATIVES). On native PostgreSQL each segment
is range-partitioned by IST month; partitions are created here, before the data arrives, under
an advisory lock (CREATE TABLE … PARTITION OF is not race-free between replicas), and a cache
of the partitions known to exist keeps that check off the hot path.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from typing import ClassVar

import asyncpg
import numpy as np

from mandi.core.candles import CandleFrame, from_ms, to_ms
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.core.intervals import parse_interval
from services.history.reader import (
    COPY_SIGNATURE,
    PG_EPOCH_MS,
    copy_query,
    decode_copy,
    range_where,
)

log = logging.getLogger(__name__)

EQUITY = "EQUITY"
DERIVATIVES = "DERIVATIVES"
SEGMENTS = (EQUITY, DERIVATIVES)
SEGMENT_OF_EXCHANGE = {"NSE": EQUITY, "BSE": EQUITY, "INDICES": EQUITY,
                       "NFO": DERIVATIVES, "BFO": DERIVATIVES}
EXCHANGES_OF_SEGMENT = {EQUITY: ("NSE", "BSE"), DERIVATIVES: ("NFO", "BFO")}
# Kite: instrument_token = exchange_token * 256 + segment code (the ticker relies on it too)
EXCHANGE_OF_CODE = {1: "NSE", 2: "NFO", 4: "BSE", 5: "BFO", 9: "INDICES"}

# The staging table has ohlcv's columns without its constraints or partitions: a TEMP table
# writes no WAL and maintains no index, and the same COPY stream fills either table.
_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS ohlcv_stage (
    instrument_token bigint, interval text, ts timestamptz, segment text, open float8,
    high float8, low float8, close float8, volume int8, oi int8
) ON COMMIT DELETE ROWS
"""
_MERGE = """
INSERT INTO ohlcv (instrument_token, interval, ts, segment, open, high, low, close, volume, oi,
                   provisional)
SELECT instrument_token, interval, ts, segment, open, high, low, close, volume, oi, {provisional}
FROM ohlcv_stage
ON CONFLICT (instrument_token, interval, ts, segment) DO
"""
_ANY_STORED = """
SELECT EXISTS (SELECT 1 FROM ohlcv WHERE instrument_token = $1 AND interval = $2
               AND ts >= $3 AND ts <= $4)
"""
_KEEP = "NOTHING"
_SET = """UPDATE SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
    close = EXCLUDED.close, volume = EXCLUDED.volume, oi = EXCLUDED.oi,
    provisional = EXCLUDED.provisional
WHERE """
_CHANGED = """(ohlcv.open, ohlcv.high, ohlcv.low, ohlcv.close, ohlcv.volume, ohlcv.oi)
    IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close,
                      EXCLUDED.volume, EXCLUDED.oi)"""
# `ohlcv.provisional` is NULL only on a TimescaleDB store that refused NOT NULL (005): final.
_WAS_PROVISIONAL = "ohlcv.provisional IS TRUE"


def merge_sql(*, overwrite: bool, provisional: bool) -> str:
    """The staged rows' merge into ohlcv: what a conflict with a stored bar does.

    final, keep:            replace a provisional bar only (Kite's candle is the truth)
    final, overwrite:       replace a provisional bar, or a final one whose values changed
    provisional, keep:      keep whatever is stored
    provisional, overwrite: replace a provisional bar whose values changed, never a final one
    """
    head = _MERGE.format(provisional="true" if provisional else "false")
    if provisional:
        return head + (_SET + f"{_WAS_PROVISIONAL} AND {_CHANGED}" if overwrite else _KEEP)
    return head + _SET + (f"{_WAS_PROVISIONAL} OR {_CHANGED}" if overwrite else _WAS_PROVISIONAL)

_PARTITION_LOCK = "mandi-history:ohlcv-partitions"


def segment_of_token(token: int) -> str | None:
    """The segment Kite encodes in the token's low byte, or None for other segments."""
    exchange = EXCHANGE_OF_CODE.get(int(token) & 0xFF)
    return SEGMENT_OF_EXCHANGE[exchange] if exchange else None


_TABLE_COLUMNS = ("instrument_token", "interval", "ts", "segment",
                  "open", "high", "low", "close", "volume", "oi")
_VALUE_COLUMNS = ("open", "high", "low", "close", "volume", "oi")
_CHUNK_ROWS = 65_536
_PARALLEL_MIN_ROWS = 100_000  # below this one COPY stream is as fast as two
_COPY_HEADER = COPY_SIGNATURE + bytes(8)  # flags 0, no header extension
_COPY_TRAILER = b"\xff\xff"


def _copy_row_dtype(interval: bytes, segment: bytes) -> np.dtype:
    """Binary COPY row of `ohlcv`: the key's text fields have one length per write, so the
    row is fixed width and numpy can lay out a whole chunk at once."""
    spec: list[tuple[str, str]] = [
        ("_n", ">i2"), ("_l_tok", ">i4"), ("tok", ">i8"),
        ("_l_iv", ">i4"), ("iv", f"S{len(interval)}"),
        ("_l_ts", ">i4"), ("ts", ">i8"),
        ("_l_seg", ">i4"), ("seg", f"S{len(segment)}"),
    ]
    for c in _VALUE_COLUMNS:
        spec += [(f"_l_{c}", ">i4"), (c, ">f8" if c in ("open", "high", "low", "close") else ">i8")]
    return np.dtype(spec)


def copy_chunks(
    frame: CandleFrame, token: int, interval: str, segment: str, chunk_rows: int = _CHUNK_ROWS
) -> Iterator[bytes]:
    """The frame as a binary COPY stream of `ohlcv` rows, in chunks of `chunk_rows` rows.

    Every row starts as a copy of one template row (the constant key fields and lengths);
    only ts and the values are filled per chunk, with vectorised byte-swapping.
    """
    iv, seg = interval.encode(), segment.encode()
    dtype = _copy_row_dtype(iv, seg)
    one = np.zeros(1, dtype)
    one["_n"] = len(_TABLE_COLUMNS)
    one["_l_tok"], one["tok"], one["_l_iv"], one["iv"] = 8, token, len(iv), iv
    one["_l_ts"], one["_l_seg"], one["seg"] = 8, len(seg), seg
    for c in _VALUE_COLUMNS:
        one[f"_l_{c}"] = 8
    template = one.tobytes() * min(chunk_rows, len(frame))
    yield _COPY_HEADER
    for lo in range(0, len(frame), chunk_rows):
        hi = min(lo + chunk_rows, len(frame))
        buf = bytearray(template[: (hi - lo) * dtype.itemsize])
        rows = np.frombuffer(buf, dtype)
        rows["ts"] = (frame.ts[lo:hi] - PG_EPOCH_MS) * 1000  # ms since 1970 → µs since 2000
        for c in _VALUE_COLUMNS:
            rows[c] = getattr(frame, c)[lo:hi]
        yield bytes(buf)
    yield _COPY_TRAILER


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """asyncpg reads a bytes `source` as a path; an async iterator is streamed as data."""
    for chunk in chunks:
        yield chunk


def dedupe(frame: CandleFrame) -> CandleFrame:
    """Sorted by ts with the first of any duplicate timestamps kept (a merge statement may
    not touch one row twice; validation reports duplicates, the store just must not fail)."""
    if len(frame) < 2:
        return frame
    if bool(np.all(frame.ts[1:] > frame.ts[:-1])):
        return frame
    _, first = np.unique(frame.ts, return_index=True)  # sorted unique, first occurrence
    return frame.take(first)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def months_between(first_ms: int, last_ms: int) -> list[date]:
    """First days of the IST months touched by [first_ms, last_ms]."""
    month = _month_start(from_ms(first_ms).astimezone(IST).date())
    last = _month_start(from_ms(last_ms).astimezone(IST).date())
    out = []
    while month <= last:
        out.append(month)
        month = _next_month(month)
    return out


def partition_name(segment: str, month: date) -> str:
    return f"ohlcv_{segment.lower()}_p{month:%Y%m}"


class CandleStore:
    """Writes, deletes and small reads of `ohlcv` through one asyncpg pool (search_path =
    history). One instance per process; its caches are only hints, re-checked under lock."""

    ENGINES: ClassVar[tuple[str, str]] = ("timescaledb", "postgresql-partitioned")

    def __init__(self, pool: asyncpg.Pool, *, copy_streams: int = 2) -> None:
        self._pool = pool
        self._copy_streams = copy_streams
        self._partitions: set[str] | None = None
        self._engine: str | None = None
        self._segments: dict[int, str] = {}

    # --- segment / engine ------------------------------------------------------------------
    async def engine(self) -> str:
        """'timescaledb' when ohlcv is a hypertable, else 'postgresql-partitioned'."""
        if self._engine is None:
            async with self._pool.acquire() as conn:
                hyper = await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
                )
                if hyper:
                    hyper = await conn.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
                        " WHERE hypertable_name = 'ohlcv')"
                    )
            self._engine = self.ENGINES[0] if hyper else self.ENGINES[1]
        return self._engine

    async def segment_of(self, token: int) -> str:
        """EQUITY or DERIVATIVES for a token: from the instrument master, else from the
        segment code Kite encodes in the token."""
        seg = self._segments.get(token)
        if seg is not None:
            return seg
        exchange = None
        async with self._pool.acquire() as conn:
            try:
                exchange = await conn.fetchval(
                    "SELECT exchange FROM instruments WHERE instrument_token = $1", int(token)
                )
            except asyncpg.UndefinedTableError:
                exchange = None
        seg = SEGMENT_OF_EXCHANGE.get(exchange) if exchange else segment_of_token(token)
        if seg is None:
            raise InvalidInput(
                f"instrument_token {token} is not a known NSE/BSE/NFO/BFO instrument",
                field="instrument_token",
            )
        self._segments[token] = seg
        return seg

    # --- partitions -------------------------------------------------------------------------
    async def ensure_partitions(self, segment: str, first_ms: int, last_ms: int) -> list[str]:
        """Create the monthly partitions [first_ms, last_ms] needs; returns those created."""
        if await self.engine() != self.ENGINES[1]:
            return []
        if self._partitions is None:
            self._partitions = await self._existing_partitions()
        wanted = [m for m in months_between(first_ms, last_ms)
                  if partition_name(segment, m) not in self._partitions]
        if not wanted:
            return []
        created = []
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", _PARTITION_LOCK)
            existing = await self._existing_partitions(conn)
            for month in wanted:
                name = partition_name(segment, month)
                if name not in existing:
                    await self._create_partition(conn, segment, month, name)
                    created.append(name)
            self._partitions = existing | set(created)
        if created:
            log.info("created ohlcv partitions %s", ", ".join(created))
        return created

    async def _existing_partitions(self, conn: asyncpg.Connection | None = None) -> set[str]:
        sql = """SELECT c.relname FROM pg_inherits i
                 JOIN pg_class c ON c.oid = i.inhrelid
                 JOIN pg_class p ON p.oid = i.inhparent
                 WHERE p.relname IN ('ohlcv_equity', 'ohlcv_derivatives')
                   AND p.relnamespace = to_regnamespace(current_schema())"""
        if conn is not None:
            return {r[0] for r in await conn.fetch(sql)}
        async with self._pool.acquire() as c:
            return {r[0] for r in await c.fetch(sql)}

    @staticmethod
    async def _create_partition(
        conn: asyncpg.Connection, segment: str, month: date, name: str
    ) -> None:
        parent = f"ohlcv_{segment.lower()}"
        lo, hi = f"{month:%Y-%m-%d} 00:00:00+05:30", f"{_next_month(month):%Y-%m-%d} 00:00:00+05:30"
        default = f"{parent}_default"
        # Rows that reached the default partition for this month would make the new
        # partition's constraint fail: move them across (normally there are none).
        stray = await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {default} WHERE ts >= '{lo}' AND ts < '{hi}')"
        )
        if stray:
            await conn.execute(
                f"CREATE TEMP TABLE ohlcv_moving ON COMMIT DROP AS SELECT * FROM {default}"
                f" WHERE ts >= '{lo}' AND ts < '{hi}'"
            )
            await conn.execute(f"DELETE FROM {default} WHERE ts >= '{lo}' AND ts < '{hi}'")
        await conn.execute(
            f"CREATE TABLE {name} PARTITION OF {parent} FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
        if stray:
            await conn.execute("INSERT INTO ohlcv SELECT * FROM ohlcv_moving")

    # --- write ------------------------------------------------------------------------------
    async def write(
        self, token: int, interval: str, frame: CandleFrame, *, overwrite: bool,
        provisional: bool = False,
    ) -> int:
        """Store `frame` for (token, interval); returns rows inserted plus rows changed.

        `overwrite=False` keeps stored final bars (incremental fetches, imports that fill
        gaps); `overwrite=True` replaces stored bars at the same timestamps. `provisional`
        marks bars built from ticks; see `merge_sql` for how they meet stored bars. Such
        writes are a few bars a minute, so they always take the merge path.

        When nothing is stored in the frame's span (a backfill, a filled hole) the rows are
        COPied straight into ohlcv — the heap is then written in multi-row batches — and a
        large frame is split into `copy_streams` time slices COPied on parallel connections,
        each its own transaction (a reader may see one slice before the other). Otherwise the
        frame is staged and merged in one transaction. A concurrent writer of the same bars
        makes a direct COPY fail on the key; that slice is then merged instead.
        """
        parse_interval(interval)
        if not len(frame):
            return 0
        frame = dedupe(frame)
        token = int(token)
        segment = await self.segment_of(token)
        await self.ensure_partitions(segment, int(frame.ts[0]), int(frame.ts[-1]))
        first, last = from_ms(int(frame.ts[0])), from_ms(int(frame.ts[-1]))
        async with self._pool.acquire() as conn:
            occupied = await conn.fetchval(_ANY_STORED, token, interval, first, last)
        if occupied or provisional:
            return await self._merge(token, interval, segment, frame, overwrite, provisional)
        streams = max(1, min(self._copy_streams, len(frame) // _PARALLEL_MIN_ROWS))
        bounds = np.linspace(0, len(frame), streams + 1).astype(int)
        if streams == 1:
            return await self._copy_or_merge(token, interval, segment, frame, overwrite)
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(self._copy_or_merge(
                    token, interval, segment, frame.take(slice(lo, hi)), overwrite))
                for lo, hi in itertools.pairwise(bounds.tolist())
            ]
        return sum(t.result() for t in tasks)

    async def _copy_or_merge(
        self, token: int, interval: str, segment: str, frame: CandleFrame, overwrite: bool
    ) -> int:
        try:
            targets = await self._copy_targets(segment, frame)
            async with self._pool.acquire() as conn, conn.transaction():
                for table, part in targets:
                    await conn.copy_to_table(
                        table, source=_aiter(copy_chunks(part, token, interval, segment)),
                        columns=list(_TABLE_COLUMNS), format="binary",
                    )
            return len(frame)
        except asyncpg.UniqueViolationError:
            log.info("concurrent write of %s/%s; merging instead", token, interval)
            return await self._merge(token, interval, segment, frame, overwrite)

    async def _copy_targets(self, segment: str, frame: CandleFrame
                            ) -> list[tuple[str, CandleFrame]]:
        """Where a direct COPY goes: on native partitions, each IST month's rows straight into
        that month's leaf table (routing every row through the parent cost ~30 % of ingest);
        on a hypertable, the table itself."""
        if await self.engine() != self.ENGINES[1]:
            return [("ohlcv", frame)]
        months = months_between(int(frame.ts[0]), int(frame.ts[-1]))
        starts = np.array([to_ms(datetime.combine(m, datetime.min.time(), IST))
                           for m in months[1:]], dtype=np.int64)
        cuts = [0, *np.searchsorted(frame.ts, starts).tolist(), len(frame)]
        return [(partition_name(segment, m), frame.take(slice(lo, hi)))
                for m, (lo, hi) in zip(months, itertools.pairwise(cuts), strict=True)
                if hi > lo]

    async def _merge(
        self, token: int, interval: str, segment: str, frame: CandleFrame, overwrite: bool,
        provisional: bool = False,
    ) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_STAGE_DDL)
            await conn.copy_to_table(
                "ohlcv_stage", source=_aiter(copy_chunks(frame, token, interval, segment)),
                columns=list(_TABLE_COLUMNS), format="binary",
            )
            status = await conn.execute(merge_sql(overwrite=overwrite, provisional=provisional))
        return int(status.rsplit(" ", 1)[-1])

    # --- delete -----------------------------------------------------------------------------
    async def delete(
        self,
        token: int,
        interval: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """Delete a dataset's bars in [start, end); None widens to every interval / all time."""
        args: list[object] = [int(token)]
        where = ["instrument_token = $1"]
        if interval:
            parse_interval(interval)
            args.append(interval)
            where.append(f"interval = ${len(args)}")
        for value, op, field in ((start, ">=", "from"), (end, "<", "to")):
            if value is not None:
                if value.tzinfo is None:
                    raise InvalidInput("timestamp must be timezone-aware", field=field)
                args.append(value)
                where.append(f"ts {op} ${len(args)}")
        if start is not None and end is not None and start >= end:
            raise InvalidInput("'from' must be before 'to'", field="from")
        async with self._pool.acquire() as conn:
            status = await conn.execute(f"DELETE FROM ohlcv WHERE {' AND '.join(where)}", *args)
        return int(status.rsplit(" ", 1)[-1])

    # --- small reads the fetcher needs ------------------------------------------------------
    async def stored_timestamps(
        self, token: int, interval: str, start: datetime | None, end: datetime | None,
        *, final_only: bool = False,
    ) -> np.ndarray:
        """Sorted int64 epoch-ms starts of the stored bars in [start, end); `final_only` leaves
        out provisional bars (incremental fetch: they are not yet fetched from Kite)."""
        where = range_where(token, interval, start, end)
        if final_only:
            where += " AND provisional IS NOT TRUE"
        sql = f"SELECT ts FROM ohlcv WHERE {where} ORDER BY ts"
        async with self._pool.acquire() as conn:
            return decode_copy(await copy_query(conn, sql), ("ts",))["ts"]

    async def last_ts(self, token: int, interval: str) -> datetime | None:
        """Start of the newest stored bar, or None when the dataset is empty."""
        parse_interval(interval)
        async with self._pool.acquire() as conn:
            return await conn.fetchval(
                "SELECT max(ts) FROM ohlcv WHERE instrument_token = $1 AND interval = $2",
                int(token), interval,
            )

    async def first_ts(self, token: int, interval: str) -> datetime | None:
        parse_interval(interval)
        async with self._pool.acquire() as conn:
            return await conn.fetchval(
                "SELECT min(ts) FROM ohlcv WHERE instrument_token = $1 AND interval = $2",
                int(token), interval,
            )

    async def count(
        self, token: int, interval: str, start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        where = range_where(token, interval, start, end)
        async with self._pool.acquire() as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM ohlcv WHERE {where}"))

    async def provisional_count(
        self, token: int, interval: str, start: datetime | None = None,
        end: datetime | None = None,
    ) -> int:
        """Bars built from ticks in [start, end) still waiting for Kite's candle."""
        where = range_where(token, interval, start, end)
        async with self._pool.acquire() as conn:
            return int(await conn.fetchval(
                f"SELECT count(*) FROM ohlcv WHERE {where} AND provisional"))
