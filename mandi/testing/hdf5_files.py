"""HDF5 stores as users' old tools wrote them (pandas HDFStore fixed/table, plain PyTables), and
the candles they hold, for the HDF5 import tests. Prices sit on the 5-paise tick, so paise
compare exactly."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd


def minute_bars(day: str, n: int, base: float, *, seed: int = 0) -> pd.DataFrame:
    """`n` minute bars from 09:15 IST of `day`, naive IST index named "Date", capitalised
    columns (an old tool's habit)."""
    rng = np.random.default_rng(seed)
    close = base + np.round(np.cumsum(rng.integers(-20, 21, n)) * 0.05, 2)
    open_ = np.round(np.concatenate([[base], close[:-1]]), 2)
    high = np.round(np.maximum(open_, close) + 0.05 * rng.integers(0, 6, n), 2)
    low = np.round(np.minimum(open_, close) - 0.05 * rng.integers(0, 6, n), 2)
    idx = pd.date_range(f"{day} 09:15", periods=n, freq="min", name="Date")
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close,
                         "Volume": rng.integers(100, 10_000, n)}, index=idx)


def day_bars(days: list[str], base: float, *, seed: int = 1) -> pd.DataFrame:
    """Day bars with the date as a lower-case column (not the index), as many scripts save."""
    df = minute_bars(days[0], len(days), base, seed=seed).reset_index(drop=True)
    df.columns = [c.lower() for c in df.columns]
    df.insert(0, "date", pd.to_datetime(days))
    return df


def write_pandas(path: Path, frames: Mapping[str, pd.DataFrame], fmt: str) -> Path:
    """Each frame under its key, in pandas' `fixed` or `table` format."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaturalNameWarning for keys such as NSE_M&M
        with pd.HDFStore(path, mode="a") as store:
            for key, df in frames.items():
                store.put(key, df, format=fmt)
    return path


def write_pytables(path: Path, key: str, df: pd.DataFrame) -> Path:
    """A plain PyTables table (no pandas metadata): timestamp as epoch seconds, short column
    names o/h/l/c/v — the layout of a hand-rolled h5py/PyTables writer."""
    import tables

    idx = df.index if isinstance(df.index, pd.DatetimeIndex) else pd.DatetimeIndex(df["date"])
    epoch = idx.tz_localize("Asia/Kolkata").tz_convert("UTC").as_unit("s").asi8
    cols = {c.lower(): df[c].to_numpy() for c in df.columns if c.lower() != "date"}
    rec = np.rec.fromarrays(
        [epoch, cols["open"], cols["high"], cols["low"], cols["close"],
         cols["volume"].astype(np.int64)],
        names="timestamp,o,h,l,c,v")
    where, _, name = key.rstrip("/").rpartition("/")
    with tables.open_file(str(path), mode="a") as h5:
        h5.create_table(where or "/", name, rec, createparents=True)
    return path


def expected_rows(df: pd.DataFrame) -> list[tuple[int, int, int, int, int, int]]:
    """(epoch ms UTC, open, high, low, close in paise, volume) of a source frame."""
    if not isinstance(df.index, pd.DatetimeIndex):
        df = df.set_index("date")
    cols = {c.lower(): df[c].to_numpy() for c in df.columns}
    ts = df.index.tz_localize("Asia/Kolkata").tz_convert("UTC").as_unit("ms").asi8
    paise = [np.round(cols[c] * 100).astype(np.int64) for c in ("open", "high", "low", "close")]
    return [tuple(int(x) for x in row)
            for row in zip(ts, *paise, cols["volume"], strict=True)]
