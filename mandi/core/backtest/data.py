"""Bars: the columnar OHLCV container every backtest path reads, and a synthetic generator.

Timestamps are bar-open instants in int64 epoch nanoseconds UTC; prices are float64 rupees (market
data, not money); volume is int64. Prices are converted to integer paise only where they become
money (fills), by `price_paise`, which is exact for prices on the exchange tick.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mandi.core.errors import InvalidInput

NS_PER_MIN = 60 * 1_000_000_000
IST_OFFSET_NS = (5 * 3600 + 1800) * 1_000_000_000
DAY_NS = 86_400 * 1_000_000_000


@dataclass(frozen=True, eq=False)
class Bars:
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbol: str = ""

    def __post_init__(self) -> None:
        n = len(self.ts)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise InvalidInput(f"{name} has {len(getattr(self, name))} rows, ts has {n}",
                                   field=name)
        object.__setattr__(self, "ts", np.ascontiguousarray(self.ts, dtype=np.int64))
        for name in ("open", "high", "low", "close"):
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), np.float64))
        object.__setattr__(self, "volume", np.ascontiguousarray(self.volume, dtype=np.int64))
        if n > 1 and not np.all(np.diff(self.ts) > 0):
            raise InvalidInput("timestamps must be strictly increasing", field="ts")

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, start: int, stop: int) -> Bars:
        return Bars(self.ts[start:stop], self.open[start:stop], self.high[start:stop],
                    self.low[start:stop], self.close[start:stop], self.volume[start:stop],
                    self.symbol)


def price_paise(x: np.ndarray) -> np.ndarray:
    """Float rupees → int64 paise, rounding half away from zero (exact for tick prices)."""
    return np.floor(np.asarray(x, dtype=np.float64) * 100.0 + 0.5).astype(np.int64)


def session_minute_timestamps(n: int, start_day_ns: int = 1_735_689_600 * 10**9) -> np.ndarray:
    """n one-minute bar-open times, 375 per weekday session 09:15–15:29 IST (holidays ignored)."""
    per_day = 375
    days_needed = n // per_day + 2
    day0 = (start_day_ns + IST_OFFSET_NS) // DAY_NS
    days = np.arange(day0, day0 + days_needed * 7 // 5 + 7, dtype=np.int64)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday → Monday is 0
    days = days[weekday < 5][:days_needed]
    open_ns = days * DAY_NS - IST_OFFSET_NS + (9 * 60 + 15) * NS_PER_MIN
    ts = (open_ns[:, None] + np.arange(per_day, dtype=np.int64)[None, :] * NS_PER_MIN).ravel()
    return ts[:n]


def random_walk_bars(n: int, seed: int = 7, start_price: float = 1000.0,
                     tick: float = 0.05, symbol: str = "SYN") -> Bars:
    """Deterministic geometric random walk on the tick grid, one-minute NSE-session bars."""
    rng = np.random.default_rng(seed)
    rets = rng.normal(0.0, 0.0015, n)
    mid = start_price * np.exp(np.cumsum(rets))
    ticks = 1.0 / tick
    close = np.round(mid * ticks) / ticks
    open_ = np.empty(n)
    open_[0] = start_price
    gap = rng.normal(0.0, 0.0003, n)
    open_[1:] = np.round(close[:-1] * (1 + gap[1:]) * ticks) / ticks
    wick_hi = np.abs(rng.normal(0.0, 0.001, n)) * close
    wick_lo = np.abs(rng.normal(0.0, 0.001, n)) * close
    high = np.round((np.maximum(open_, close) + wick_hi) * ticks) / ticks
    low = np.round((np.minimum(open_, close) - wick_lo) * ticks) / ticks
    volume = rng.integers(100, 10_000, n).astype(np.int64)
    return Bars(session_minute_timestamps(n), open_, high, low, close, volume, symbol)
