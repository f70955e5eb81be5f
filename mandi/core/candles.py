"""Candles in memory: one columnar frame of numpy arrays.

Why columnar: a symbol-year of minute bars is ~94k rows; validation, coverage, COPY encoding
and the gRPC `CandleBatch` (itself columnar) are all vector operations on whole columns, so a
list of per-bar objects would cost more than the I/O around it.

Time is `ts`: int64 **milliseconds** since the Unix epoch, UTC, the candle's start — the same
unit as `CandleBatch.ts_unix_ms`, so frames go on the wire without conversion. Exchange logic
converts to Asia/Kolkata where it needs to (see `mandi.core.calendar`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput

if TYPE_CHECKING:  # pandas only where a frame is asked for: importing it costs every process
    import pandas as pd  # that loads candles (execution, via the Kite client) ~0.5 s CPU

PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = ("ts", "open", "high", "low", "close", "volume", "oi")
_DTYPES = {
    "ts": np.int64,
    "open": np.float64,
    "high": np.float64,
    "low": np.float64,
    "close": np.float64,
    "volume": np.int64,
    "oi": np.int64,
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def to_ms(when: datetime) -> int:
    """Epoch milliseconds of a tz-aware datetime (naive ones are refused: ambiguous)."""
    if when.tzinfo is None:
        raise InvalidInput("timestamp must be timezone-aware", field="ts")
    return (when - _EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds."""
    return _EPOCH + timedelta(milliseconds=int(ms))


@dataclass(frozen=True, eq=False)
class CandleFrame:
    """OHLCV(+OI) bars of one instrument and interval, columnar. Arrays share one length;
    `__post_init__` coerces dtypes so every constructor yields the same layout."""

    ts: np.ndarray  # int64 epoch ms, UTC, candle start
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # int64
    oi: np.ndarray  # int64, 0 when the instrument has none

    def __post_init__(self) -> None:
        n = None
        for f in fields(self):
            arr = np.ascontiguousarray(getattr(self, f.name), dtype=_DTYPES[f.name])
            if arr.ndim != 1:
                raise ValueError(f"CandleFrame.{f.name} must be one-dimensional")
            if n is None:
                n = len(arr)
            elif len(arr) != n:
                raise ValueError(f"CandleFrame.{f.name} has {len(arr)} rows, expected {n}")
            object.__setattr__(self, f.name, arr)

    def __len__(self) -> int:
        return len(self.ts)

    def __repr__(self) -> str:
        if not len(self):
            return "CandleFrame(0 rows)"
        return f"CandleFrame({len(self)} rows, {from_ms(self.ts[0])} .. {from_ms(self.ts[-1])})"

    # --- constructors ---------------------------------------------------------------------
    @classmethod
    def empty(cls) -> CandleFrame:
        return cls(*(np.empty(0, dtype=_DTYPES[c]) for c in COLUMNS))

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> CandleFrame:
        """From a mapping of column name → sequence; `oi` may be absent (zeros)."""
        n = len(columns["ts"])
        oi = columns.get("oi")
        return cls(
            ts=columns["ts"],
            open=columns["open"],
            high=columns["high"],
            low=columns["low"],
            close=columns["close"],
            volume=columns["volume"],
            oi=np.zeros(n, dtype=np.int64) if oi is None else oi,
        )

    @classmethod
    def from_kite(cls, rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]]) -> CandleFrame:
        """From kiteconnect's `historical_data` (dicts with date/open/high/low/close/volume[/oi])
        or Kite's raw `candles` rows (`[ts, o, h, l, c, v(, oi)]`, ts a datetime or ISO text)."""
        n = len(rows)
        if n == 0:
            return cls.empty()
        ts = np.empty(n, dtype=np.int64)
        cols = {c: np.empty(n, dtype=_DTYPES[c]) for c in COLUMNS[1:]}
        first = rows[0]
        if isinstance(first, Mapping):
            for i, r in enumerate(rows):
                ts[i] = _kite_ts_ms(r["date"])
                cols["open"][i] = r["open"]
                cols["high"][i] = r["high"]
                cols["low"][i] = r["low"]
                cols["close"][i] = r["close"]
                cols["volume"][i] = r["volume"]
                cols["oi"][i] = r.get("oi", 0) or 0
        else:
            for i, r in enumerate(rows):
                ts[i] = _kite_ts_ms(r[0])
                cols["open"][i], cols["high"][i], cols["low"][i], cols["close"][i] = r[1:5]
                cols["volume"][i] = r[5]
                cols["oi"][i] = r[6] if len(r) > 6 and r[6] is not None else 0
        return cls(ts=ts, **cols)

    # --- conversions ------------------------------------------------------------------------
    def to_pandas(self, *, tz: Any = UTC) -> pd.DataFrame:
        """DataFrame indexed by a tz-aware DatetimeIndex named `ts` (UTC unless `tz`)."""
        import pandas as pd

        index = pd.DatetimeIndex(self.ts.astype("datetime64[ms]"), name="ts").tz_localize("UTC")
        if tz is not UTC:
            index = index.tz_convert(tz)
        return pd.DataFrame(
            {c: getattr(self, c) for c in COLUMNS[1:]}, index=index, copy=False
        )

    def datetimes(self) -> list[datetime]:
        return [from_ms(int(x)) for x in self.ts]

    # --- selection --------------------------------------------------------------------------
    def take(self, index: np.ndarray | slice) -> CandleFrame:
        """Rows selected by a boolean mask, integer indices or a slice."""
        return CandleFrame(*(getattr(self, c)[index] for c in COLUMNS))

    def sorted(self) -> CandleFrame:
        if len(self) < 2 or bool(np.all(self.ts[1:] > self.ts[:-1])):
            return self
        return self.take(np.argsort(self.ts, kind="stable"))

    @staticmethod
    def concat(frames: Iterable[CandleFrame]) -> CandleFrame:
        frames = list(frames)
        if not frames:
            return CandleFrame.empty()
        if len(frames) == 1:
            return frames[0]
        return CandleFrame(*(np.concatenate([getattr(f, c) for f in frames]) for c in COLUMNS))

    def equals(self, other: CandleFrame) -> bool:
        return len(self) == len(other) and all(
            np.array_equal(getattr(self, c), getattr(other, c)) for c in COLUMNS
        )


def _kite_ts_ms(value: Any) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # Kite's timestamps are IST
            value = value.replace(tzinfo=IST)
        return to_ms(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"bad candle timestamp {value!r}", field="date") from None
        return _kite_ts_ms(parsed)
    raise InvalidInput(f"bad candle timestamp {value!r}", field="date")
