"""Trailing stops the legs' GTTs do not hold: the bot enforces them itself, as the backtester
checks stops (issue #12).

A GTT may lag its leg's wanted stop — the bot has not learnt the GTT yet, or Kite refuses a
trigger within 0.25 % of the last price. Then, before `on_bar` of each live bar, a leg whose
bar crossed the wanted stop is exited at market (reason stop), on the very bar the backtest's
stop exit happens.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import time

from mandi.core.backtest.data import NS_PER_MIN, random_walk_bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.sizing import FixedQty
from mandi.core.charges import Segment
from mandi.core.gtt_rules import min_trigger_gap, nearest_stop, trigger_too_close
from mandi.core.strategies.base import Bar, Strategy
from services.strategy.bot_engine import BotEngine, client_order_id
from tests.unit.strategy_service.test_bot_engine import (
    DAY,
    _Broker,
    _ladder,
    _ladder_trades,
    _no_gap,
)

SYM = "NSE:SYN"


class _Idle(Strategy):
    """Places nothing: the legs are the test's."""

    name = "idle"

    def on_bar(self, bar, ctx) -> None:
        pass


def _leg(**kw) -> dict:
    return {"side": "BUY", "qty": 10, "entry_price_paise": 100_000, "entry_ts": 0,
            "stop_paise": 99_800, "target_paise": None, "coid": "b1:60:0.P1.in",
            "order_id": "ord_1", "filled": True, "gtt_id": "gtt_1", "stop_pct": 1.0,
            "target_pct": 0.0, **kw}


def _engine(legs: dict) -> BotEngine:
    eng = BotEngine("b1", [SYM], lambda _s: _Idle(), BacktestConfig(sizer=FixedQty(10)),
                    NS_PER_MIN, 0)
    eng.resume_from({"legs": {SYM: legs}})
    return eng


def _bar(low: float, high: float, ts: int = 120 * NS_PER_MIN) -> Bar:
    return Bar(SYM, ts, 1000.0, high, low, 999.0, 100)


def test_a_crossed_stop_its_gtt_does_not_hold_is_exited_by_the_bot_at_market() -> None:
    eng = _engine({"P1": _leg(gtt_stop=99_000)})  # the GTT still holds the fill's 1 %
    assert eng.stops_pending(SYM)
    (o,) = eng.on_candle(SYM, _bar(low=997.95, high=1001.0))  # 997.95 < 998.00
    assert (o.reason, o.tag, o.side.value, o.qty) == ("stop", "P1", "SELL", 10)
    assert o.client_order_id == client_order_id("b1", 120 * NS_PER_MIN, "0.P1.out")
    assert o.gtt_id == "gtt_1", "its GTT is deleted before the exit is sent"
    assert [(x.client_order_id, stop, held) for x, stop, held in eng.stop_exits] == \
        [(o.client_order_id, 99_800, 99_000)]
    assert not eng.feeds[SYM].ctx.legs and o.client_order_id in eng.awaiting


def test_a_stop_its_gtt_holds_is_left_to_the_gtt() -> None:
    eng = _engine({"P1": _leg(gtt_stop=99_800)})
    assert not eng.stops_pending(SYM)
    assert eng.on_candle(SYM, _bar(low=997.0, high=1001.0)) == []
    assert "P1" in eng.feeds[SYM].ctx.legs and eng.stop_exits == []


def test_a_bar_that_does_not_reach_the_wanted_stop_exits_nothing() -> None:
    eng = _engine({"P1": _leg(gtt_stop=99_000)})
    assert eng.on_candle(SYM, _bar(low=998.05, high=1001.0)) == []
    assert eng.stops_pending(SYM) and "P1" in eng.feeds[SYM].ctx.legs


def test_a_short_legs_stop_is_crossed_by_the_bars_high() -> None:
    eng = _engine({"P1": _leg(side="SELL", stop_paise=100_200, gtt_stop=101_000)})
    assert eng.on_candle(SYM, _bar(low=999.0, high=1001.95)) == []
    (o,) = eng.on_candle(SYM, _bar(low=999.0, high=1002.0, ts=121 * NS_PER_MIN))
    assert (o.reason, o.side.value) == ("stop", "BUY")


