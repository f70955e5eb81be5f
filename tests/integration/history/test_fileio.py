"""fileio with the store: exports of stored bars, imports that round-trip through PostgreSQL,
and garbage that fails fast with InvalidInput while nothing stored changes."""

from __future__ import annotations

import io
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import pytest_asyncio
from openpyxl import load_workbook

from mandi.core.calendar import session_open, trading_days
from mandi.core.candles import CandleFrame, to_ms
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.pg import fresh_database
from services.history import fileio, reader
from services.history.store import CandleStore
from services.history.validation import validate

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "history" / "migrations"
INFY = 408065
NOW = datetime(2024, 6, 1, tzinfo=UTC)
DAYS = trading_days(date(2024, 1, 1), date(2024, 1, 5))


def stored_frame() -> CandleFrame:
    ts = np.concatenate([to_ms(session_open(d)) + np.arange(375) * 60_000 for d in DAYS])
    n = len(ts)
    close = 1500 + np.round(np.sin(np.arange(n) / 50) * 20, 2)
    return CandleFrame(ts=ts, open=close, high=close + 0.35, low=close - 0.4, close=close,
                       volume=np.arange(n) * 3, oi=np.zeros(n, dtype=np.int64))


FRAME = stored_frame()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool() -> AsyncIterator[asyncpg.Pool]:
    async with fresh_database() as dsn:
        await run_migrations(dsn, "history", MIGRATIONS)
        p = await create_pool(dsn, schema="history", max_size=4)
        try:
            yield p
        finally:
            await p.close()


@pytest_asyncio.fixture(loop_scope="module")
async def store(pool: asyncpg.Pool) -> CandleStore:
    await pool.execute("TRUNCATE ohlcv")
    s = CandleStore(pool)
    await s.write(INFY, "minute", FRAME, overwrite=False)
    return s


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_import_when_file_was_exported_from_store_round_trips_exactly(
    store: CandleStore, pool: asyncpg.Pool, fmt: str
) -> None:
    stored = await reader.read(pool, INFY, "minute", None, None)
    data = fileio.export(stored, fmt)
    await store.delete(INFY, "minute")
    frame = fileio.import_file(data, fmt)
    valid, issues = validate(frame, interval="minute", segment="EQUITY", now=NOW)
    assert issues == {}
    assert await store.write(INFY, "minute", valid, overwrite=False) == len(FRAME)
    assert (await reader.read(pool, INFY, "minute", None, None)).equals(FRAME)


