"""`POST /api/data/import-hdf5` (seeds 000/001: the user's EQUITY.h5 / DERIVATIVES.h5) and
`format=hdf5` on the export: over the real gateway, history service and PostgreSQL. A
trader may import; a viewer may not; a corrupt upload is a 400 naming `file` that stores
nothing; an exported file imports back to the same bars."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from mandi.testing.gateway_auth import GatewayLogin
from mandi.testing.hdf5_files import day_bars, expected_rows, minute_bars, write_pandas
from services.history.hdf5_reader import read_hdf5

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
DAY = "2025-11-18"
WEEK = ["2025-11-10", "2025-11-11", "2025-11-12", "2025-11-13", "2025-11-14"]
SPAN = {"from_date": "2025-11-10", "to_date": "2025-11-18"}
HDFC_MIN = minute_bars(DAY, 90, 995.0, seed=7)
ITC_DAY = day_bars(WEEK, 405.0, seed=8)
PASSWORD = "hdf5-trader-password-1"


async def stored(http: httpx.AsyncClient, exchange: str, symbol: str,
                 interval: str) -> list[tuple]:
    r = await http.get(f"/api/data/candles/{exchange}/{symbol}/{interval}", params=SPAN)
    assert r.status_code == 200, r.text
    return [(int(pd.Timestamp(c["date"]).value // 1_000_000),
             *(round(c[k] * 100) for k in ("open", "high", "low", "close")), c["volume"])
            for c in r.json()["candles"]]


async def user(stack, name: str, role: str) -> httpx.AsyncClient:
    r = await stack.http.post("/api/v1/users", json={"username": name, "password": PASSWORD,
                                                     "role": role})
    assert r.status_code in (200, 201), r.text
    return httpx.AsyncClient(base_url=str(stack.http.base_url), timeout=120,
                             auth=GatewayLogin(name, PASSWORD))


async def test_import_hdf5_when_trader_uploads_several_keys_stores_and_reports_each(
        stack, tmp_path: Path) -> None:
    path = write_pandas(tmp_path / "EQUITY.h5", {"/NSE/HDFCBANK/minute": HDFC_MIN}, "fixed")
    write_pandas(path, {"/equity/NSE_ITC_day": ITC_DAY, "/misc/x": ITC_DAY}, "table")
    # 4 MB of something else: the upload reaches history in several 1 MiB messages
    write_pandas(path, {"/misc/noise": pd.Series(np.random.default_rng(0).random(500_000))},
                 "fixed")
    assert path.stat().st_size > 4_000_000
    async with await user(stack, "hdf5_trader", "trader") as trader:
        r = await trader.post("/api/data/import-hdf5",
                              files={"file": ("EQUITY.h5", path.read_bytes())},
                              data={"mapping": json.dumps({"/misc/x": None})})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["success"], body["segment"], body["rows_imported"]) == (True, "EQUITY", 95)
    got = {d["key"]: (d["layout"], d["symbol"], d["interval"], d["imported"], d["error"])
           for d in body["datasets"]}
    assert got == {
        "/NSE/HDFCBANK/minute": ("pandas-fixed", "HDFCBANK", "minute", 90, None),
        "/equity/NSE_ITC_day": ("pandas-table", "ITC", "day", 5, None),
        "/misc/x": ("pandas-table", "X", "day", 0, "skipped by the mapping"),
        "/misc/noise": ("pandas-series", "NOISE", None, 0,
                        "not a table (an array or a pandas series); nothing to import")}
    assert await stored(stack.http, "NSE", "HDFCBANK", "minute") == expected_rows(HDFC_MIN)
    assert await stored(stack.http, "NSE", "ITC", "day") == expected_rows(ITC_DAY)


async def test_import_hdf5_when_viewer_is_403_and_bad_input_400_naming_the_field(
        stack, tmp_path: Path) -> None:
    good = write_pandas(tmp_path / "g.h5", {"/NSE/TITAN/day": ITC_DAY}, "fixed").read_bytes()
    async with await user(stack, "hdf5_viewer", "viewer") as viewer:
        r = await viewer.post("/api/data/import-hdf5", files={"file": ("EQUITY.h5", good)})
    assert r.status_code == 403, r.text
    cases = [
        ({"file": ("EQUITY.h5", good[: len(good) // 2])}, {}, "file"),  # truncated
        ({"file": ("EQUITY.h5", b"date,open,high\n1,2,3\n")}, {}, "file"),  # not HDF5
        ({"file": ("EQUITY.h5", good)}, {"segment": "MCX"}, "segment"),
        ({"file": ("EQUITY.h5", good)}, {"mapping": "[1, 2]"}, "mapping"),
        ({"file": ("EQUITY.h5", good)}, {"mapping": '{"/nope": {"symbol": "X"}}'}, "mapping"),
    ]
    for files, data, field in cases:
        r = await stack.http.post("/api/data/import-hdf5", files=files, data=data)
        assert r.status_code == 400, r.text
        assert r.json()["error_type"] == "validation" and field in r.json()["error"], r.text
    assert await stored(stack.http, "NSE", "TITAN", "day") == []  # nothing stored


async def test_export_when_format_hdf5_imports_back_to_the_same_bars(
        stack, tmp_path: Path) -> None:
    path = write_pandas(tmp_path / "EQUITY.h5", {"/NSE/TITAN/minute": HDFC_MIN}, "table")
    r = await stack.http.post("/api/data/import-hdf5",
                              files={"file": ("EQUITY.h5", path.read_bytes())})
    assert r.status_code == 200 and r.json()["rows_imported"] == 90, r.text
    r = await stack.http.get("/api/data/export/NSE/TITAN/minute",
                             params={**SPAN, "format": "hdf5"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-hdf5"
    assert 'filename="NSE_TITAN_minute.h5"' in r.headers["content-disposition"]
    exported = tmp_path / "export.h5"
    exported.write_bytes(r.content)
    [ds] = read_hdf5(exported)
    assert (ds.key, ds.symbol, ds.interval, ds.rows) == ("/NSE/TITAN/minute", "TITAN",
                                                         "minute", 90)
    r = await stack.http.delete("/api/data/candles/NSE/TITAN", params={"interval": "minute"})
    assert r.status_code == 200 and r.json()["deleted"] == 90, r.text
    r = await stack.http.post("/api/data/import-hdf5",
                              files={"file": ("export.h5", exported.read_bytes())},
                              data={"segment": "EQUITY"})
    assert r.status_code == 200 and r.json()["rows_imported"] == 90, r.text
    assert await stored(stack.http, "NSE", "TITAN", "minute") == expected_rows(HDFC_MIN)
