"""The bot's bar-by-bar driver against the backtester: the same strategy on the same candles
places the orders of the backtest's trade list, and a bot rebuilt mid-day from its saved state
(a crash) goes on to place the same orders, none twice. With every sizer; and the momentum
ladder, whose legs live by their GTT stops and targets, against a broker that fills as the
backtester's model does (entries at the next open, GTTs within the next bar)."""

from __future__ import annotations

import dataclasses
import json
from datetime import time
from typing import Any

import numpy as np
import pytest

from mandi.core.backtest.data import DAY_NS, IST_OFFSET_NS, NS_PER_MIN, Bars, random_walk_bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.sizing import AtrRisk, FixedCapital, FixedQty, PercentEquity
from mandi.core.charges import Segment, Side
from mandi.core.fills import BarPrices, Slippage, exit_on_bar
from mandi.core.strategies.base import Bar
from services.strategy import library
from services.strategy.bot_engine import BotEngine, OrderIntent, client_order_id
from services.strategy.bot_risk import ist_day_of_ns

DAY = 375
PARAMS = {"fast": 5, "slow": 20, "allow_short": True}


def _bars() -> Bars:
    return random_walk_bars(2 * DAY, seed=3, symbol="NSE:SYN")


def _cfg(**kw) -> BacktestConfig:
    return BacktestConfig(segment=Segment.EQUITY_INTRADAY, sizer=FixedQty(7), charges=False,
                          **kw)


def _factory(_symbol: str):
    return library.build("ema_crossover", PARAMS, None)


def _bar(bars: Bars, i: int) -> Bar:
    return Bar(bars.symbol, int(bars.ts[i]), float(bars.open[i]), float(bars.high[i]),
               float(bars.low[i]), float(bars.close[i]), int(bars.volume[i]))


def _engine(bars: Bars) -> BotEngine:
    return BotEngine("b1", [bars.symbol], _factory, _cfg(), NS_PER_MIN, int(bars.ts[DAY]))


def _orders_of_trades(trades) -> list[tuple[int, str, int, str]]:
    """(fill bar ts, side, qty, reason) of every fill of a backtest's trade list."""
    out = []
    for t in trades:
        long = t.side == "long"
        out.append((t.entry_ts, "BUY" if long else "SELL", t.qty, "entry"))
        out.append((t.exit_ts, "SELL" if long else "BUY", t.qty, t.exit_reason))
    return sorted(out)


def _as_fills(orders: list[OrderIntent]) -> list[tuple[int, str, int, str]]:
    return sorted((o.bar_ts + NS_PER_MIN, o.side.value, o.qty, o.reason) for o in orders)


def test_bot_places_the_orders_of_the_backtest_of_the_same_candles() -> None:
    """The backtest squaring off a bar before the broker's cut-off, as a bot does."""
    bars = _bars()
    bt = run_backtest({bars.symbol: bars}, _factory, _cfg(squareoff_ist=time(15, 19)),
                      trade_from=DAY)
    assert len(bt.trades) >= 4, "the series should make the strategy trade"
    eng = _engine(bars)
    orders = [o for i in range(len(bars)) for o in eng.on_candle(bars.symbol, _bar(bars, i))]
    assert _as_fills(orders) == _orders_of_trades(bt.trades)
    squareoffs = [o for o in orders if o.reason == "squareoff"]
    assert squareoffs, "the series should leave a leg open into the cut-off"
    ist = [(o.bar_ts + IST_OFFSET_NS) % DAY_NS // NS_PER_MIN for o in squareoffs]
    assert set(ist) == {15 * 60 + 18}, "sent when the 15:18 bar closes, before 15:20"
    assert all(o.bar_ts >= bars.ts[DAY] for o in orders), "warm-up bars never trade"
    ids = [o.client_order_id for o in orders]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("b1:") for i in ids)


@pytest.mark.parametrize("crash_at", [DAY + 37, DAY + 200, DAY + 344])
def test_a_bot_rebuilt_from_saved_state_goes_on_with_the_same_orders(crash_at: int) -> None:
    bars = _bars()
    whole = _engine(bars)
    expected = [o for i in range(len(bars)) for o in whole.on_candle(bars.symbol, _bar(bars, i))]

    first = _engine(bars)
    sent = [o for i in range(crash_at) for o in first.on_candle(bars.symbol, _bar(bars, i))]
    saved = first.state()
    # the state went through JSON in PostgreSQL
    import json
    saved = json.loads(json.dumps(saved))

    second = _engine(bars)
    second.resume_from(saved)
    replayed = [o for i in range(crash_at) for o in second.on_candle(bars.symbol, _bar(bars, i))]
    assert replayed == [], "bars the first run processed send nothing again"
    assert not second.replaying and second.state() == saved
    # the stream replays from before the last bar: bars already processed are skipped
    rest = [o for i in range(crash_at - 3, len(bars))
            for o in second.on_candle(bars.symbol, _bar(bars, i))]
    assert sent + rest == expected


