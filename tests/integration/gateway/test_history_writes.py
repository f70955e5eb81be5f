"""Writing bars into the store: the history `WriteCandles` RPC (the path marketdata's closed
candles take) over real gRPC, and `POST /api/data/import-candles/…` through the gateway. Rows
land as sent, bad input is refused naming the field, and stored bars are never lost."""

from __future__ import annotations

import io

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mandi.platform.status import grpc_error_to_domain
from mandi.v1 import history_pb2
from tests.integration.gateway.kit import candle, token_of

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

WEEK = {"from_date": "2024-06-03", "to_date": "2024-06-07"}


async def stored_rows(stack, exchange: str, symbol: str, interval: str,
                      span: dict) -> list[tuple]:
    r = await stack.http.get(f"/api/data/candles/{exchange}/{symbol}/{interval}", params=span)
    assert r.status_code == 200, r.text
    return [(c["date"], c["open"], c["high"], c["low"], c["close"], c["volume"])
            for c in r.json()["candles"]]


async def write(stack, token: int, interval: str, candles, *, overwrite: bool = False):
    return await stack.history.WriteCandles(history_pb2.WriteCandlesRequest(
        instrument_token=token, interval=interval, candles=candles, overwrite=overwrite))


async def test_write_candles_when_valid_rows_land_and_bad_rows_are_counted(stack) -> None:
    token = await token_of(stack, "NSE", "HDFCBANK")
    resp = await write(stack, token, "day", [
        candle("2024-06-03 00:00", 1500.0, 1520.5, 1490.25, 1510.0, 100_000),
        candle("2024-06-04 00:00", 1510.0, 1530.0, 1480.0, 1485.5, 250_000),
        candle("2024-06-05 00:00", 1485.5, 1470.0, 1495.0, 1490.0, 90_000),   # high < low
        candle("2024-06-08 00:00", 1490.0, 1500.0, 1480.0, 1495.0, 80_000),   # a Saturday
    ])
    # 4 sent: 2 valid, 2 refused by validation
    assert (resp.written, resp.rows_invalid) == (2, 2)
    assert await stored_rows(stack, "NSE", "HDFCBANK", "day", WEEK) == [
        ("2024-06-03T00:00:00+05:30", 1500.0, 1520.5, 1490.25, 1510.0, 100_000),
        ("2024-06-04T00:00:00+05:30", 1510.0, 1530.0, 1480.0, 1485.5, 250_000)]


async def test_write_candles_when_bars_exist_keeps_them_unless_overwrite(stack) -> None:
    token = await token_of(stack, "NSE", "ITC")
    first = candle("2024-06-03 00:00", 430.0, 435.0, 428.0, 432.0, 5000)
    assert (await write(stack, token, "day", [first])).written == 1
    kept = [("2024-06-03T00:00:00+05:30", 430.0, 435.0, 428.0, 432.0, 5000)]

    # the same bar with other values, without overwrite: the stored bar stays
    other = candle("2024-06-03 00:00", 999.0, 999.0, 999.0, 999.0, 1)
    assert (await write(stack, token, "day", [other])).written == 0
    assert await stored_rows(stack, "NSE", "ITC", "day", WEEK) == kept
    # an invalid replacement, even with overwrite, never replaces a good bar
    bad = candle("2024-06-03 00:00", 431.0, 420.0, 440.0, 431.0, 7000)  # high < low
    resp = await write(stack, token, "day", [bad], overwrite=True)
    assert (resp.written, resp.rows_invalid) == (0, 1)
    assert await stored_rows(stack, "NSE", "ITC", "day", WEEK) == kept
    # a valid replacement with overwrite replaces it
    new = candle("2024-06-03 00:00", 431.0, 436.0, 429.0, 433.5, 6000)
    assert (await write(stack, token, "day", [new], overwrite=True)).written == 1
    assert await stored_rows(stack, "NSE", "ITC", "day", WEEK) == [
        ("2024-06-03T00:00:00+05:30", 431.0, 436.0, 429.0, 433.5, 6000)]


