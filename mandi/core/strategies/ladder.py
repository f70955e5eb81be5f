"""The momentum 3-position ladder with trailing stops (long only).

* P1 opens on the entry signal with a stop 2.5 % below and a target 5 % above its fill.
* P2 (a runner: no target) opens once P1's P&L at a close exceeds 0.25 %; stop 2.5 %.
* P3 opens once the average P&L of P1 and P2 exceeds 1 %; stop 5 %.
* Each leg trails: stop = highest price since its entry × (1 − its stop %), to the tick, never
  lowered (`fills.trail_stop`). The engine checks stops intrabar on the next bar.
* A new ladder starts only when every leg is closed; each of P2 and P3 is tried once per ladder.

The entry signal is the fast/slow EMA cross (or `immediate`: enter whenever flat); an opposite
cross closes the ladder when `exit_on_reverse` is set. Percentages are parameters with bounds.
"""

from __future__ import annotations

import math
from typing import Any

from mandi.core.charges import Side
from mandi.core.errors import InvalidInput
from mandi.core.fills import trail_stop
from mandi.core.indicators.streaming import EMA
from mandi.core.strategies.base import Bar, Context, Fill, Param, Strategy


class MomentumLadder(Strategy):
    type_name = "momentum_ladder"
    params_spec = (
        Param("entry", str, "ema_cross", choices=("ema_cross", "immediate")),
        Param("fast", int, 10, 1, 1000),
        Param("slow", int, 30, 2, 5000),
        Param("qty", int, 0, 0, 10**7, doc="units per leg; 0 lets the run's sizer decide"),
        Param("p1_stop_pct", float, 2.5, 0.01, 50.0),
        Param("p1_target_pct", float, 5.0, 0.01, 500.0),
        Param("p2_trigger_pct", float, 0.25, 0.0, 100.0),
        Param("p2_stop_pct", float, 2.5, 0.01, 50.0),
        Param("p3_trigger_pct", float, 1.0, 0.0, 100.0),
        Param("p3_stop_pct", float, 5.0, 0.01, 50.0),
        Param("exit_on_reverse", bool, True),
        Param("tick_paise", int, 5, 1, 10_000),
    )

    @classmethod
    def check_params(cls, p: dict[str, Any]) -> None:
        if p["entry"] == "ema_cross" and p["fast"] >= p["slow"]:
            raise InvalidInput(f"fast ({p['fast']}) must be < slow ({p['slow']})", field="fast")

    def on_start(self, symbol: str) -> None:
        p = self.params
        self._f, self._s = EMA(p["fast"]), EMA(p["slow"])
        self._pf = self._ps = math.nan
        # plain JSON-able state, so a live runner can persist and restore it
        self.state = {"highest": {}, "tried": []}
        self._stop_pct = {"P1": p["p1_stop_pct"], "P2": p["p2_stop_pct"], "P3": p["p3_stop_pct"]}

    def _signal(self, bar: Bar) -> tuple[bool, bool]:
        if self.params["entry"] == "immediate":
            return True, False
        f, s = self._f.update(bar.close), self._s.update(bar.close)
        pf, ps = self._pf, self._ps
        self._pf, self._ps = f, s
        return (pf <= ps and f > s), (pf >= ps and f < s)

    def on_fill(self, fill: Fill, ctx: Context) -> None:
        if fill.reason == "entry":
            self.state["highest"][fill.tag] = fill.price_paise
        else:
            self.state["highest"].pop(fill.tag, None)

    def on_bar(self, bar: Bar, ctx: Context) -> None:
        p, st = self.params, self.state
        entry, reverse = self._signal(bar)
        legs = ctx.legs
        if not legs:
            st["tried"] = []
            if entry:
                self._enter(ctx, "P1", p["p1_stop_pct"], p["p1_target_pct"])
            return
        if reverse and p["exit_on_reverse"]:
            ctx.exit(reason="signal")
            return
        high = math.floor(bar.high * 100 + 0.5)
        for tag, leg in legs.items():
            hi = max(st["highest"].get(tag, leg.entry_price_paise), high)
            st["highest"][tag] = hi
            new = trail_stop(leg.stop_paise, hi, self._stop_pct[tag], p["tick_paise"])
            if new != leg.stop_paise:
                ctx.set_stop(tag, new)
        close = bar.close * 100
        p1, p2 = legs.get("P1"), legs.get("P2")
        if p1 is not None and "P2" not in st["tried"] and \
                pnl_pct(p1.entry_price_paise, close) > p["p2_trigger_pct"]:
            st["tried"].append("P2")
            self._enter(ctx, "P2", p["p2_stop_pct"], None)
        if p1 is not None and p2 is not None and "P3" not in st["tried"]:
            avg = (pnl_pct(p1.entry_price_paise, close) + pnl_pct(p2.entry_price_paise, close)) / 2
            if avg > p["p3_trigger_pct"]:
                st["tried"].append("P3")
                self._enter(ctx, "P3", p["p3_stop_pct"], None)

    def _enter(self, ctx: Context, tag: str, stop: float, target: float | None) -> None:
        ctx.enter(Side.BUY, tag, self.params["qty"] or None, stop_pct=stop, target_pct=target)


def pnl_pct(entry_paise: int, price_paise: float) -> float:
    return (price_paise - entry_paise) / entry_paise * 100.0