def test_client_order_id_is_deterministic_and_fits_execution() -> None:
    a = client_order_id("b0123456789abcde", 1_772_595_900 * 10**9, "0.main.in")
    assert a == "b0123456789abcde:1772595900:0.main.in"
    long_leg = client_order_id("b0123456789abcde", 1_772_595_900 * 10**9, "0." + "x" * 80)
    assert len(long_leg) == 64
    assert long_leg == client_order_id("b0123456789abcde", 1_772_595_900 * 10**9,
                                       "0." + "x" * 80)


def test_cnc_short_entry_is_refused_as_in_the_backtest() -> None:
    bars = _bars()
    cfg = BacktestConfig(segment=Segment.EQUITY_DELIVERY, sizer=FixedQty(3), charges=False)
    eng = BotEngine("b1", [bars.symbol], _factory, cfg, NS_PER_MIN, int(bars.ts[DAY]))
    orders = [o for i in range(len(bars)) for o in eng.on_candle(bars.symbol, _bar(bars, i))]
    assert orders and all(o.side is Side.BUY for o in orders if o.reason == "entry")
    assert eng.refused > 0
    bt = run_backtest({bars.symbol: bars}, _factory, cfg, trade_from=DAY)
    bt_entries = sorted(t.entry_ts for t in bt.trades)
    assert bt_entries == sorted(o.bar_ts + NS_PER_MIN for o in orders if o.reason == "entry")


def test_paused_bot_opens_nothing_but_still_exits_and_squares_off() -> None:
    bars = _bars()
    eng = _engine(bars)
    orders: list[OrderIntent] = []
    for i in range(len(bars)):
        if orders and orders[-1].reason == "entry" and not eng.paused:
            eng.paused = True  # pause right after the first entry
        orders += eng.on_candle(bars.symbol, _bar(bars, i))
    entries = [o for o in orders if o.reason == "entry"]
    assert len(entries) == 1
    assert len(orders) == 2 and orders[1].side is not entries[0].side  # its exit, no more


def test_a_refused_entry_is_forgotten_so_no_exit_is_sent_for_it() -> None:
    bars = _bars()
    eng = _engine(bars)
    orders: list[OrderIntent] = []
    refused = None
    for i in range(len(bars)):
        out = eng.on_candle(bars.symbol, _bar(bars, i))
        if refused is None and any(o.reason == "entry" for o in out):
            refused = next(o for o in out if o.reason == "entry")
            eng.forget_entry(refused)
            assert not eng.state()["legs"]
            out = [o for o in out if o is not refused]
        orders += out
    assert refused is not None
    # the first order after the refusal is an entry: the refused leg is never exited
    after = [o for o in orders if o.bar_ts > refused.bar_ts]
    assert after[0].reason == "entry"


def _two_symbol_run(bars_a: Bars, bars_b: Bars, order: list[tuple[str, int]],
                    eng: BotEngine) -> list[OrderIntent]:
    src = {bars_a.symbol: bars_a, bars_b.symbol: bars_b}
    return [o for sym, i in order for o in eng.on_candle(sym, _bar(src[sym], i))]


def test_a_two_symbol_bot_resumes_each_symbol_at_its_own_last_bar() -> None:
    a = random_walk_bars(2 * DAY, seed=3, symbol="NSE:AAA")
    b = random_walk_bars(2 * DAY, seed=5, symbol="NSE:BBB")
    engine = lambda: BotEngine("b2", [a.symbol, b.symbol], _factory, _cfg(),  # noqa: E731
                               NS_PER_MIN, int(a.ts[DAY]))
    steps = [(s, i) for i in range(len(a)) for s in (a.symbol, b.symbol)]
    expected = _two_symbol_run(a, b, steps, engine())
    assert {o.symbol for o in expected} == {a.symbol, b.symbol}

    crash = steps.index((a.symbol, DAY + 150))  # A has processed bar DAY+150, B only DAY+149
    first = engine()
    sent = _two_symbol_run(a, b, steps[:crash + 1], first)
    saved = first.state()
    second = engine()
    second.resume_from(saved)
    # the stream replays A ahead of B: A's next bar is live while B still replays
    replay = [(a.symbol, i) for i in range(DAY + 152)] + [(b.symbol, i) for i in range(len(b))]
    replay += [(a.symbol, i) for i in range(DAY + 152, len(a))]
    rest = _two_symbol_run(a, b, replay, second)
    key = lambda o: (o.bar_ts, o.symbol, o.client_order_id)  # noqa: E731
    assert sorted(sent + rest, key=key) == sorted(expected, key=key)


