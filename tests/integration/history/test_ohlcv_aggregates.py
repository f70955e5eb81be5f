"""Migration 006 (TimescaleDB continuous aggregates of the minute bars) on this machine's plain
PostgreSQL: it applies and creates nothing. Its TimescaleDB branch is then checked as far as
plain PostgreSQL allows: the same file, with only its hypertable test forced and the
`timescaledb.*` storage options dropped, runs against stand-ins for the Timescale functions it
calls (time_bucket with origin / timezone, first, last, add_continuous_aggregate_policy; each
the documented semantics in a few lines of SQL). That parses every statement the DO block
builds, resolves every column, function and argument name, and the resulting views — refreshed
over two sessions of minute bars — hold exactly the bars history's read-time resampling serves
(reader.select_sql), bucket for bucket."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from mandi.core.clock import IST
from mandi.platform.migrations import run_migrations
from services.history import reader

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
SQL = (MIGRATIONS / "006_ohlcv_aggregates.sql").read_text()
VIEWS = {"ohlcv_5minute": "5minute", "ohlcv_15minute": "15minute",
         "ohlcv_60minute": "60minute", "ohlcv_day": "day"}
TOKEN = 408065  # NSE:INFY (EQUITY)

# Timescale's functions as plain SQL, in their own schema (signatures as Timescale names them)
SHIMS = """
CREATE SCHEMA tsshim;
CREATE FUNCTION tsshim.time_bucket(bucket_width interval, ts timestamptz, origin timestamptz)
  RETURNS timestamptz LANGUAGE sql IMMUTABLE AS 'SELECT date_bin(bucket_width, ts, origin)';
CREATE FUNCTION tsshim.time_bucket(bucket_width interval, ts timestamptz, timezone text,
                                   origin timestamptz DEFAULT NULL, "offset" interval DEFAULT NULL)
  RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF bucket_width <> interval '1 day' OR origin IS NOT NULL OR "offset" IS NOT NULL THEN
    RAISE EXCEPTION 'shim: only 1-day buckets in a time zone';
  END IF;
  RETURN date_trunc('day', ts, timezone);
END $$;
CREATE FUNCTION tsshim.pick(s float8[], t timestamptz, v float8, later boolean)
  RETURNS float8[] LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN s IS NULL OR (later AND extract(epoch FROM t) > s[1])
                 OR (NOT later AND extract(epoch FROM t) < s[1])
              THEN ARRAY[extract(epoch FROM t)::float8, v] ELSE s END $$;
CREATE FUNCTION tsshim.first_f(s float8[], v float8, t timestamptz) RETURNS float8[]
  LANGUAGE sql IMMUTABLE AS 'SELECT tsshim.pick(s, t, v, false)';
CREATE FUNCTION tsshim.last_f(s float8[], v float8, t timestamptz) RETURNS float8[]
  LANGUAGE sql IMMUTABLE AS 'SELECT tsshim.pick(s, t, v, true)';
CREATE FUNCTION tsshim.first_i(s float8[], v bigint, t timestamptz) RETURNS float8[]
  LANGUAGE sql IMMUTABLE AS 'SELECT tsshim.pick(s, t, v::float8, false)';
CREATE FUNCTION tsshim.last_i(s float8[], v bigint, t timestamptz) RETURNS float8[]
  LANGUAGE sql IMMUTABLE AS 'SELECT tsshim.pick(s, t, v::float8, true)';
CREATE FUNCTION tsshim.value_f(s float8[]) RETURNS float8 LANGUAGE sql IMMUTABLE
  AS 'SELECT s[2]';
CREATE FUNCTION tsshim.value_i(s float8[]) RETURNS bigint LANGUAGE sql IMMUTABLE
  AS 'SELECT s[2]::bigint';
CREATE AGGREGATE tsshim.first(float8, timestamptz)
  (sfunc = tsshim.first_f, stype = float8[], finalfunc = tsshim.value_f);
CREATE AGGREGATE tsshim.last(float8, timestamptz)
  (sfunc = tsshim.last_f, stype = float8[], finalfunc = tsshim.value_f);
CREATE AGGREGATE tsshim.first(bigint, timestamptz)
  (sfunc = tsshim.first_i, stype = float8[], finalfunc = tsshim.value_i);
CREATE AGGREGATE tsshim.last(bigint, timestamptz)
  (sfunc = tsshim.last_i, stype = float8[], finalfunc = tsshim.value_i);
CREATE TABLE tsshim.policies (view regclass, start_offset interval, end_offset interval,
                              schedule_interval interval);
