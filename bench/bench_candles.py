"""CandleBuilder throughput: ticks/s through `on_ticks` (+ `on_clock` once per simulated
second) for the batch shapes the ingester sees.

    python bench/bench_candles.py [--minutes 3] [--repeat 3]

Scenarios (full-mode ticks, intervals minute + 5minute + 15minute, builder warmed up first):
* live 9000:   9,000 tokens (3 sockets full), 1 tick/s each, one batch per socket per second
               (3,000 ticks) — the most Kite can send one API key.
* live 9000/s: the same ticks in batches of 100 (a socket's frames split finer).
* replay 50:   50 tokens, a kitesim replay frame of 60 s × 50 = 3,000 ticks per batch.
Times are the best of --repeat runs, wall clock, on a possibly shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from mandi.core.clock import IST
from services.marketdata.candles import CandleBuilder
from services.marketdata.ticks import MODE_FULL, TickBatch

OPEN = int(datetime(2025, 11, 20, 9, 15, tzinfo=IST).timestamp())
INTERVALS = ("minute", "5minute", "15minute")


def second_batches(tokens: int, seconds: int, per_second: int, rng) -> list[tuple[TickBatch, int]]:
    """(batch, now): each second's ticks of all tokens cut into batches of `per_second`."""
    out = []
    vol = np.zeros(tokens, dtype=np.int64)
    price = np.full(tokens, 100_000, dtype=np.int64)
    toks = np.arange(1, tokens + 1, dtype=np.int64) * 256 + 1
    for s in range(seconds):
        vol += rng.integers(0, 50, tokens)
        price += rng.integers(-10, 11, tokens) * 5
        for a in range(0, tokens, per_second):
            b = min(tokens, a + per_second)
            t = TickBatch.empty(b - a)
            t.token[:], t.price[:], t.volume[:] = toks[a:b], price[a:b], vol[a:b]
            t.oi[:], t.exchange_ts[:], t.mode[:] = 0, OPEN + s, MODE_FULL
            out.append((t, OPEN + s))
    return out


def replay_batches(tokens: int, minutes: int, rng) -> list[tuple[TickBatch, int]]:
    out = []
    toks = np.arange(1, tokens + 1, dtype=np.int64) * 256 + 1
    vol = np.zeros(tokens, dtype=np.int64)
    for m in range(minutes):
        n = 60 * tokens  # time-major: every token's second k, then k + 1 …
        t = TickBatch.empty(n)
        t.token[:] = np.tile(toks, 60)
        t.exchange_ts[:] = OPEN + 60 * m + np.repeat(np.arange(60), tokens)
        t.price[:] = 100_000 + rng.integers(-100, 100, n) * 5
        t.volume[:] = (vol[None, :] + np.cumsum(rng.integers(0, 50, (60, tokens)), axis=0)).ravel()
        vol = t.volume[-tokens:].copy()
        t.oi[:], t.mode[:] = 0, MODE_FULL
        out.append((t, OPEN + 60 * m + 59))
    return out


def run(batches: list[tuple[TickBatch, int]], tokens: int, repeat: int) -> tuple[float, float]:
    best = float("inf")
    n = sum(len(b) for b, _ in batches)
    for _ in range(repeat):
        cb = CandleBuilder()
        toks = np.unique(np.concatenate([b.token for b, _ in batches[:50]])).tolist()
        for t in toks:
            cb.track(t, INTERVALS, OPEN - 60)
        bars = 0
        t0 = time.perf_counter()
        last = None
        for batch, now in batches:
            bars += len(cb.on_ticks(batch))
            if now != last:
                bars += len(cb.on_clock(now))
                last = now
        best = min(best, time.perf_counter() - t0)
        assert bars > 0 and cb.stats["late_ticks"] == 0
    return n / best, best / len(batches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    secs = 60 * args.minutes
    rows = [
        ("live 9000 tokens, 3000-tick batches", 9000,
         second_batches(9000, secs, 3000, rng)),
        ("live 9000 tokens, 100-tick batches", 9000, second_batches(9000, secs, 100, rng)),
        ("replay 50 tokens, 3000-tick batches", 50, replay_batches(50, 30 * args.minutes, rng)),
    ]
    print(f"CandleBuilder, intervals {', '.join(INTERVALS)}; best of {args.repeat}")
    for name, tokens, batches in rows:
        rate, per_batch = run(batches, tokens, args.repeat)
        print(f"  {name:40s} {rate:>12,.0f} ticks/s   {per_batch * 1e3:7.3f} ms/batch")


if __name__ == "__main__":
    main()