def test_entries_blocked_by_the_loss_latch_stop_for_that_day_only_and_exits_go_on() -> None:
    bars = random_walk_bars(3 * DAY, seed=3, symbol="NSE:SYN")
    eng = _engine(bars)
    orders: list[OrderIntent] = []
    day2 = ist_day_of_ns(int(bars.ts[DAY]))
    for i in range(len(bars)):
        if orders and not eng.entries_blocked:
            eng.entries_blocked = day2  # the latch refused an entry right after the first
            restored = _engine(bars)
            restored.resume_from(eng.state())
            assert restored.entries_blocked == day2  # saved with the bar's state
        orders += eng.on_candle(bars.symbol, _bar(bars, i))
    on_day2 = [o for o in orders if ist_day_of_ns(o.bar_ts) == day2]
    assert [o.reason for o in on_day2 if o.reason == "entry"] == ["entry"]
    assert len(on_day2) == 2 and on_day2[1].side is not on_day2[0].side  # its exit still sent
    later = [o for o in orders if ist_day_of_ns(o.bar_ts) > day2]
    assert any(o.reason == "entry" for o in later), "the next day trades again"


def _no_gap(bars: Bars) -> Bars:
    """The series with every open at the previous close: the bot sizes at the signal bar's
    close, the backtest at the next open — equal here, so both size alike to the unit."""
    o = bars.open.copy()
    o[1:] = bars.close[:-1]
    hi = np.maximum(bars.high, o)
    lo = np.minimum(bars.low, o)
    return Bars(bars.ts, o, hi, lo, bars.close, bars.volume, bars.symbol)


@pytest.mark.parametrize("sizer", [FixedCapital(20_000_000), PercentEquity(35.5),
                                   AtrRisk(0.5, atr_period=10, atr_mult=2.0)])
def test_every_sizer_of_the_backtester_sizes_the_bots_entries_alike(sizer) -> None:
    bars = _no_gap(_bars())
    cfg = BacktestConfig(segment=Segment.EQUITY_INTRADAY, sizer=sizer, charges=False,
                         initial_capital_paise=50_000_000)
    bt = run_backtest({bars.symbol: bars}, _factory,
                      dataclasses.replace(cfg, squareoff_ist=time(15, 19)), trade_from=DAY)
    eng = BotEngine("b1", [bars.symbol], _factory, cfg, NS_PER_MIN, int(bars.ts[DAY]))
    sim = _Broker(eng, bars)
    orders = sim.run(range(len(bars)))
    assert len({o.qty for o in orders}) > 1, "equity moves, and with it the quantity"
    assert _as_fills(orders) == _orders_of_trades(bt.trades)
    assert eng.realized_paise == sum(t.gross_pnl_paise for t in bt.trades)


