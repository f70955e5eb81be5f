"""Synthetic TickBatches for marketdata tests and benchmarks: every column filled the way a
decoded KiteTicker frame of that mode fills it (absent fields -1 / 0), values derived from a
seed so two calls give different prices."""

from __future__ import annotations

import numpy as np

from services.marketdata.ticks import MODE_FULL, MODE_LTP, MODE_QUOTE, TickBatch

NSE_TOKENS = (408065, 738561, 2953217, 341249, 779521, 1270529, 2714625, 4267265)


def make_batch(tokens: list[int] | np.ndarray, mode: int = MODE_QUOTE, *, seed: int = 0,
               exchange_ts: int = 1_700_000_000, received_ns: int = 1_700_000_000_123_456_789,
               ) -> TickBatch:
    tokens = np.asarray(tokens, dtype=np.int64)
    n = len(tokens)
    b = TickBatch.empty(n)
    rng = np.random.default_rng(seed)
    b.token[:] = tokens
    b.mode[:] = mode
    b.price[:] = rng.integers(10_000, 500_000, n)
    b.received_ns[:] = received_ns + np.arange(n)
    if mode >= MODE_QUOTE:
        b.ltq[:] = rng.integers(1, 500, n)
        b.avg[:] = b.price - 5
        b.volume[:] = rng.integers(1_000, 10_000_000, n)
        b.buy_qty[:] = rng.integers(0, 100_000, n)
        b.sell_qty[:] = rng.integers(0, 100_000, n)
        b.open[:] = b.price - 100
        b.high[:] = b.price + 100
        b.low[:] = b.price - 200
        b.close[:] = b.price - 50
    if mode >= MODE_FULL:
        b.oi[:] = rng.integers(0, 1_000_000, n)
        b.exchange_ts[:] = exchange_ts + np.arange(n) % 60
        b.last_trade_ts[:] = b.exchange_ts
        steps = np.arange(1, 6) * 5
        b.depth_price[:, :5] = b.price[:, None] - steps
        b.depth_price[:, 5:] = b.price[:, None] + steps
        b.depth_qty[:] = rng.integers(0, 5_000, (n, 10))
        b.depth_orders[:] = rng.integers(0, 40, (n, 10))
    return b


def mixed_batch(n: int, *, seed: int = 0) -> TickBatch:
    """n ticks cycling through LTP, quote and full modes over NSE_TOKENS."""
    tokens = np.resize(np.asarray(NSE_TOKENS, dtype=np.int64), n)
    parts = [make_batch(tokens, m, seed=seed + m) for m in (MODE_LTP, MODE_QUOTE, MODE_FULL)]
    pick = np.arange(n) % 3
    out = TickBatch.empty(n)
    for m, part in enumerate(parts):
        rows = pick == m
        for name in out.__dataclass_fields__:
            getattr(out, name)[rows] = getattr(part, name)[rows]
    return out
