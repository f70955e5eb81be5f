"""Momentum ladder: scenario with every leg's entry, trailing stop and exit; trailing properties."""

from itertools import pairwise

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hs

from mandi.core.backtest.data import Bars, random_walk_bars, session_minute_timestamps
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.strategies.ladder import MomentumLadder

#            open    high    low     close
LADDER = [(100.00, 100.00, 100.00, 100.00),  # 0 flat → P1 ordered
          (100.00, 101.20, 99.50, 100.50),   # 1 P1 fills 100.00; +0.5 % > 0.25 % → P2 ordered
          (100.50, 102.00, 100.20, 101.80),  # 2 P2 fills 100.50; avg P&L 1.55 % > 1 % → P3
          (101.80, 104.00, 101.50, 103.50),  # 3 P3 fills 101.80; trail to 101.40 / 98.80
          (103.50, 103.60, 102.00, 102.50),  # 4 lower high: stops unchanged (never lowered)
          (102.50, 106.00, 102.40, 105.50),  # 5 P1 target 105.00; trail P2 103.35, P3 100.70
          (105.00, 105.20, 103.00, 103.20),  # 6 P2 stopped at 103.35
          (103.00, 103.10, 100.00, 100.50),  # 7 P3 stopped at 100.70; flat → new P1 ordered
          (100.50, 100.60, 100.40, 100.50)]  # 8 P1 fills 100.50, closed at the end


def bars_of(rows) -> Bars:
    o, h, lo, c = (np.array(col) for col in zip(*rows, strict=True))
    return Bars(session_minute_timestamps(len(rows)), o, h, lo, c, np.full(len(rows), 100), "X")


class Recording(MomentumLadder):
    """Records each open leg's stop as the strategy sees it at every bar."""

    def on_start(self, symbol):
        super().on_start(symbol)
        self.seen: dict[tuple[str, int], list[int]] = {}

    def on_bar(self, bar, ctx):
        for tag, leg in ctx.legs.items():
            self.seen.setdefault((tag, leg.entry_ts), []).append(leg.stop_paise)
        super().on_bar(bar, ctx)


CFG = BacktestConfig(segment="equity_delivery", charges=False)


def test_ladder_when_price_climbs_then_falls_opens_three_legs_and_trails_each():
    s = Recording(entry="immediate", qty=10)
    r = run_backtest(bars_of(LADDER), s, CFG)
    got = [(t.tag, t.entry_price_paise, t.exit_price_paise, t.exit_reason, t.gross_pnl_paise)
           for t in r.trades]
    assert got == [("P1", 10000, 10500, "target", 5000),
                   ("P2", 10050, 10335, "stop", 2850),
                   ("P3", 10180, 10070, "stop", -1100),
                   ("P1", 10050, 10050, "end", 0)]
    ts = session_minute_timestamps(len(LADDER))
    # P1: 2.5 % under 100.00, then under the highs 101.20 (→ 98.65), 102, 104; 103.60 ignored
    assert s.seen[("P1", int(ts[1]))] == [9750, 9865, 9945, 10140]
    assert s.seen[("P2", int(ts[2]))] == [9800, 9945, 10140, 10140]
    assert s.seen[("P3", int(ts[3]))] == [9670, 9880, 9880, 10070]


def test_ladder_when_p1_never_gains_enough_adds_no_second_leg():
    flat = [(100.0, 100.2, 99.9, 100.1)] * 12
    r = run_backtest(bars_of(flat), MomentumLadder(entry="immediate", qty=5), CFG)
    assert [t.tag for t in r.trades] == ["P1"]  # +0.1 % never clears the 0.25 % trigger


def test_ladder_when_p1_gain_is_exactly_the_trigger_does_not_add():
    rows = [(100.0, 100.0, 100.0, 100.0), (100.0, 100.3, 100.0, 100.25),
            (100.25, 100.3, 100.2, 100.25), (100.25, 100.3, 100.2, 100.25)]
    r = run_backtest(bars_of(rows), MomentumLadder(entry="immediate", qty=5), CFG)
    assert [t.tag for t in r.trades] == ["P1"]  # "> 0.25 %", not ">="


@settings(max_examples=25, deadline=None)
@given(seed=hs.integers(0, 10_000), stop=hs.floats(0.2, 5.0))
def test_ladder_when_any_random_path_trailing_stops_never_decrease(seed, stop):
    s = Recording(fast=3, slow=8, p1_stop_pct=stop, p2_stop_pct=stop, p3_stop_pct=2 * stop,
                  p2_trigger_pct=0.05, p3_trigger_pct=0.1, qty=1)
    run_backtest(random_walk_bars(400, seed=seed), s, CFG)
    assert s.seen  # legs were opened
    for stops in s.seen.values():
        assert all(b >= a for a, b in pairwise(stops))