class _Broker:
    """Execution as the backtester models it: an entry sent after bar i fills at bar i+1's
    open; a leg's GTT (its stop/target) is checked against bar i+1; an exit fills at the
    next open. The engine is told before it processes bar i+1, as the runner reconciles."""

    def __init__(self, eng: BotEngine, bars: Bars) -> None:
        self.eng, self.bars = eng, bars
        self.entries: list[OrderIntent] = []
        self.exits: list[OrderIntent] = []
        self.trades: list[tuple] = []  # (tag, entry ts, entry px, exit ts, exit px, reason, qty)
        self.opened: dict[str, tuple[int, int]] = {}
        self.trailed_bars = 0

    def run(self, idx) -> list[OrderIntent]:
        out = []
        for i in idx:
            out += self.step(i)
        return out

    def step(self, i: int) -> list[OrderIntent]:
        eng, b, sym = self.eng, self.bars, self.bars.symbol
        ts = int(b.ts[i])
        op = round(float(b.open[i]) * 100)
        if eng.is_live_bar(sym, ts):
            for o in self.exits:
                eng.exit_filled(o.client_order_id, op, ts)
                self._close(o.tag, self._exit_ts(o, ts), op, o.reason)
            for o in self.entries:
                eng.entry_filled(sym, o.tag, o.qty, op, ts)
                self.opened[o.tag] = (ts, op)
            self.exits, self.entries = [], []
            px = BarPrices(op, round(float(b.high[i]) * 100), round(float(b.low[i]) * 100),
                           round(float(b.close[i]) * 100))
            for tag, leg in list(eng.feeds[sym].ctx.legs.items()):
                hit = exit_on_bar(leg.is_long, self._gtt_stop(sym, tag, leg), leg.target_paise,
                                  px, Slippage())
                if hit is not None:
                    eng.closed_by_gtt(sym, tag, hit[1], hit[0], ts)
                    self._close(tag, ts, hit[0], hit[1])
        orders = eng.on_candle(sym, _bar(b, i))
        self.trailed_bars += eng.stops_pending(sym)  # a wanted stop its GTT must take
        self.entries += [o for o in orders if o.reason == "entry"]
        self.exits += [o for o in orders if o.reason != "entry"]
        return orders

    def _exit_ts(self, o: OrderIntent, ts: int) -> int:
        """The time a sent exit is booked at: the bar it filled on."""
        return ts

    def _gtt_stop(self, sym: str, tag: str, leg: Any) -> int | None:
        """The stop the leg's GTT triggers at: the strategy's stop (every trail applied)."""
        return leg.stop_paise

    def _close(self, tag: str, ts: int, px: int, reason: str) -> None:
        ets, epx = self.opened.pop(tag)
        self.trades.append((tag, ets, epx, ts, px, reason))


LADDER = {"fast": 3, "slow": 8, "qty": 0, "p1_stop_pct": 0.3, "p1_target_pct": 0.4,
          "p2_trigger_pct": 0.05, "p2_stop_pct": 0.3, "p3_trigger_pct": 0.1, "p3_stop_pct": 0.6}


def _ladder(_symbol: str):
    return library.build("momentum_ladder", LADDER, None)


def _ladder_trades(trades) -> list[tuple]:
    return sorted((t.tag, t.entry_ts, t.entry_price_paise, t.exit_ts, t.exit_price_paise,
                   t.exit_reason) for t in trades)


@pytest.mark.parametrize("crash_at", [None, DAY + 90, DAY + 260])
def test_the_ladder_bot_trades_the_backtests_legs_stops_targets_and_trails(crash_at) -> None:
    """Entries at the real fill (P2/P3 trigger on P1's fill), GTT stops and targets at the
    fill's levels, trailing moves, squareoff — the backtest's trade list to the paisa; a bot
    rebuilt from its saved state mid-day (crash_at) goes on identically."""
    bars = _no_gap(random_walk_bars(2 * DAY, seed=5, symbol="NSE:SYN"))
    cfg = BacktestConfig(segment=Segment.EQUITY_INTRADAY, sizer=PercentEquity(20.0),
                         charges=False)
    bt = run_backtest({bars.symbol: bars}, _ladder,
                      dataclasses.replace(cfg, squareoff_ist=time(15, 19)), trade_from=DAY)
    reasons = {t.exit_reason for t in bt.trades}
    assert {"stop", "target", "signal"} <= reasons, reasons
    assert {t.tag for t in bt.trades} == {"P1", "P2", "P3"}

    def engine() -> BotEngine:
        return BotEngine("b1", [bars.symbol], _ladder, cfg, NS_PER_MIN, int(bars.ts[DAY]))

    eng = engine()
    sim = _Broker(eng, bars)
    if crash_at is None:
        sim.run(range(len(bars)))
    else:
        sim.run(range(crash_at + 1))
        saved = json.loads(json.dumps(eng.state()))  # as PostgreSQL keeps it
        assert any("gtt_id" in leg for leg in saved["legs"].get(bars.symbol, {}).values()) \
            or not saved["legs"]
        sim.eng = engine()
        sim.eng.resume_from(saved)
        sim.run(range(len(bars)))  # the stream replays the day from its start
    assert sorted(sim.trades) == _ladder_trades(bt.trades)
    assert sim.trailed_bars > 0, "the ladder's trailing stops leave stops for the GTTs to take"
    assert sim.eng.realized_paise == sum(t.gross_pnl_paise for t in bt.trades)


