"""The user's own HDF5 stores (seeds 000/001: `EQUITY.h5`, `DERIVATIVES.h5`) read as candle sets.

The documents never say what is inside, so the reader detects the usual layouts and reports
what it found rather than assuming one:

- pandas `HDFStore` datasets, `fixed` (`pandas_type` "frame") or `table` ("frame_table");
- plain PyTables tables (a `tables.Table` outside any pandas group).

Each dataset is one series. Its exchange, symbol and interval come, in this order, from an
override the caller gives for its key, from the dataset's attributes (`exchange`, `symbol` or
`tradingsymbol`, `interval`: what `export_hdf5` writes), from its key path — every component,
and the `_`-separated parts of one, is tried as an exchange (NSE, NFO…), an interval (`day`,
`minute`, `5min`, `daily`, `1h`…) or a filler word (`equity`, `data`, `ohlcv`…), and what is left
of the innermost component with a remainder is the symbol: `/NSE/INFY/day`,
`/equity/NSE_INFY_minute`, `/INFY` — and, when still missing, the exchange from the segment
(EQUITY → NSE, DERIVATIVES → NFO) and the interval from the bar spacing. Columns are mapped
by `fileio.frame_from_table`, exactly like a CSV/Parquet import: date/datetime/timestamp as
index or column, open/high/low/close/volume (+oi), any case; naive times are IST.

Failures split in two. A file HDF5 cannot open or read in full (not HDF5, truncated, a corrupt
chunk) raises InvalidInput naming `file`: the whole file is refused before anything is stored.
A dataset that is readable but not a candle series (no close column, unknown interval,
unparseable dates) is reported with its reason and skipped; the other datasets still import.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mandi.core.candles import CandleFrame
from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.core.intervals import INTERVALS, parse_interval
from mandi.platform.protoconv import EXCHANGES

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SEGMENT_DEFAULT_EXCHANGE = {"EQUITY": "NSE", "DERIVATIVES": "NFO"}
_EXTRA_INTERVALS = {
    "daily": "day", "1d": "day", "d": "day", "1day": "day", "eod": "day",
    "1m": "minute", "1minute": "minute", "min": "minute", "3m": "3minute", "5m": "5minute",
    "10m": "10minute", "15m": "15minute", "30m": "30minute", "60m": "60minute",
    "1h": "60minute", "1hour": "60minute", "hour": "60minute", "hourly": "60minute",
}
_FILLER = {"equity", "equities", "derivatives", "derivative", "data", "ohlc", "ohlcv", "candles",
           "candle", "bars", "prices", "historical", "history", "stocks", "futures", "options",
           "table", "kite"}
_IST_OFFSET_MS = 19_800_000
_DAY_MS = 86_400_000


@dataclass
class Override:
    """What the caller says a key holds; empty fields are detected as usual."""

    exchange: str = ""
    symbol: str = ""
    interval: str = ""
    skip: bool = False


@dataclass
class Dataset:
    key: str
    layout: str  # "pandas-fixed" | "pandas-table" | "pytables-table" | "other"
    exchange: str = ""
    symbol: str = ""
    interval: str = ""
    rows: int = 0
    frame: CandleFrame | None = None
    error: str = ""  # why the whole dataset is skipped ("" = importable)
    notes: list[str] = field(default_factory=list)


def _interval_name(word: str) -> str | None:
    w = word.strip().lower()
    w = _EXTRA_INTERVALS.get(w, w)
    try:
        return parse_interval(w).name
    except InvalidInput:
        return None


def parse_key(key: str) -> tuple[str, str, str, str]:
    """(exchange, symbol, interval, segment word) found in a key path; "" where absent."""
    exchange = symbol = interval = segment = ""
    for comp in (c for c in key.strip("/").split("/") if c):
        parts = [comp] if _classify(comp) else comp.split("_")
        rest: list[str] = []
        for part in parts:
            kind = _classify(part)
            if kind == "exchange" and not exchange:
                exchange = part.upper()
            elif kind == "interval" and not interval:
                interval = _interval_name(part) or ""
            elif kind == "filler":
                low = part.lower()
                if low.startswith("equit"):
                    segment = "EQUITY"
                elif low.startswith("derivative") or low in ("futures", "options"):
                    segment = "DERIVATIVES"
            elif part:
                rest.append(part)
        if rest:  # the innermost component naming something else is the symbol
            symbol = "_".join(rest).upper()
    return exchange, symbol, interval, segment


def _classify(part: str) -> str:
    if part.upper() in EXCHANGES:
        return "exchange"
    if _interval_name(part):
        return "interval"
    if part.lower() in _FILLER:
        return "filler"
    return ""


def infer_interval(ts_ms: np.ndarray) -> str | None:
    """The Kite interval whose spacing the bars have: day when every bar starts at IST
    midnight, else the smallest gap between bars of one day, if it is a Kite interval."""
    if not len(ts_ms):
        return None
    local = np.sort(np.unique(ts_ms)) + _IST_OFFSET_MS
    if not np.any(local % _DAY_MS):
        return "day"
    if len(local) < 2:
        return None
    gaps = np.diff(local)
    same_day = (local[1:] // _DAY_MS) == (local[:-1] // _DAY_MS)
    if not same_day.any():
        return None
    step = int(gaps[same_day].min())
    for iv in INTERVALS.values():
        if iv.is_intraday and iv.minutes * 60_000 == step:
            return iv.name
    return None


def check_signature(path: Path) -> None:
    """InvalidInput naming `file` unless the HDF5 signature is at 0, 512, 1024, 2048…
    (a user block may precede it), so garbage fails before PyTables parses anything."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        offset = 512
        while head != HDF5_SIGNATURE:
            fh.seek(offset)
            head = fh.read(8)
            if len(head) < 8:
                raise InvalidInput("not an HDF5 file (no HDF5 signature)", field="file")
            offset *= 2