@pytest.mark.parametrize(("token", "interval", "code", "field"), [
    (None, "2minute", grpc.StatusCode.INVALID_ARGUMENT, "interval"),
    (None, "", grpc.StatusCode.INVALID_ARGUMENT, "interval"),
    (0, "day", grpc.StatusCode.INVALID_ARGUMENT, "instrument_token"),
    (987_654_321, "day", grpc.StatusCode.NOT_FOUND, "instrument_token"),
])
async def test_write_candles_when_input_bad_is_refused_naming_field_and_loses_nothing(
    stack, token, interval, code, field,
) -> None:
    wipro = await token_of(stack, "NSE", "WIPRO")
    good = candle("2024-06-03 00:00", 480.0, 485.0, 478.0, 482.0, 3000)
    await write(stack, wipro, "day", [good])
    before = await stored_rows(stack, "NSE", "WIPRO", "day", WEEK)
    assert before == [("2024-06-03T00:00:00+05:30", 480.0, 485.0, 478.0, 482.0, 3000)]

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await write(stack, wipro if token is None else token, interval,
                    [candle("2024-06-03 00:00", 1.0, 1.0, 1.0, 1.0, 1)], overwrite=True)
    assert err.value.code() == code
    assert grpc_error_to_domain(err.value).field == field
    assert field in err.value.details()
    assert await stored_rows(stack, "NSE", "WIPRO", "day", WEEK) == before


# import-candles: a user's own file, as exported by another tool (header in any case, naive
# IST timestamps); 3 minute bars of SBIN on Mon 2024-06-03
SBIN_CSV = (b"Date,Open,High,Low,Close,Volume\n"
            b"2024-06-03 09:15:00,830.0,832.5,829.0,831.25,12000\n"
            b"2024-06-03 09:16:00,831.25,833.0,830.5,832.0,9000\n"
            b"2024-06-03 09:17:00,832.0,832.75,831.0,831.5,7500\n")
SBIN_ROWS = [("2024-06-03T09:15:00+05:30", 830.0, 832.5, 829.0, 831.25, 12000),
             ("2024-06-03T09:16:00+05:30", 831.25, 833.0, 830.5, 832.0, 9000),
             ("2024-06-03T09:17:00+05:30", 832.0, 832.75, 831.0, 831.5, 7500)]
JUNE_3 = {"from_date": "2024-06-03", "to_date": "2024-06-03"}


async def test_import_candles_when_csv_stores_its_rows(stack) -> None:
    r = await stack.http.post("/api/data/import-candles/NSE/SBIN/minute",
                              files={"file": ("sbin.csv", SBIN_CSV)}, data={"format": "csv"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["success"], body["records"], body["rows_invalid"]) == (True, 3, 0)
    assert await stored_rows(stack, "NSE", "SBIN", "minute", JUNE_3) == SBIN_ROWS
    # the same file again: nothing new, nothing lost
    again = await stack.http.post("/api/data/import-candles/NSE/SBIN/minute",
                                  files={"file": ("sbin.csv", SBIN_CSV)})
    assert again.json()["records"] == 0
    assert await stored_rows(stack, "NSE", "SBIN", "minute", JUNE_3) == SBIN_ROWS


async def test_import_candles_when_parquet_with_a_bad_row_stores_the_rest(stack) -> None:
    table = pa.table({
        "date": pa.array(["2024-06-03 09:15:00", "2024-06-03 09:16:00", "2024-06-03 09:17:00"]),
        "open": [700.0, 701.0, 702.0], "high": [701.5, 699.0, 703.0],  # row 2: high < low
        "low": [699.5, 700.5, 701.5], "close": [701.0, 700.0, 702.5],
        "volume": [100, 200, 300]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = await stack.http.post("/api/data/import-candles/NSE/AXISBANK/minute",
                              files={"file": ("axis.parquet", buf.getvalue())},
                              data={"format": "parquet"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["records"], body["rows_invalid"]) == (2, 1)
    assert sum(body["invalid_reasons"].values()) == 1
    assert await stored_rows(stack, "NSE", "AXISBANK", "minute", JUNE_3) == [
        ("2024-06-03T09:15:00+05:30", 700.0, 701.5, 699.5, 701.0, 100),
        ("2024-06-03T09:17:00+05:30", 702.0, 703.0, 701.5, 702.5, 300)]


@pytest.mark.parametrize(("path", "file", "form", "field"), [
    ("/api/data/import-candles/NSE/SBIN/minute", SBIN_CSV, {"format": "xlsx"}, "format"),
    ("/api/data/import-candles/NSE/SBIN/2minute", SBIN_CSV, {}, "interval"),
    ("/api/data/import-candles/NSE/SBIN/minute", b"\x00\x01garbage\xff" * 100, {}, "data"),
    ("/api/data/import-candles/NSE/SBIN/minute", b"", {}, "file"),
])
async def test_import_candles_when_input_bad_answers_400_and_stores_nothing(
    stack, path: str, file: bytes, form: dict, field: str,
) -> None:
    before = (await stack.http.get("/api/data/database-info/EQUITY")).json()["rows"]
    r = await stack.http.post(path, files={"file": ("x.csv", file)}, data=form)
    assert r.status_code == 400, r.text
    assert r.json()["error_type"] == "validation" and field in r.json()["error"]
    assert (await stack.http.get("/api/data/database-info/EQUITY")).json()["rows"] == before
