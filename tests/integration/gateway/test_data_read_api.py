"""Reading stored bars through the gateway: /candles (JSON, CSV, Parquet, resampled), /export (CSV,
Excel, JSON, Parquet, each read back), /lookup and /search — against bars this module wrote by
hand (WriteCandles) and bars fetched from kitesim, compared with kitesim's own raw answer."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pyarrow.parquet as pq
import pytest
import pytest_asyncio
from openpyxl import load_workbook

from mandi.v1 import history_pb2
from tests.integration.gateway.kit import candle, kitesim_candles, kitesim_token, token_of

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

# Five minute bars of TCS on Mon 2024-03-04, written by hand
# (date, open, high, low, close, volume)
BARS = [
    ("2024-03-04T09:15:00+05:30", 100.0, 101.5, 99.5, 101.0, 1000),
    ("2024-03-04T09:16:00+05:30", 101.0, 102.0, 100.5, 101.75, 1500),
    ("2024-03-04T09:17:00+05:30", 101.75, 103.25, 101.25, 102.5, 800),
    ("2024-03-04T09:18:00+05:30", 102.5, 102.75, 100.0, 100.25, 2200),
    ("2024-03-04T09:19:00+05:30", 100.25, 101.0, 99.75, 100.8, 500),
]
# resampled to one 5-minute bar: first open 100.0; high max(101.5, 102, 103.25, 102.75, 101)
# = 103.25; low min(99.5, 100.5, 101.25, 100, 99.75) = 99.5; last close 100.8;
# volume 1000 + 1500 + 800 + 2200 + 500 = 6000
FIVE = ("2024-03-04T09:15:00+05:30", 100.0, 103.25, 99.5, 100.8, 6000)
DAY = {"from_date": "2024-03-04", "to_date": "2024-03-04"}


def rows(candles: list[dict]) -> list[tuple]:
    return [(c["date"], c["open"], c["high"], c["low"], c["close"], c["volume"])
            for c in candles]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stored(stack):
    token = await token_of(stack, "NSE", "TCS")
    resp = await stack.history.WriteCandles(history_pb2.WriteCandlesRequest(
        instrument_token=token, interval="minute",
        candles=[candle(d[:16].replace("T", " "), *v) for d, *v in BARS]))
    assert (resp.written, resp.rows_invalid) == (5, 0)
    return stack


async def test_candles_when_json_answers_the_stored_bars(stored) -> None:
    r = await stored.http.get("/api/data/candles/NSE/TCS/minute", params=DAY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["count"] == 5
    assert rows(body["candles"]) == BARS
    assert {c["oi"] for c in body["candles"]} == {0}


async def test_candles_when_csv_answers_the_stored_bars(stored) -> None:
    r = await stored.http.get("/api/data/candles/NSE/TCS/minute",
                              params={**DAY, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="TCS_minute.csv"' in r.headers["content-disposition"]
    got = list(csv.DictReader(io.StringIO(r.text)))
    assert [(g["date"], float(g["open"]), float(g["high"]), float(g["low"]), float(g["close"]),
             int(g["volume"])) for g in got] == BARS


async def test_candles_when_parquet_answers_the_stored_bars(stored) -> None:
    r = await stored.http.get("/api/data/candles/NSE/TCS/minute",
                              params={**DAY, "format": "parquet"})
    assert r.status_code == 200, r.text
    table = pq.read_table(io.BytesIO(r.content)).to_pylist()
    assert [(t["date"].isoformat(), t["open"], t["high"], t["low"], t["close"], t["volume"])
            for t in table] == BARS


async def test_candles_when_resampled_to_5min_answers_the_hand_aggregate(stored) -> None:
    r = await stored.http.get("/api/data/candles/NSE/TCS/minute",
                              params={**DAY, "resample": "5minute"})
    assert rows(r.json()["candles"]) == [FIVE]


async def test_candles_when_fetched_from_kitesim_equal_kitesim_answer(stored) -> None:
    http = stored.http
    span = {"from_date": "2024-12-02", "to_date": "2024-12-06"}
    fetched = await http.post("/api/data/fetch-equity",
                              json={"symbol": "INFY", "interval": "day", **span})
    assert fetched.status_code == 200, fetched.text
    theirs = kitesim_candles(stored.sim, "NSE", "INFY", "day", "2024-12-02", "2024-12-06")
    assert len(theirs) == 5  # Mon 2 … Fri 6 Dec 2024
    ours = (await http.get("/api/data/candles/NSE/INFY/day", params=span)).json()["candles"]
    assert [(datetime.fromisoformat(c["date"]), c["open"], c["high"], c["low"], c["close"],
             c["volume"]) for c in ours] == [
        (datetime.fromisoformat(t[0]), *t[1:6]) for t in theirs]


@pytest.mark.parametrize(("path", "params", "status", "field"), [
    ("/api/data/candles/NSE/TCS/minute", {**DAY, "format": "xml"}, 400, "format"),
    ("/api/data/candles/NSE/TCS/minute", {"from_date": "2024-03-05", "to_date": "2024-03-04"},
     400, "from_date"),
    ("/api/data/candles/NSE/TCS/minute", {"from_date": "2024-03-04"}, 400, "to_date"),
    ("/api/data/candles/NSE/NOSUCHCO/minute", DAY, 404, "NOSUCHCO"),
    ("/api/data/export/NSE/TCS/minute", {**DAY, "format": "xml"}, 400, "format"),
    ("/api/data/export/MCX/TCS/minute", DAY, 400, "exchange"),
])
async def test_read_endpoints_when_input_bad_answer_4xx_naming_it(
    stored, path: str, params: dict, status: int, field: str,
) -> None:
    r = await stored.http.get(path, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and field in body["error"]


async def test_export_when_csv_reads_back_the_stored_bars(stored) -> None:
    r = await stored.http.get("/api/data/export/NSE/TCS/minute",
                              params={**DAY, "format": "csv"})
    assert r.status_code == 200 and 'filename="NSE_TCS_minute.csv"' in \
        r.headers["content-disposition"]
    got = list(csv.DictReader(io.StringIO(r.text)))
    assert list(got[0]) == ["date", "open", "high", "low", "close", "volume", "oi"]
    assert [(g["date"], float(g["open"]), float(g["high"]), float(g["low"]), float(g["close"]),
             int(g["volume"])) for g in got] == BARS


async def test_export_when_excel_reads_back_the_stored_bars(stored) -> None:
    r = await stored.http.get("/api/data/export/NSE/TCS/minute",
                              params={**DAY, "format": "excel"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    header, *data = list(sheet.iter_rows(values_only=True))
    assert header == ("date", "open", "high", "low", "close", "volume", "oi")
    assert [tuple(row[:6]) for row in data] == BARS


async def test_export_when_json_reads_back_the_stored_bars(stored) -> None:
    r = await stored.http.get("/api/data/export/NSE/TCS/minute",
                              params={**DAY, "format": "json"})
    assert r.status_code == 200, r.text
    assert rows(json.loads(r.content)) == BARS


async def test_export_when_parquet_reads_back_the_stored_bars(stored) -> None:
    r = await stored.http.get("/api/data/export/NSE/TCS/minute",
                              params={**DAY, "format": "parquet"})
    assert r.status_code == 200, r.text
    table = pq.read_table(io.BytesIO(r.content))
    assert str(table.schema.field("date").type) == "timestamp[ms, tz=Asia/Kolkata]"
    assert [(t["date"].isoformat(), t["open"], t["high"], t["low"], t["close"], t["volume"])
            for t in table.to_pylist()] == BARS


async def test_lookup_when_listed_answers_kites_token(stored) -> None:
    r = await stored.http.get("/api/data/lookup/NSE/RELIANCE")
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: body[k] for k in ("success", "exchange", "symbol", "instrument_token")} == {
        "success": True, "exchange": "NSE", "symbol": "RELIANCE",
        "instrument_token": kitesim_token(stored.sim, "NSE", "RELIANCE")}
    assert body["instrument"]["instrument_type"] == "EQ"


async def test_lookup_when_not_listed_is_404_naming_the_symbol(stored) -> None:
    r = await stored.http.get("/api/data/lookup/NSE/NOSUCHCO")
    assert r.status_code == 404
    assert r.json()["error_type"] == "not_found" and "NOSUCHCO" in r.json()["error"]


async def test_search_when_name_given_ranks_nse_first_and_filters_by_exchange(stored) -> None:
    r = await stored.http.get("/api/data/search", params={"q": "INFY", "limit": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "INFY" and body["count"] == len(body["instruments"]) >= 2
    first = body["instruments"][0]
    assert (first["tradingsymbol"], first["exchange"]) == ("INFY", "NSE")
    assert first["instrument_token"] == kitesim_token(stored.sim, "NSE", "INFY")
    bse = (await stored.http.get("/api/data/search",
                                 params={"q": "INFY", "exchange": "BSE"})).json()
    assert bse["count"] >= 1
    assert {i["exchange"] for i in bse["instruments"]} == {"BSE"}
    assert bse["instruments"][0]["tradingsymbol"] == "INFY"


async def test_search_when_query_missing_is_400_naming_q(stored) -> None:
    r = await stored.http.get("/api/data/search")
    assert r.status_code == 400
    assert r.json()["error"].startswith("q:")
