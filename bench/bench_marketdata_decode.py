"""Ticks/s decoded by services.marketdata.ticks.decode vs kiteconnect's own KiteTicker parser,
on the same kitesim-shaped frames (targets: ≥ 200,000 ticks/s and ≥ 10× kiteconnect).

    python bench/bench_marketdata_decode.py [--frames 20] [--packets 4096] [--seconds 2]

Frames are built with mandi.kite.ticker_codec.records/frame exactly as kitesim's ticker builds
them: `--packets` packets per frame (kitesim's FRAME_PACKETS is 4096), full mode (184 B packets
with depth) and quote mode (44 B), NSE tokens, varied field values. Each parser decodes the
frames round-robin for about `--seconds`; kiteconnect's entry point is
`KiteTicker._parse_binary(bytes)`, the method its Twisted protocol calls for every binary
message. Prints a table and one JSON line; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kiteconnect import KiteTicker  # noqa: E402

from mandi.kite import ticker_codec as tc  # noqa: E402
from services.marketdata.ticks import decode  # noqa: E402

FIELDS_U4 = ("last_price", "last_traded_quantity", "average_traded_price", "volume_traded",
             "total_buy_quantity", "total_sell_quantity", "open", "high", "low", "close")


def build_frames(mode: str, frames: int, packets: int, seed: int = 1) -> list[bytes]:
    rng = np.random.default_rng(seed)
    dtype = tc.FULL_DTYPE if mode == tc.MODE_FULL else tc.QUOTE_DTYPE
    out = []
    base = 1_000_000 + rng.integers(0, 50_000, packets)
    tokens = (np.arange(packets, dtype=np.int64) + 1000) * 256 + 1  # NSE segment
    for f in range(frames):
        rec = tc.records(dtype, packets)
        rec["token"] = tokens
        for name in FIELDS_U4:
            rec[name] = base + rng.integers(0, 5_000, packets)
        if mode == tc.MODE_FULL:
            ts = 1_763_613_000 + f
            rec["last_trade_time"] = ts
            rec["exchange_timestamp"] = ts
            rec["oi"] = rng.integers(0, 10_000_000, packets)
            rec["oi_day_high"] = rec["oi"]
            rec["oi_day_low"] = rec["oi"] // 2
            depth = rec["depth"]
            depth["quantity"] = rng.integers(1, 10_000, (packets, 10))
            depth["price"] = base[:, None] + np.arange(-5, 5)[None, :] * 5
            depth["orders"] = rng.integers(1, 50, (packets, 10))
        out.append(tc.frame(rec))
    return out


def rate(parse, frames: list[bytes], seconds: float) -> tuple[float, int]:
    """Ticks/s of `parse` over `frames` round-robin for ~seconds (at least one pass)."""
    ticks, n, t0 = 0, 0, time.perf_counter()
    while True:
        for frame in frames:
            ticks += len(parse(frame))
            n += 1
        if time.perf_counter() - t0 >= seconds:
            break
    return ticks / (time.perf_counter() - t0), ticks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20, help="distinct frames per mode")
    ap.add_argument("--packets", type=int, default=4096, help="packets per frame")
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = ap.parse_args()
    kite = KiteTicker("bench", "bench")
    ours_ns = time.time_ns()
    res: dict[str, float] = {}
    print(f"decode, frames of {args.packets} packets (targets: >= 200,000 ticks/s, >= 10x)")
    print(f"  {'mode':6s} {'bytes/pkt':>9s} {'mandi decode':>16s} {'kiteconnect':>16s} "
          f"{'ratio':>7s}")
    for mode, size in ((tc.MODE_FULL, tc.FULL_LEN), (tc.MODE_QUOTE, tc.QUOTE_LEN)):
        frames = build_frames(mode, args.frames, args.packets)
        assert len(decode(frames[0])) == len(kite._parse_binary(frames[0])) == args.packets
        ours, _ = rate(lambda b: decode(b, ours_ns), frames, args.seconds)
        theirs, _ = rate(kite._parse_binary, frames[:2], args.seconds)
        res[f"{mode}_ticks_per_s"] = ours
        res[f"{mode}_kiteconnect_ticks_per_s"] = theirs
        res[f"{mode}_ratio"] = ours / theirs
        print(f"  {mode:6s} {size:>9d} {ours:>12,.0f} t/s {theirs:>12,.0f} t/s "
              f"{ours / theirs:>6.1f}x")
    print(json.dumps({k: round(v, 1) for k, v in res.items()}))


if __name__ == "__main__":
    main()
