"""The MIS cut-off of one bar, as a bot asks it every bar (`BotEngine._process`): the scalar
`at_cutoff` against the series function `cutoff_mask` given an array of one.

    python bench/bench_cutoff.py [--number 20000] [--repeat 5]

Times are µs per call, the best of --repeat runs, wall clock, on a possibly shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from datetime import datetime

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from mandi.core.backtest.engine import BacktestConfig, at_cutoff, cutoff_mask
from mandi.core.clock import IST


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--number", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cfg = BacktestConfig(segment="equity_intraday")
    t = int(datetime(2026, 3, 2, 11, 0, tzinfo=IST).timestamp()) * 10**9
    one = np.array([t], np.int64)
    for name, fn in (("at_cutoff(ts)", lambda: at_cutoff(t, cfg)),
                     ("cutoff_mask(array of 1)", lambda: bool(cutoff_mask(one, cfg)[0]))):
        best = min(timeit.repeat(fn, number=args.number, repeat=args.repeat)) / args.number
        print(f"{name:26s} {best * 1e6:6.2f} µs")


if __name__ == "__main__":
    main()