def _corrupt(exc: BaseException, path: Path) -> InvalidInput:
    """HDF5's own errors are a C back trace naming the (server-side) path: the caller gets
    the last line, without the path."""
    lines = [ln.strip() for ln in str(exc).replace(str(path), "<file>").splitlines()
             if ln.strip()]
    text = lines[-1][:200] if lines else ""
    return InvalidInput(f"cannot read the HDF5 file (truncated or corrupt?): "
                        f"{type(exc).__name__}: {text}", field="file")


def read_hdf5(path: str | Path, *, segment: str = "",
              overrides: dict[str, Override] | None = None) -> list[Dataset]:
    """Every dataset of the file with its series and candles (or the reason it is skipped).
    Reads everything before returning, so a file that fails half-way stores nothing."""
    import tables  # PyTables: only imports and HDF5 exports load it

    path = Path(path)
    check_signature(path)
    overrides = {("/" + k.strip("/")): v for k, v in (overrides or {}).items()}
    try:
        with warnings.catch_warnings(), pd.HDFStore(str(path), mode="r") as store:
            warnings.simplefilter("ignore")  # NaturalNameWarning for keys like /NSE/M&M/day
            found = _walk(store, tables)  # one open file for every dataset: stores hold 1000s
            out = [_load(store, key, layout, attrs) for key, layout, attrs in found]
    except InvalidInput:
        raise
    except Exception as exc:  # HDF5/PyTables/pandas failing on the file itself
        raise _corrupt(exc, path) from None
    for ds in out:
        ov = overrides.get(ds.key, Override())
        _identify(ds, ov, segment)
        if ov.skip:
            ds.error, ds.frame = "skipped by the mapping", None
    unknown = sorted(set(overrides) - {ds.key for ds in out})
    if unknown:
        raise InvalidInput(f"the mapping names keys not in the file: {', '.join(unknown)}",
                           field="mapping")
    return out


def _walk(store: pd.HDFStore, tables: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, layout, attributes) of each dataset, in key order. A group pandas marked
    (`pandas_type`) is one dataset; any other group is walked into."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    stack = [store.get_node("/")]
    while stack:
        group = stack.pop()
        for name in sorted(group._v_children, reverse=True):
            node = group._v_children[name]
            if isinstance(node, tables.Group):
                kind = getattr(node._v_attrs, "pandas_type", None)
                if kind is None:
                    stack.append(node)
                    continue
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                layout = {"frame": "pandas-fixed", "frame_table": "pandas-table"}.get(
                    kind, f"pandas-{kind}")
                found.append((node._v_pathname, layout, _user_attrs(node._v_attrs)))
            elif isinstance(node, tables.Table):
                found.append((node._v_pathname, "pytables-table", _user_attrs(node.attrs)))
            else:
                found.append((node._v_pathname, "other", {}))
    return sorted(found)


