"""The bot's bar-by-bar driver against the backtester: the same strategy on the same candles
places the orders of the backtest's trade list, and a bot rebuilt mid-day from its saved state
(a crash) goes on to place the same orders, none twice."""

from __future__ import annotations

from datetime import time

import pytest

from mandi.core.backtest.data import DAY_NS, IST_OFFSET_NS, NS_PER_MIN, Bars, random_walk_bars
from mandi.core.backtest.engine import BacktestConfig, run_backtest
from mandi.core.backtest.sizing import FixedQty, PercentEquity
from mandi.core.charges import Segment, Side
from mandi.core.errors import InvalidInput
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


def test_sizing_other_than_fixed_qty_is_refused_naming_the_field() -> None:
    bars = _bars()
    with pytest.raises(InvalidInput) as err:
        BotEngine("b1", [bars.symbol], _factory,
                  BacktestConfig(sizer=PercentEquity(10.0)), NS_PER_MIN, 0)
    assert err.value.field == "sizing.type"


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


def test_an_entry_with_a_stop_is_refused_rather_than_run_without_it() -> None:
    bars = _bars()
    eng = BotEngine("b1", [bars.symbol],
                    lambda _s: library.build("ema_crossover",
                                             {**PARAMS, "stop_loss_pct": 1.0}, None),
                    _cfg(), NS_PER_MIN, int(bars.ts[DAY]))
    with pytest.raises(InvalidInput) as err:
        for i in range(len(bars)):
            eng.on_candle(bars.symbol, _bar(bars, i))
    assert err.value.field == "strategy"


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
