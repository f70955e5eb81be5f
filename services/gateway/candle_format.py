"""Render streamed CandleBatch messages as JSON, CSV or Parquet for the REST candles endpoint.

Timestamps are shown in exchange time with an explicit +05:30 offset; the work is vectorised
(numpy / pyarrow) so a symbol-year of minute bars renders in tens of milliseconds.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.responses import Response

from mandi.core.errors import InvalidInput
from mandi.v1 import common_pb2

IST_OFFSET_MS = 19_800_000
RENDERABLE = ("json", "csv", "parquet")


def check_format(fmt: str) -> str:
    key = fmt.lower()
    if key not in RENDERABLE:
        raise InvalidInput(f"unknown format {fmt!r}; expected json, csv or parquet",
                           field="format")
    return key


def _columns(batches: list[common_pb2.CandleBatch]) -> dict[str, np.ndarray]:
    def cat(name: str, dtype: str) -> np.ndarray:
        parts = [np.asarray(getattr(b, name), dtype=dtype) for b in batches]
        return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)

    return {"ts": cat("ts_unix_ms", "int64"), "open": cat("open", "float64"),
            "high": cat("high", "float64"), "low": cat("low", "float64"),
            "close": cat("close", "float64"), "volume": cat("volume", "int64"),
            "oi": cat("oi", "int64")}


def ist_strings(ts_ms: np.ndarray) -> np.ndarray:
    local = (ts_ms + IST_OFFSET_MS).astype("datetime64[ms]")
    return np.char.add(np.datetime_as_string(local, unit="s"), "+05:30")


def render(batches: list[common_pb2.CandleBatch], fmt: str, *, name: str) -> Response:
    cols = _columns(batches)
    dates = ist_strings(cols["ts"])
    if fmt == "parquet":
        table = pa.table({"date": pa.array(cols["ts"], pa.timestamp("ms", tz="Asia/Kolkata")),
                          **{k: cols[k] for k in ("open", "high", "low", "close", "volume",
                                                  "oi")}})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return Response(buf.getvalue(), media_type="application/vnd.apache.parquet",
                        headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'})
    if fmt == "csv":
        lines = ["date,open,high,low,close,volume,oi"]
        lines += [f"{d},{o!r},{h!r},{lo!r},{c!r},{v},{oi}" for d, o, h, lo, c, v, oi in zip(
            dates.tolist(), cols["open"].tolist(), cols["high"].tolist(), cols["low"].tolist(),
            cols["close"].tolist(), cols["volume"].tolist(), cols["oi"].tolist(), strict=True)]
        return Response("\n".join(lines) + "\n", media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    # pandas' C JSON encoder: ~4x faster than dicts + json.dumps for a symbol-year
    df = pd.DataFrame({"date": dates, **{k: cols[k] for k in (
        "open", "high", "low", "close", "volume", "oi")}})
    records = df.to_json(orient="records", double_precision=10)
    body = f'{{"success":true,"count":{len(df)},"candles":{records}}}'
    return Response(body, media_type="application/json")
