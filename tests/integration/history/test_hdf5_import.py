"""The user's HDF5 stores imported into PostgreSQL: each layout pandas and PyTables write
(fixed, table, plain table, several keys in one file) lands as the same bars (paise exact);
bad rows are skipped by the reasons fetched bars are; a corrupt file is refused naming `file`
with nothing stored; the HDF5 export reads back to the stored bars; the CLI reports.

Real parts: a HistoryApp (the CLI's wiring: migrations, pool, instrument master from kitesim
over the real kiteconnect client) on a fresh PostgreSQL database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytest_asyncio

from mandi.core.errors import InvalidInput
from mandi.platform.config import load_settings
from mandi.testing.hdf5_files import (
    day_bars,
    expected_rows,
    minute_bars,
    write_pandas,
    write_pytables,
)
from mandi.testing.kitesim import KitesimServer, start_kitesim
from mandi.testing.pg import fresh_database
from services.history import fileio, reader
from services.history.app import HistoryApp
from services.history.hdf5_import import import_hdf5
from services.history.hdf5_reader import Override

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
ROOT = Path(__file__).resolve().parents[3]
DAY = "2025-11-18"  # a Tuesday before kitesim's clock (2025-11-20 10:00 IST)
WEEK = ["2025-11-10", "2025-11-11", "2025-11-12", "2025-11-13", "2025-11-14"]


@pytest.fixture(scope="module")
def sim() -> Iterator[KitesimServer]:
    server = start_kitesim(seed=9, rate_limits=False, api_key=f"h5i_{uuid.uuid4().hex[:10]}")
    server.login()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def env(sim: KitesimServer) -> Iterator[dict[str, str]]:
    yield {"MANDI_KITE_ROOT": sim.url, "MANDI_KITE_API_KEY": sim.api_key,
           "MANDI_KITE_API_SECRET": sim.api_secret, "MANDI_CLOCK": "sim",
           "MANDI_SHUTDOWN_GRACE_S": "1"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(env: dict[str, str]) -> AsyncIterator[HistoryApp]:
    async with fresh_database() as dsn:
        env["MANDI_PG_DSN"] = dsn
        a = HistoryApp(load_settings(env), workers=False)
        await a.start()
        await a.instruments_ready()
        try:
            yield a
        finally:
            await a.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def fresh(app: HistoryApp) -> HistoryApp:
    await app.pool.execute("TRUNCATE ohlcv")
    return app


async def stored(app: HistoryApp, exchange: str, symbol: str, interval: str) -> list[tuple]:
    inst = await app.master.lookup(exchange, symbol)
    f = await reader.read(app.pool, inst.instrument_token, interval, None, None)
    paise = [np.round(getattr(f, c) * 100).astype(np.int64) for c in ("open", "high", "low",
                                                                       "close")]
    return [tuple(int(x) for x in row) for row in zip(f.ts, *paise, f.volume, strict=True)]


async def total_rows(app: HistoryApp) -> int:
    return await app.pool.fetchval("SELECT count(*) FROM ohlcv")


INFY_MIN = minute_bars(DAY, 375, 1530.0, seed=3)
TCS_DAY = day_bars(WEEK, 3120.0, seed=4)
SBIN_MIN = minute_bars(DAY, 120, 960.0, seed=5)


@pytest.mark.parametrize(("layout", "key", "series"), [
    ("fixed", "/NSE/INFY/minute", ("NSE", "INFY", "minute")),
    ("table", "/equity/NSE_INFY_minute", ("NSE", "INFY", "minute")),
    ("pytables", "/INFY", ("NSE", "INFY", "minute")),  # exchange from EQUITY, interval inferred
])
async def test_import_when_one_layout_stores_the_source_bars_exactly(
        fresh: HistoryApp, tmp_path: Path, layout: str, key: str, series: tuple) -> None:
    path = tmp_path / "EQUITY.h5"
    if layout == "pytables":
        write_pytables(path, key, INFY_MIN)
    else:
        write_pandas(path, {key: INFY_MIN}, layout)
    result = await import_hdf5(fresh, path)
    [ds] = result["datasets"]
    assert (ds["key"], ds["exchange"], ds["symbol"], ds["interval"]) == (key, *series)
    assert ds["layout"] == {"fixed": "pandas-fixed", "table": "pandas-table",
                            "pytables": "pytables-table"}[layout]
    assert (ds["rows"], ds["imported"], ds["skipped"], ds["error"]) == (375, 375, 0, "")
    assert result["segment"] == "EQUITY" and result["rows_imported"] == 375
    assert await stored(fresh, *series) == expected_rows(INFY_MIN)


async def test_import_when_several_keys_reports_each_and_stores_the_good_ones(
        fresh: HistoryApp, tmp_path: Path) -> None:
    path = tmp_path / "EQUITY.h5"
    bad = SBIN_MIN.copy()
    bad.iloc[7, bad.columns.get_loc("High")] = bad.iloc[7]["Low"] - 1  # high < low
    write_pandas(path, {"/NSE/INFY/minute": INFY_MIN, "/NSE/TCS/day": TCS_DAY}, "fixed")
    write_pandas(path, {"/NSE/SBIN/minute": bad, "/NSE/NOSUCHCO/day": TCS_DAY,
                        "/NSE/WIPRO/day": INFY_MIN[["Open", "High", "Low"]]}, "table")
    write_pandas(path, {"/notes/closes": INFY_MIN["Close"]}, "fixed")  # a Series, not bars
    result = await import_hdf5(fresh, path)
    by_key = {d["key"]: d for d in result["datasets"]}
    assert set(by_key) == {"/NSE/INFY/minute", "/NSE/TCS/day", "/NSE/SBIN/minute",
                           "/NSE/NOSUCHCO/day", "/NSE/WIPRO/day", "/notes/closes"}
    assert by_key["/NSE/TCS/day"]["imported"] == 5
    sbin = by_key["/NSE/SBIN/minute"]
    assert (sbin["imported"], sbin["skipped"], sbin["skipped_reasons"]) == (
        119, 1, {"high < low": 1})
    assert "NSE:NOSUCHCO" in by_key["/NSE/NOSUCHCO/day"]["error"]
    assert "close" in by_key["/NSE/WIPRO/day"]["error"]
    assert by_key["/notes/closes"]["error"] and by_key["/notes/closes"]["imported"] == 0
    assert result["rows_imported"] == 375 + 5 + 119
    assert await stored(fresh, "NSE", "TCS", "day") == expected_rows(TCS_DAY)
    assert await stored(fresh, "NSE", "SBIN", "minute") == expected_rows(bad.drop(bad.index[7]))
    assert await stored(fresh, "NSE", "WIPRO", "day") == []
    # the same file again: every bar is already there, nothing is lost or doubled
    again = await import_hdf5(fresh, path)
    assert again["rows_imported"] == 0
    assert await total_rows(fresh) == 375 + 5 + 119


async def test_import_when_derivatives_file_keeps_oi_and_defaults_to_nfo(
        fresh: HistoryApp, tmp_path: Path) -> None:
    fut = await fresh.pool.fetchval(
        "SELECT tradingsymbol FROM instruments WHERE exchange = 'NFO' AND instrument_type = 'FUT'"
        " AND active ORDER BY expiry LIMIT 1")
    bars = TCS_DAY.copy()
    bars["OI"] = [1500, 1650, 1800, 1725, 1900]
    path = write_pandas(tmp_path / "DERIVATIVES.h5", {f"/{fut}/day": bars}, "table")
    result = await import_hdf5(fresh, path)
    [ds] = result["datasets"]
    assert (result["segment"], ds["exchange"], ds["symbol"], ds["imported"]) == (
        "DERIVATIVES", "NFO", fut, 5)
    assert ds["notes"] == ["exchange NFO assumed for segment DERIVATIVES"]
    inst = await fresh.master.lookup("NFO", fut)
    f = await reader.read(fresh.pool, inst.instrument_token, "day", None, None)
    assert f.oi.tolist() == [1500, 1650, 1800, 1725, 1900]
    assert await stored(fresh, "NFO", fut, "day") == expected_rows(bars.drop(columns="OI"))


async def test_import_when_mapping_names_the_series_it_wins_over_the_key(
        fresh: HistoryApp, tmp_path: Path) -> None:
    path = write_pandas(tmp_path / "mine.h5", {"/store/s1": SBIN_MIN, "/store/s2": TCS_DAY},
                        "table")
    result = await import_hdf5(fresh, path, overrides={
        "/store/s1": Override(exchange="BSE", symbol="SBIN"), "store/s2": Override(skip=True)})
    s1, s2 = result["datasets"]
    assert (s1["exchange"], s1["symbol"], s1["interval"], s1["imported"]) == (
        "BSE", "SBIN", "minute", 120)
    assert s2["error"] == "skipped by the mapping" and s2["imported"] == 0
    assert await stored(fresh, "BSE", "SBIN", "minute") == expected_rows(SBIN_MIN)
    with pytest.raises(InvalidInput) as err:
        await import_hdf5(fresh, path, overrides={"/store/nope": Override(symbol="X")})
    assert err.value.field == "mapping" and "/store/nope" in str(err.value)


async def test_import_when_dry_run_reports_and_stores_nothing(
        fresh: HistoryApp, tmp_path: Path) -> None:
    path = write_pandas(tmp_path / "EQUITY.h5", {"/NSE/INFY/minute": INFY_MIN}, "fixed")
    result = await import_hdf5(fresh, path, dry_run=True)
    assert result["dry_run"] is True and result["datasets"][0]["imported"] == 375
    assert await total_rows(fresh) == 0


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


async def test_import_when_file_corrupt_refuses_naming_file_and_stores_nothing(
        fresh: HistoryApp, tmp_path: Path) -> None:
    good = write_pandas(tmp_path / "good.h5", {"/NSE/INFY/minute": INFY_MIN,
                                               "/NSE/TCS/day": TCS_DAY}, "table")
    await import_hdf5(fresh, write_pandas(tmp_path / "pre.h5", {"/NSE/SBIN/minute": SBIN_MIN},
                                          "fixed"))
    before = await stored(fresh, "NSE", "SBIN", "minute")
    junk = tmp_path / "noise.h5"
    junk.write_bytes(os.urandom(1 << 20))
    for path in (_truncated(good, tmp_path / "EQUITY.h5"), junk):
        with pytest.raises(InvalidInput) as err:
            await import_hdf5(fresh, path)
        assert err.value.field == "file"
        assert "HDF5" in str(err.value) and str(tmp_path) not in str(err.value)
    assert await total_rows(fresh) == len(before)
    assert await stored(fresh, "NSE", "SBIN", "minute") == before


async def test_export_hdf5_when_imported_back_gives_the_stored_bars(
        fresh: HistoryApp, tmp_path: Path) -> None:
    await import_hdf5(fresh, write_pandas(tmp_path / "a.h5", {"/NSE/M&M/minute": INFY_MIN},
                                          "fixed"))
    inst = await fresh.master.lookup("NSE", "M&M")
    frame = await reader.read(fresh.pool, inst.instrument_token, "minute", None, None)
    data = fileio.export(frame, "hdf5", series=("NSE", "M&M", "minute"))
    assert data[:8] == b"\x89HDF\r\n\x1a\n"
    with pd.HDFStore(write_bytes(tmp_path / "out.h5", data), mode="r") as store:
        assert store.keys() == ["/NSE/M&M/minute"]
        assert str(store.get("/NSE/M&M/minute").index.tz) == "Asia/Kolkata"
    await fresh.pool.execute("TRUNCATE ohlcv")
    result = await import_hdf5(fresh, tmp_path / "out.h5")
    assert result["datasets"][0]["symbol"] == "M&M"
    assert await stored(fresh, "NSE", "M&M", "minute") == expected_rows(INFY_MIN)


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.history.hdf5_import", *args],
                          cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)


async def test_cli_when_dry_run_prints_the_report_and_junk_exits_2(
        fresh: HistoryApp, env: dict[str, str], tmp_path: Path) -> None:
    path = write_pandas(tmp_path / "EQUITY.h5", {"/equity/NSE_TCS_day": TCS_DAY}, "table")
    done = _cli(env, str(path), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["dry_run"] is True and report["segment"] == "EQUITY"
    assert [(d["symbol"], d["interval"], d["imported"]) for d in report["datasets"]] == [
        ("TCS", "day", 5)]
    done = _cli(env, str(path))
    assert done.returncode == 0, done.stderr
    assert "rows imported: 5" in done.stdout
    assert await stored(fresh, "NSE", "TCS", "day") == expected_rows(TCS_DAY)
    junk = write_bytes(tmp_path / "DERIVATIVES.h5", b"not hdf5 at all\n" * 100)
    done = _cli(env, str(junk))
    assert done.returncode == 2 and "file" in done.stderr and "HDF5" in done.stderr