def test_an_entry_with_a_stop_and_target_carries_them_as_percents_and_exits_name_the_gtt(
        ) -> None:
    bars = _no_gap(random_walk_bars(2 * DAY, seed=5, symbol="NSE:SYN"))
    cfg = BacktestConfig(sizer=FixedQty(5), charges=False)
    eng = BotEngine("b1", [bars.symbol], _ladder, cfg, NS_PER_MIN, int(bars.ts[DAY]))
    entry = None
    for i in range(len(bars)):
        out = eng.on_candle(bars.symbol, _bar(bars, i))
        if out:
            entry = out[0]
            break
    assert entry is not None and entry.reason == "entry" and entry.tag == "P1"
    assert (entry.stop_pct, entry.target_pct, entry.qty) == (0.3, 0.4, 5)
    eng.entry_sent(bars.symbol, "P1", "ord_1")
    eng.set_gtt(bars.symbol, "P1", "gtt_1")
    eng.entry_filled(bars.symbol, "P1", 5, 100_000, int(bars.ts[i + 1]))
    leg = eng.feeds[bars.symbol].ctx.legs["P1"]
    assert (leg.entry_price_paise, leg.stop_paise, leg.target_paise) == (100_000, 99_700,
                                                                         100_400)
    st = eng.state()["legs"][bars.symbol]["P1"]
    assert (st["order_id"], st["gtt_id"], st["filled"]) == ("ord_1", "gtt_1", True)
    eng.feeds[bars.symbol].ctx.exit(reason="signal")
    out = eng._process(eng.feeds[bars.symbol], _bar(bars, i + 1))
    exits = [o for o in out if o.tag == "P1"]
    assert exits[0].gtt_id == "gtt_1" and exits[0].reason == "signal"


def test_unfilled_entry_is_dropped_and_a_partial_fill_sizes_the_leg() -> None:
    bars = _no_gap(random_walk_bars(2 * DAY, seed=5, symbol="NSE:SYN"))
    eng = BotEngine("b1", [bars.symbol], _ladder, BacktestConfig(sizer=FixedQty(10)),
                    NS_PER_MIN, int(bars.ts[DAY]))
    sym = bars.symbol
    ctx = eng.feeds[sym].ctx
    i = 0
    while not eng.on_candle(sym, _bar(bars, i)):
        i += 1
    assert ctx.position == 10
    eng.entry_failed(sym, "P1")  # cancelled unfilled: never opened
    assert not ctx.legs and ctx.position == 0 and eng.refused == 1
    while not eng.on_candle(sym, _bar(bars, i)):
        i += 1
    eng.entry_filled(sym, "P1", 4, 100_000, int(bars.ts[i + 1]))  # 4 of 10, the rest cancelled
    assert ctx.legs["P1"].qty == 4 and ctx.position == 4
    # the leg's exit: realized P&L moves from the close it was sent at to the real fill
    ctx.exit(reason="signal")
    (out,) = eng._process(eng.feeds[sym], _bar(bars, i + 1))
    est = round(float(bars.close[i + 1]) * 100)
    assert out.qty == 4 and eng.realized_paise == (est - 100_000) * 4
    eng.exit_filled(out.client_order_id, 100_500, int(bars.ts[i + 2]))
    assert eng.realized_paise == 500 * 4 and not eng.awaiting
    assert "P1" not in eng.feeds[sym].strategy.state["highest"], "on_fill told of the exit"


def test_a_leg_closed_before_its_entry_fill_was_learnt_still_learns_it_first() -> None:
    bars = _no_gap(random_walk_bars(2 * DAY, seed=5, symbol="NSE:SYN"))
    eng = BotEngine("b1", [bars.symbol], _ladder, BacktestConfig(sizer=FixedQty(10)),
                    NS_PER_MIN, int(bars.ts[DAY]))
    sym = bars.symbol
    i = 0
    while not (out := eng.on_candle(sym, _bar(bars, i))):
        i += 1
    (entry,) = out
    stand_in = eng.feeds[sym].ctx.legs["P1"].entry_price_paise
    eng.feeds[sym].ctx.exit(reason="signal")
    (exit_,) = eng._process(eng.feeds[sym], _bar(bars, i + 1))  # before the fill was known
    assert list(eng.awaiting) == [entry.client_order_id, exit_.client_order_id]
    est = round(float(bars.close[i + 1]) * 100)
    assert eng.realized_paise == (est - stand_in) * 10
    eng.exit_filled(entry.client_order_id, 100_000, 0)
    eng.exit_filled(exit_.client_order_id, 100_300, 0)
    assert eng.realized_paise == 300 * 10 and not eng.awaiting
    assert eng.feeds[sym].strategy.state["highest"] == {}, "entry then exit told to on_fill"