async def test_export_when_csv_writes_ist_timestamps_with_offset(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    stored = await reader.read(pool, INFY, "minute", None, session_open(DAYS[0]).replace(
        hour=9, minute=17))
    lines = fileio.export(stored, "csv").decode().splitlines()
    assert lines[0] == "date,open,high,low,close,volume,oi"
    assert lines[1].startswith("2024-01-01T09:15:00+05:30,1500,1500.35,1499.6,1500,0,0")
    assert len(lines) == 3


async def test_export_when_json_gives_records_with_exact_prices(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    records = json.loads(fileio.export(await reader.read(pool, INFY, "minute", None, None),
                                       "json"))
    assert len(records) == len(FRAME)
    assert records[100] == {
        "date": "2024-01-01T10:55:00+05:30", "open": float(FRAME.open[100]),
        "high": float(FRAME.high[100]), "low": float(FRAME.low[100]),
        "close": float(FRAME.close[100]), "volume": 300, "oi": 0}


async def test_export_when_excel_sheet_has_header_and_ist_strings(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    stored = await reader.read(pool, INFY, "minute", None, session_open(DAYS[1]))
    sheet = load_workbook(io.BytesIO(fileio.export(stored, fileio.format_name(2)))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("date", "open", "high", "low", "close", "volume", "oi")
    assert rows[-1][0] == "2024-01-01T15:29:00+05:30" and len(rows) == 376


async def test_export_when_parquet_timestamps_are_typed_in_kolkata(
    store: CandleStore, pool: asyncpg.Pool
) -> None:
    data = fileio.export(await reader.read(pool, INFY, "minute", None, None), "parquet")
    table = pq.read_table(pa.BufferReader(data))
    assert table.schema.field("date").type == pa.timestamp("ms", tz="Asia/Kolkata")
    assert table.num_rows == len(FRAME)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_import_when_10mb_random_bytes_fails_clearly_and_store_unchanged(
    store: CandleStore, fmt: str
) -> None:
    junk = np.random.default_rng(1).bytes(10 << 20)
    with pytest.raises(InvalidInput) as err:
        fileio.import_file(junk, fmt)
    assert err.value.field == "data" and ("not a CSV" in err.value.message
                                          or "not a Parquet" in err.value.message)
    assert await store.count(INFY, "minute") == len(FRAME)


async def test_import_when_parquet_magic_right_but_body_corrupt_raises_invalid_input() -> None:
    good = fileio.export(FRAME, "parquet")
    corrupt = good[:4] + os.urandom(len(good) - 8) + good[-4:]
    with pytest.raises(InvalidInput) as err:
        fileio.import_file(corrupt, "parquet")
    assert err.value.field == "data"


async def test_import_when_csv_has_naive_times_reads_them_as_ist() -> None:
    data = b"Date,Open,High,Low,Close,Volume\n2024-01-02 09:15:00,10,11,9,10.5,100\n"
    frame = fileio.import_file(data, "csv")
    assert frame.datetimes()[0] == datetime(2024, 1, 2, 9, 15, tzinfo=IST)
    assert frame.oi.tolist() == [0]


async def test_import_when_csv_is_kite_style_without_header_reads_positionally() -> None:
    data = (b"2024-01-02T09:15:00+0530,10,11,9,10.5,100,7\n"
            b"2024-01-02T09:16:00+05:30,10.5,11,10,10.75,50,8\n")
    frame = fileio.import_file(data, "csv")
    assert [t.astimezone(IST).strftime("%H:%M") for t in frame.datetimes()] == ["09:15", "09:16"]
    assert frame.oi.tolist() == [7, 8] and frame.close.tolist() == [10.5, 10.75]


async def test_import_when_csv_has_epoch_seconds_converts_to_ms() -> None:
    secs = to_ms(datetime(2024, 1, 2, 9, 15, tzinfo=IST)) // 1000
    frame = fileio.import_file(f"timestamp,open,high,low,close,volume\n{secs},1,2,0.5,1,3\n"
                               .encode(), "csv")
    assert frame.ts.tolist() == [secs * 1000]


@pytest.mark.parametrize(("body", "field", "words"), [
    (b"date,open,high,low,close,volume\n2024-01-02 09:15,1,x,0.5,1,3\n", "high", "line 2"),
    (b"date,open,high,low,close,volume\n2024-01-02 09:15,1,2,0.5,1,3.5\n", "volume", "whole"),
    (b"date,open,high,low,close,volume\nnot-a-date,1,2,0.5,1,3\n", "date", "line 2"),
    (b"date,open,high,close,volume\n2024-01-02 09:15,1,2,1,3\n", "low", "missing column"),
    (b"when,open,high,low,close,volume\n2024-01-02 09:15,1,2,0.5,1,3\n", "date", "timestamp"),
    (b"date,open,high,low,close,volume\n", "data", "no rows"),
    (b"", "data", "empty"),
])
async def test_import_when_csv_content_is_bad_raises_invalid_input_naming_field(
    body: bytes, field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        fileio.import_file(body, "csv")
    assert err.value.field == field and words in err.value.message


async def test_import_when_format_is_excel_raises_invalid_input_on_format() -> None:
    with pytest.raises(InvalidInput) as err:
        fileio.import_file(b"x", "xlsx")
    assert err.value.field == "format"


async def test_format_name_when_proto_enum_or_alias_maps_to_canonical() -> None:
    assert [fileio.format_name(v) for v in (1, 2, 3, 4, "Excel", ".CSV")] == [
        "csv", "xlsx", "json", "parquet", "xlsx", "csv"]
    assert fileio.filename("NSE_INFY_minute", 2) == "NSE_INFY_minute.xlsx"
    with pytest.raises(InvalidInput):
        fileio.format_name(0)
