"""REST candles render exactly the stored values with IST timestamps, in every format."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from mandi.core.errors import InvalidInput
from mandi.v1 import common_pb2
from services.gateway.candle_format import check_format, render

TS = 1_735_702_500_000  # 2025-01-01T03:35:00Z = 09:05 IST


def batches() -> list[common_pb2.CandleBatch]:
    return [common_pb2.CandleBatch(ts_unix_ms=[TS, TS + 60_000], open=[1523.45, 1524.1],
                                   high=[1525.0, 1524.9], low=[1520.05, 1523.3],
                                   close=[1524.1, 1524.85], volume=[1200, 0], oi=[0, 7])]


def test_render_json_when_two_bars_gives_ist_dates_and_exact_values() -> None:
    body = json.loads(render(batches(), "json", name="INFY_minute").body)
    assert body["success"] is True and body["count"] == 2
    assert body["candles"][0] == {"date": "2025-01-01T09:05:00+05:30", "open": 1523.45,
                                  "high": 1525.0, "low": 1520.05, "close": 1524.1,
                                  "volume": 1200, "oi": 0}
    assert body["candles"][1]["oi"] == 7


def test_render_csv_and_parquet_when_two_bars_round_trip() -> None:
    csv = render(batches(), "csv", name="x").body.decode().splitlines()
    assert csv[0] == "date,open,high,low,close,volume,oi"
    assert csv[1] == "2025-01-01T09:05:00+05:30,1523.45,1525.0,1520.05,1524.1,1200,0"
    table = pq.read_table(io.BytesIO(render(batches(), "parquet", name="x").body))
    assert table.column("close").to_pylist() == [1524.1, 1524.85]
    assert str(table.schema.field("date").type) == "timestamp[ms, tz=Asia/Kolkata]"


def test_render_when_no_bars_gives_empty_list() -> None:
    assert json.loads(render([], "json", name="x").body) == {
        "success": True, "count": 0, "candles": []}


def test_check_format_when_unknown_raises_naming_field() -> None:
    with pytest.raises(InvalidInput) as err:
        check_format("xml")
    assert err.value.field == "format"