CREATE FUNCTION tsshim.add_continuous_aggregate_policy(
    continuous_aggregate regclass, start_offset interval, end_offset interval,
    schedule_interval interval, if_not_exists boolean DEFAULT false) RETURNS integer
  LANGUAGE sql AS $$
  INSERT INTO tsshim.policies VALUES ($1, $2, $3, $4);
  SELECT count(*)::int FROM tsshim.policies $$;
"""
FORCED = "IF NOT hypertable THEN"
TIMESCALE_OPTIONS = " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS"


async def _migrated(dsn: str) -> asyncpg.Connection:
    applied = await run_migrations(dsn, "history", MIGRATIONS)
    assert "006_ohlcv_aggregates.sql" in applied
    conn = await asyncpg.connect(dsn)
    await conn.execute("SET search_path = history, tsshim, public")
    return conn


async def test_aggregates_migration_is_a_no_op_on_plain_postgresql(pg_dsn: str):
    conn = await _migrated(pg_dsn)
    try:
        assert not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
        assert await conn.fetchval("SELECT count(*) FROM pg_matviews") == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'ohlcv\\_%minute'"
            " OR relname = 'ohlcv_day'") == 0
        assert await conn.fetchval("SELECT to_regclass('history.ohlcv') IS NOT NULL")
    finally:
        await conn.close()


def _session_bars(day: datetime, rng: random.Random) -> list[tuple]:
    """A normal session of minute bars, 09:15-15:29 IST, random but self-consistent."""
    out, price = [], 1500.0
    for i in range(375):
        o = price
        c = round(o + rng.uniform(-2, 2), 2)
        out.append((TOKEN, "minute", day + timedelta(minutes=i), "EQUITY", o,
                    max(o, c) + rng.uniform(0, 1), min(o, c) - rng.uniform(0, 1), c,
                    rng.randrange(0, 5000), rng.randrange(0, 10**6), i % 97 == 0))
        price = c
    return out


async def test_aggregates_timescale_branch_builds_the_bars_history_serves(pg_dsn: str):
    assert SQL.count(FORCED) == 1 and SQL.count(TIMESCALE_OPTIONS) == 1
    conn = await _migrated(pg_dsn)
    try:
        await conn.execute(SHIMS)
        rng = random.Random(16)
        rows = [r for d in (datetime(2026, 3, 4, 9, 15, tzinfo=IST),
                            datetime(2026, 3, 5, 9, 15, tzinfo=IST))
                for r in _session_bars(d, rng)]
        await conn.copy_records_to_table(
            "ohlcv", schema_name="history", records=rows,
            columns=["instrument_token", "interval", "ts", "segment", "open", "high", "low",
                     "close", "volume", "oi", "provisional"])
        branch = SQL.replace(FORCED, "IF false THEN").replace(TIMESCALE_OPTIONS, " AS")
        async with conn.transaction():  # as the migration runner applies a file
            await conn.execute(branch)
        policies = await conn.fetch(
            "SELECT view::text, start_offset, end_offset FROM tsshim.policies ORDER BY 1")
        assert {p["view"]: p["end_offset"] for p in policies} == {
            "ohlcv_15minute": timedelta(minutes=15), "ohlcv_5minute": timedelta(minutes=5),
            "ohlcv_60minute": timedelta(hours=1), "ohlcv_day": timedelta(days=1)}
        assert all(p["start_offset"] is None for p in policies)  # all history materialized
        for view, interval in VIEWS.items():
            await conn.execute(f"REFRESH MATERIALIZED VIEW {view}")
            got = await conn.fetch(
                f"SELECT bucket, open, high, low, close, volume, oi, bars, provisional"
                f" FROM {view} WHERE instrument_token = $1 ORDER BY bucket", TOKEN)
            want = await conn.fetch(reader.select_sql(TOKEN, "minute", None, None,
                                                      resample_to=interval))
            assert [tuple(g.values())[:7] for g in got] == [tuple(w.values()) for w in want], \
                view
            assert sum(g["bars"] for g in got) == len(rows), view
            # every 97th bar came from ticks: some intraday buckets hold one, each day does
            assert {g["provisional"] for g in got} == (
                {True} if view == "ohlcv_day" else {True, False}), view
        sixty = await conn.fetch("SELECT bucket FROM ohlcv_60minute ORDER BY bucket LIMIT 7")
        assert [b["bucket"].astimezone(IST).strftime("%H:%M") for b in sixty] == [
            "09:15", "10:15", "11:15", "12:15", "13:15", "14:15", "15:15"]  # Kite's 60minute
        days = await conn.fetch("SELECT bucket, bars FROM ohlcv_day ORDER BY bucket")
        assert [(d["bucket"].astimezone(IST).isoformat(), d["bars"]) for d in days] == [
            ("2026-03-04T00:00:00+05:30", 375), ("2026-03-05T00:00:00+05:30", 375)]
    finally:
        await conn.close()