def _user_attrs(attrs: Any) -> dict[str, Any]:
    out = {}
    for name in ("exchange", "symbol", "tradingsymbol", "interval"):
        value = getattr(attrs, name, None)
        if value is not None:
            out[name] = value.decode() if isinstance(value, bytes) else str(value)
    return out


def _load(store: pd.HDFStore, key: str, layout: str, attrs: dict[str, Any]) -> Dataset:
    ds = Dataset(key=key, layout=layout)
    ds.exchange = attrs.get("exchange", "")
    ds.symbol = attrs.get("tradingsymbol") or attrs.get("symbol", "")
    ds.interval = attrs.get("interval", "")
    if layout in ("pandas-fixed", "pandas-table"):
        df = store.get(key)
    elif layout == "pytables-table":
        arr = store.get_node(key).read()
        df = pd.DataFrame({n: _decoded(arr[n]) for n in arr.dtype.names or ()})
    else:
        ds.error = "not a table (an array or a pandas series); nothing to import"
        return ds
    ds.rows = len(df)
    if not isinstance(df, pd.DataFrame):
        ds.error = "a pandas series, not a table of candles"
        return ds
    try:
        from services.history.fileio import frame_from_table

        ds.frame = frame_from_table(df, header_lines=0)
    except InvalidInput as exc:
        ds.error = f"{exc.field}: {exc}" if getattr(exc, "field", None) else str(exc)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. dates out of range
        ds.error = f"cannot read the dataset as candles: {' '.join(str(exc).split())[:200]}"
    return ds


def _decoded(col: np.ndarray) -> np.ndarray:
    """Byte strings (PyTables string columns) as text, so dates in them parse."""
    if col.dtype.kind == "S":
        return np.char.decode(col, "utf-8")
    return col


def _identify(ds: Dataset, ov: Override, segment: str) -> None:
    k_exchange, k_symbol, k_interval, k_segment = parse_key(ds.key)
    ds.exchange = (ov.exchange or ds.exchange or k_exchange).upper()
    ds.symbol = (ov.symbol or ds.symbol or k_symbol).strip().upper()
    interval = ov.interval or ds.interval or k_interval
    if ds.error:
        return
    if not ds.exchange:
        seg = segment or k_segment
        ds.exchange = SEGMENT_DEFAULT_EXCHANGE.get(seg, "")
        if ds.exchange:
            ds.notes.append(f"exchange {ds.exchange} assumed for segment {seg}")
        else:
            ds.error = "no exchange in the key; name the segment or map the key"
            return
    if ds.exchange not in EXCHANGES:
        ds.error = f"unknown exchange {ds.exchange!r}"
        return
    if not ds.symbol:
        ds.error = "no symbol in the key; map the key to a symbol"
        return
    if interval:
        name = _interval_name(interval)
        if name is None:
            ds.error = f"unknown interval {interval!r}"
            return
        ds.interval = name
    else:
        assert ds.frame is not None
        name = infer_interval(ds.frame.ts)
        if name is None:
            ds.error = "no interval in the key and none fits the bar spacing; map the key"
            return
        ds.interval = name
        ds.notes.append(f"interval {name} inferred from the bar spacing")


# --- export ---------------------------------------------------------------------------------
_SAFE_KEY = re.compile(r"[^A-Za-z0-9_&-]")


def export_hdf5(frame: CandleFrame, exchange: str, symbol: str, interval: str) -> bytes:
    """One series as a pandas `table`-format HDF5 file keyed `/EXCHANGE/SYMBOL/interval`, with
    the series named in the dataset's attributes as well (a symbol a key cannot spell
    verbatim still reads back exactly). Built in memory: nothing touches the disk."""
    import tables  # noqa: F401  (pandas needs it; fail here with the import error if absent)

    df = frame.to_pandas(tz=IST)
    df.index.name = "date"
    key = "/".join(("", exchange, _SAFE_KEY.sub("_", symbol) or "SYMBOL", interval))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = pd.HDFStore("export.h5", mode="w", driver="H5FD_CORE",
                            driver_core_backing_store=0, complevel=5, complib="zlib")
        try:
            store.put(key, df, format="table")
            attrs = store.get_storer(key).attrs
            attrs.exchange, attrs.symbol, attrs.interval = exchange, symbol, interval
            store._handle.flush()
            return store._handle.get_file_image()
        finally:
            store.close()
