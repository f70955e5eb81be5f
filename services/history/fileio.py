"""Files in and out of the store: export CSV/Excel/JSON/Parquet/HDF5, import CSV/Parquet (HDF5
stores are read by `hdf5_reader.py`, which maps each dataset through `frame_from_table` here).

Why these rules: exports are read by people and spreadsheets, so timestamps are IST ISO-8601
strings with their `+05:30` offset (Excel has no time zones; a bare UTC time in a sheet of Indian
market data is a trap). Parquet keeps a real timestamp column typed with the Asia/Kolkata zone,
and HDF5 is a pandas `table`-format store keyed `/EXCHANGE/SYMBOL/interval` with an
Asia/Kolkata `date` index, the layout `hdf5_reader` reads back.

Imports come from users' old stores, so the reader is forgiving about shape (a header in any
case, common column aliases, Kite-style header-less rows, naive timestamps read as IST, epoch
seconds or milliseconds) and strict about content: anything it cannot read raises
InvalidInput naming the column and the line, before any row is stored. Binary garbage is
recognised from its first bytes, so a 10 MB upload of noise fails in microseconds.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mandi.core.candles import CandleFrame
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput

MAX_IMPORT_BYTES = 512 << 20
EXCEL_MAX_ROWS = 1_048_575  # one header row + data in an .xlsx sheet
_IST_OFFSET_MS = 19_800_000

FORMATS: dict[str, tuple[str, str]] = {  # name → (file extension, content type)
    "csv": ("csv", "text/csv"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "json": ("json", "application/json"),
    "parquet": ("parquet", "application/vnd.apache.parquet"),
    "hdf5": ("h5", "application/x-hdf5"),
}
_ALIASES = {"excel": "xlsx", "xls": "xlsx", "pq": "parquet", "h5": "hdf5", "hdf": "hdf5"}
_PROTO_FORMATS = {1: "csv", 2: "xlsx", 3: "json", 4: "parquet", 5: "hdf5"}  # mandi.v1.FileFormat
EXPORT_COLUMNS = ("date", "open", "high", "low", "close", "volume", "oi")

_TIME_NAMES = ("date", "datetime", "timestamp", "ts", "time", "date_time")
_COLUMN_ALIASES = {
    "open": ("open", "o"), "high": ("high", "h"), "low": ("low", "l"), "close": ("close", "c"),
    "volume": ("volume", "vol", "v"), "oi": ("oi", "open_interest", "openinterest"),
}
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


def format_name(fmt: str | int) -> str:
    """Canonical format name from a name ("csv", "excel", "xlsx"…) or a FileFormat number."""
    if isinstance(fmt, int) and not isinstance(fmt, bool):
        name = _PROTO_FORMATS.get(fmt)
    else:
        name = str(fmt).strip().lower().lstrip(".")
        name = _ALIASES.get(name, name)
    if name not in FORMATS:
        raise InvalidInput(
            f"unknown file format {fmt!r}; expected csv, xlsx, json, parquet or hdf5",
            field="format")
    return name


def content_type(fmt: str | int) -> str:
    return FORMATS[format_name(fmt)][1]


def filename(stem: str, fmt: str | int) -> str:
    return f"{stem}.{FORMATS[format_name(fmt)][0]}"


# --- export -------------------------------------------------------------------------------------
def ist_iso(ts_ms: np.ndarray) -> np.ndarray:
    """Epoch-ms timestamps as IST ISO-8601 strings with the +05:30 offset."""
    local = (ts_ms + _IST_OFFSET_MS).astype("datetime64[ms]")
    unit = "ms" if len(ts_ms) and bool(np.any(ts_ms % 1000)) else "s"
    return np.char.add(np.datetime_as_string(local, unit=unit), "+05:30")


def export(frame: CandleFrame, fmt: str | int, *,
           series: tuple[str, str, str] = ("NSE", "SYMBOL", "day")) -> bytes:
    """The frame as a file in `fmt` (csv, xlsx, json, parquet, hdf5). `series` is
    (exchange, tradingsymbol, interval): the key and attributes of an HDF5 dataset."""
    name = format_name(fmt)
    if name == "hdf5":
        from services.history.hdf5_reader import export_hdf5  # PyTables only when asked for

        return export_hdf5(frame, *series)
    if name == "csv":
        return _export_csv(frame)
    if name == "json":
        return _export_json(frame)
    if name == "xlsx":
        return _export_xlsx(frame)
    return _export_parquet(frame)


def _text_columns(frame: CandleFrame) -> list[np.ndarray]:
    """Every export column as text: dates in IST, numbers in their shortest round-trip form
    (Arrow's C++ formatter, ~10x faster than Python's repr over a symbol-year)."""
    out = [ist_iso(frame.ts)]
    for c in EXPORT_COLUMNS[1:]:
        out.append(np.asarray(pa.array(getattr(frame, c)).cast(pa.string()).to_numpy(
            zero_copy_only=False), dtype=str))
    return out


def _export_csv(frame: CandleFrame) -> bytes:
    table = pa.table(
        {c: pa.array(getattr(frame, c)) for c in EXPORT_COLUMNS[1:]}
    ).add_column(0, "date", pa.array(ist_iso(frame.ts).astype(object), type=pa.string()))
    out = io.BytesIO()
    out.write((",".join(EXPORT_COLUMNS) + "\n").encode())
    pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return out.getvalue()


def _export_json(frame: CandleFrame) -> bytes:
    """A JSON array of {"date", "open", …} records, assembled column-wise from text."""
    date, *values = _text_columns(frame)
    rows = np.char.add(np.char.add('{"date":"', date), '"')
    for name, col in zip(EXPORT_COLUMNS[1:], values, strict=True):
        rows = np.char.add(np.char.add(rows, f',"{name}":'), col)
    return ("[" + ",".join(np.char.add(rows, "}").tolist()) + "]").encode()


def _export_xlsx(frame: CandleFrame) -> bytes:
    from openpyxl import Workbook  # imported lazily: only Excel exports pay for it

    if len(frame) > EXCEL_MAX_ROWS:
        raise InvalidInput(
            f"{len(frame)} rows exceed an Excel sheet's {EXCEL_MAX_ROWS}; export CSV or Parquet",
            field="format",
        )
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("candles")
    ws.append(list(EXPORT_COLUMNS))
    dates = ist_iso(frame.ts).tolist()
    cols = [getattr(frame, c).tolist() for c in EXPORT_COLUMNS[1:]]
    for row in zip(dates, *cols, strict=True):
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _export_parquet(frame: CandleFrame) -> bytes:
    table = pa.table({
        "date": pa.array(frame.ts, type=pa.int64()).cast(pa.timestamp("ms", tz="Asia/Kolkata")),
        **{c: pa.array(getattr(frame, c)) for c in EXPORT_COLUMNS[1:]},
    })
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


# --- import -------------------------------------------------------------------------------------
def import_file(data: bytes, fmt: str | int) -> CandleFrame:
    """Candles from a CSV or Parquet file; InvalidInput (field named) for anything unreadable."""
    name = format_name(fmt)
    if not data:
        raise InvalidInput("the file is empty", field="data")
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            f"the file is {len(data)} bytes; the limit is {MAX_IMPORT_BYTES}", field="data"
        )
    if name == "csv":
        return frame_from_table(_read_csv(data), header_lines=1)
    if name == "parquet":
        return frame_from_table(_read_parquet(data), header_lines=0)
    raise InvalidInput("only CSV and Parquet files can be imported", field="format")


def _read_csv(data: bytes) -> pd.DataFrame:
    head = data[:65536]
    if b"\x00" in head:
        raise InvalidInput("not a CSV file: it contains binary data", field="data")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the 64 KiB boundary
            raise InvalidInput("not a CSV file: it is not UTF-8 text", field="data") from None
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lstrip("\ufeff")
    cells = [c.strip().strip('"').lower() for c in first.split(",")]
    has_header = any(c in _TIME_NAMES for c in cells) or "open" in cells
    try:
        df = pd.read_csv(
            io.BytesIO(data), header=0 if has_header else None, dtype=str,
            skipinitialspace=True, encoding="utf-8-sig", on_bad_lines="error",
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"cannot parse the CSV: {_short(exc)}", field="data") from None
    except pd.errors.EmptyDataError:
        raise InvalidInput("the CSV has no rows", field="data") from None
    if not has_header:
        if df.shape[1] not in (6, 7):
            raise InvalidInput(
                "the CSV has no header; header-less files must have the columns "
                "date,open,high,low,close,volume[,oi]", field="data",
            )
        df.columns = list(EXPORT_COLUMNS[: df.shape[1]])
    return df


def _read_parquet(data: bytes) -> pd.DataFrame:
    if data[:4] != b"PAR1" or data[-4:] != b"PAR1":
        raise InvalidInput("not a Parquet file (no PAR1 magic bytes)", field="data")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the Parquet file: {_short(exc)}", field="data") from None
    return table.to_pandas()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200]


def _pick(columns: dict[str, str], names: tuple[str, ...]) -> str | None:
    for n in names:
        if n in columns:
            return columns[n]
    return None


def frame_from_table(df: pd.DataFrame, *, header_lines: int) -> CandleFrame:
    """Map a table's columns onto a CandleFrame. Line numbers in errors count the header.
    A DatetimeIndex, or an index named like a time column, is the timestamp column."""
    has_time_col = any(str(c).strip().lower() in _TIME_NAMES for c in df.columns)
    if not has_time_col and (isinstance(df.index, pd.DatetimeIndex)
                             or str(df.index.name).strip().lower() in _TIME_NAMES):
        df = df.reset_index(names="date")
    lower = {str(c).strip().lower(): c for c in df.columns}
    time_col = _pick(lower, _TIME_NAMES)
    if time_col is None:
        raise InvalidInput(
            f"no timestamp column; expected one of {', '.join(_TIME_NAMES)}", field="date"
        )
    if not len(df):
        raise InvalidInput("the file has no rows", field="data")
    cols: dict[str, Any] = {"ts": _timestamps(df[time_col], str(time_col), header_lines)}
    for name, aliases in _COLUMN_ALIASES.items():
        src = _pick(lower, aliases)
        if src is None:
            if name == "oi":
                continue
            raise InvalidInput(f"missing column {name!r}", field=name)
        cols[name] = _numbers(df[src], name, header_lines, integer=name in ("volume", "oi"))
    return CandleFrame.from_columns(cols)


def _numbers(col: pd.Series, name: str, header_lines: int, *, integer: bool) -> np.ndarray:
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna().to_numpy()
    if integer and not bad.any():
        bad = (values.to_numpy(dtype=np.float64) % 1) != 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInput(
            f"line {i + 1 + header_lines}: {name} {col.iloc[i]!r} is not a"
            f" {'whole ' if integer else ''}number", field=name,
        )
    arr = values.to_numpy(dtype=np.float64)
    return arr.astype(np.int64) if integer else arr


def _timestamps(col: pd.Series, name: str, header_lines: int) -> np.ndarray:
    """Epoch ms from tz-aware/naive datetimes (naive = IST), ISO text or epoch s/ms numbers."""
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        stamps = pd.DatetimeIndex(col)
        stamps = stamps.tz_localize(IST) if stamps.tz is None else stamps
        return stamps.tz_convert("UTC").as_unit("ms").asi8
    if pd.api.types.is_numeric_dtype(col.dtype):
        numeric = pd.to_numeric(col)
    else:
        text = col.astype(str).str.strip()
        numeric = pd.to_numeric(text, errors="coerce")
        if numeric.isna().any():
            return _parse_text_times(text, name, header_lines)
    if pd.api.types.is_integer_dtype(numeric.dtype):  # exact: ns epochs do not fit a float
        ints = numeric.to_numpy(dtype=np.int64)
        top = int(np.abs(ints).max()) if len(ints) else 0
        for limit, div in ((10**17, 1_000_000), (10**14, 1000)):  # ns, µs since 1970
            if top > limit:
                return ints // div
        return ints if top > 10**11 else ints * 1000  # ms, else seconds
    arr = numeric.to_numpy(dtype=np.float64)
    top = np.nanmax(np.abs(arr))
    scale = 1e-6 if top > 1e17 else 1e-3 if top > 1e14 else 1.0 if top > 1e11 else 1000.0
    return np.round(arr * scale).astype(np.int64)


def _parse_text_times(text: pd.Series, name: str, header_lines: int) -> np.ndarray:
    aware = text.str.contains(_OFFSET)
    out = np.empty(len(text), dtype=np.int64)
    for mask, tz_aware in ((aware, True), (~aware, False)):
        part = text[mask]
        if not len(part):
            continue
        parsed = pd.to_datetime(part, errors="coerce", utc=tz_aware, format="ISO8601")
        if parsed.isna().any():
            parsed = pd.to_datetime(part, errors="coerce", utc=tz_aware, format="mixed",
                                    dayfirst=False)
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(mask.to_numpy())[np.flatnonzero(bad)[0]])
            raise InvalidInput(
                f"line {i + 1 + header_lines}: {name} {text.iloc[i]!r} is not a timestamp",
                field="date",
            )
        idx = pd.DatetimeIndex(parsed)
        if not tz_aware:
            idx = idx.tz_localize(IST)
        out[mask.to_numpy()] = idx.tz_convert("UTC").as_unit("ms").asi8
    return out