def test_the_gtts_stop_and_the_logged_note_survive_a_restart() -> None:
    eng = _engine({"P1": _leg(gtt_stop=99_000)})
    eng.feeds[SYM].info["P1"]["stop_enforced"] = True
    saved = json.loads(json.dumps(eng.state()))
    assert saved["legs"][SYM]["P1"]["gtt_stop"] == 99_000
    again = _engine({})
    again.resume_from(saved)
    assert again.stops_pending(SYM) and again.feeds[SYM].info["P1"]["stop_enforced"]
    again.gtt_holds(SYM, "P1", 99_800)  # the GTT took the stop: the note is cleared
    assert not again.stops_pending(SYM)
    assert again.feeds[SYM].info["P1"]["stop_enforced"] is False


def test_the_fill_sets_the_stop_the_gtt_is_placed_with_and_a_trail_makes_it_pending() -> None:
    eng = _engine({})
    eng.resume_from({"legs": {SYM: {"P1": _leg(filled=False, stop_paise=None,
                                               gtt_stop=None)}}})
    eng.entry_filled(SYM, "P1", 10, 100_000, 0)
    assert eng.feeds[SYM].info["P1"]["gtt_stop"] == 99_000 and not eng.stops_pending(SYM)
    eng.feeds[SYM].ctx.set_stop("P1", 99_500)
    eng.on_candle(SYM, _bar(low=999.0, high=1001.0))
    assert eng.stops_pending(SYM)


class _FrozenGtts(_Broker):
    """Execution whose GTTs never take a trailing move (every move too close to the price):
    each GTT keeps the stop it was placed with; the bot enforces the rest."""

    def _exit_ts(self, o, ts: int) -> int:
        # a stop the bot enforced happened on its signal bar (the backtest's stop bar)
        return o.bar_ts if o.reason == "stop" else ts

    def _gtt_stop(self, sym: str, tag: str, leg) -> int | None:
        return self.eng.feeds[sym].info[tag].get("gtt_stop") or None

    def step(self, i: int):
        orders = super().step(i)
        self.enforced = getattr(self, "enforced", 0) + len(self.eng.stop_exits)
        return orders


def test_the_ladders_legs_leave_on_the_backtests_stop_bars_when_no_gtt_can_trail() -> None:
    """The ladder of the parity e2e in small: every trailing move refused, the bot's own
    stop exits come on the bars the backtest's stops are hit, leg by leg."""
    bars = _no_gap(random_walk_bars(2 * DAY, seed=5, symbol=SYM))
    cfg = BacktestConfig(segment=Segment.EQUITY_INTRADAY, sizer=FixedQty(5), charges=False)
    bt = run_backtest({SYM: bars}, _ladder, dataclasses.replace(cfg, squareoff_ist=time(15, 19)),
                      trade_from=DAY)
    eng = BotEngine("b1", [SYM], _ladder, cfg, NS_PER_MIN, int(bars.ts[DAY]))
    sim = _FrozenGtts(eng, bars)
    sim.run(range(len(bars)))
    assert sim.enforced > 0, "trailed stops the GTTs did not hold were crossed"
    want = [(t[0], t[1], t[3], t[5]) for t in _ladder_trades(bt.trades)]
    got = sorted((t[0], t[1], t[3], t[5]) for t in sim.trades)
    assert got == want, "same legs, same entry and exit bars, same reasons"


def test_kites_gtt_trigger_rule_is_a_quarter_percent_of_the_last_price() -> None:
    assert min_trigger_gap(137_260) == 344  # the e2e's ₹1372.60: ₹3.44
    assert trigger_too_close(137_040, 137_260) and not trigger_too_close(136_910, 137_260)
    assert not trigger_too_close(137_040, 0), "no last price: the broker decides"
    # the nearest stop Kite takes at ₹1372.60: ₹1369.16 down to the tick, one tick further
    assert nearest_stop(137_260, True, 5) == 136_910 and nearest_stop(137_260, False, 5) == 137_610
    assert not trigger_too_close(nearest_stop(137_260, True, 5), 137_260)
