"""The parity comparison: a bot's orders (from the bot's own bar-by-bar driver) against the
backtest of the same day, and hand-built departures from it that must each be listed under the
right category — explained or not — with their P&L effect."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from mandi.core.backtest.data import NS_PER_MIN, Bars, price_paise, random_walk_bars
from mandi.core.backtest.engine import BacktestConfig
from mandi.core.backtest.sizing import FixedQty
from mandi.core.charges import Segment
from mandi.core.clock import IST
from mandi.core.strategies.base import Bar
from services.strategy import library
from services.strategy import parity as P
from services.strategy.bot_engine import BotEngine
from services.strategy.parity_backtest import bot_squareoff, day_backtest

DAY = 375
PARAMS = {"fast": 5, "slow": 20, "allow_short": True}
BOT = "b1"


def _factory(_symbol: str):
    return library.build("ema_crossover", PARAMS, None)


def _cfg(**kw) -> BacktestConfig:
    return BacktestConfig(segment=Segment.EQUITY_INTRADAY, sizer=FixedQty(7), charges=False,
                          **kw)


@pytest.fixture(scope="module")
def world():
    """Two days of bars; the bot warms up on day 1 and trades day 2 (paper: each order fills
    at the next bar's open, as the paper broker would at the bar's first tick)."""
    bars = random_walk_bars(2 * DAY, seed=3, symbol="NSE:SYN")
    day = datetime.fromtimestamp(int(bars.ts[DAY]) / 1e9, UTC).astimezone(IST).date()
    start, end = P.ist_day_bounds(day)
    eng = BotEngine(BOT, [bars.symbol], _factory, _cfg(), NS_PER_MIN, int(bars.ts[DAY]))
    opens = price_paise(bars.open).tolist()
    live = []
    for i in range(len(bars)):
        b = Bar(bars.symbol, int(bars.ts[i]), float(bars.open[i]), float(bars.high[i]),
                float(bars.low[i]), float(bars.close[i]), int(bars.volume[i]))
        for o in eng.on_candle(bars.symbol, b):
            live.append(P.Order(o.symbol, o.tag, "in" if o.reason == "entry" else "out",
                                o.side.value, o.qty, o.bar_ts, o.reason, opens[i + 1], o.qty,
                                client_order_id=o.client_order_id,
                                sent_ts=int(bars.ts[i + 1]) + 2 * 10**9))
    backtest = day_backtest({bars.symbol: bars}, _factory, _cfg(), day, int(bars.ts[DAY]),
                              NS_PER_MIN)
    facts = P.BotFacts(first_live_ts=int(bars.ts[DAY]), last_bar={bars.symbol: int(bars.ts[-1])},
                       bot_warmup_from=int(bars.ts[0]), backtest_warmup_from=int(bars.ts[0]))
    return {"bars": bars, "day": day.isoformat(), "live": live, "backtest": backtest,
            "facts": facts, "day_bars": {bars.symbol: P.DayBars.of(bars, start, end)}}


def _compare(w, live=None, backtest=None, facts=None) -> P.ParityReport:
    return P.compare(BOT, w["day"], w["backtest"] if backtest is None else backtest,
                     w["live"] if live is None else live, w["day_bars"],
                     w["facts"] if facts is None else facts)


def _entries(w) -> list[int]:
    return [i for i, o in enumerate(w["live"]) if o.kind == "in"]


def test_the_bots_own_orders_match_the_day_backtest_with_no_difference(world) -> None:
    rep = _compare(world)
    assert rep.backtest_orders == rep.live_orders >= 6
    assert rep.differences == [] and rep.unexplained == 0
    assert rep.matched == rep.live_orders
    assert rep.pnl_live_paise == rep.pnl_backtest_paise != 0
    assert any(o.reason == "squareoff" for o in world["backtest"]), \
        "the day should end with an MIS square-off, one bar before the cut-off"


def test_a_fill_at_a_price_traded_after_the_signal_is_explained_with_its_amount(world) -> None:
    live = list(world["live"])
    i = _entries(world)[1]
    o = live[i]
    bars = world["bars"]
    k = int(list(bars.ts).index(o.bar_ts)) + 1
    hi = int(price_paise(bars.high[k:k + 1])[0])
    live[i] = dataclasses.replace(o, price_paise=hi)  # the order arrived at the bar's high
    rep = _compare(world, live)
    [d] = rep.differences
    assert (d.kind, d.category, d.explained) == ("fill", P.FILL_TIMING, True)
    moved = hi - int(world["backtest"][[b.bar_ts for b in world["backtest"]].index(o.bar_ts)]
                     .price_paise)
    assert moved != 0
    assert d.amount_paise == (-moved if o.side == "BUY" else moved) * o.qty
    assert d.amount_paise == rep.pnl_difference_paise
    assert rep.unexplained == 0 and d.client_order_id == o.client_order_id


def test_a_fill_outside_what_traded_is_unexplained(world) -> None:
    live = list(world["live"])
    i = _entries(world)[1]
    live[i] = dataclasses.replace(live[i], price_paise=live[i].price_paise + 2_000)  # ₹20 off
    rep = _compare(world, live)
    [d] = rep.differences
    assert (d.category, d.explained) == (P.FILL_PRICE, False)
    assert rep.unexplained == 1 and rep.pnl_unexplained_paise == rep.pnl_difference_paise != 0


def test_a_late_order_filling_within_the_bars_it_waited_through_is_explained(world) -> None:
    live = list(world["live"])
    i = _entries(world)[2]
    o = live[i]
    bars = world["bars"]
    k = int(list(bars.ts).index(o.bar_ts))
    # sent 4 bars late (a restart) at the low of the 4th bar after the signal
    late = dataclasses.replace(o, sent_ts=int(bars.ts[k + 4]) + 10**9,
                               price_paise=int(price_paise(bars.low[k + 4:k + 5])[0]))
    live[i] = late
    rep = _compare(world, live)
    assert late.price_paise != o.price_paise
    [d] = rep.differences
    assert (d.category, d.explained) == (P.FILL_TIMING, True)
    assert "4 bars after the signal bar" in d.detail


def test_an_order_that_reached_the_broker_bars_after_execution_is_judged_to_its_fill(
        world) -> None:
    """A market order taken by execution in the bar after its signal but filled by the broker
    three bars later (a slow hop to the broker): its price is judged against what traded up to
    the broker's fill time, not only up to its arrival at execution."""
    bars, live = world["bars"], list(world["live"])
    lows = price_paise(bars.low).tolist()
    for i in _entries(world):
        k = int(list(bars.ts).index(live[i].bar_ts))
        if min(lows[k + 2:k + 5]) < lows[k + 1] - 50:  # below what traded in the next bar
            break
    else:
        pytest.fail("no entry whose next bars traded lower")
    j = min(range(k + 2, k + 5), key=lambda n: lows[n])
    slow = dataclasses.replace(live[i], sent_ts=int(bars.ts[k + 1]) + 2 * 10**9,
                               price_paise=lows[j])
    live[i] = slow
    [d] = _compare(world, live).differences
    assert (d.category, d.explained) == (P.FILL_PRICE, False), "no fill time: unexplained"
    live[i] = dataclasses.replace(slow, filled_ts=int(bars.ts[j]) + 10**9)
    [d] = _compare(world, live).differences
    assert (d.category, d.explained) == (P.FILL_TIMING, True), d.detail
    assert "(filled at " in d.detail


def test_an_exit_made_by_the_brokers_squareoff_is_judged_by_what_traded(world) -> None:
    """The bot's cut-off exit came after the broker's auto square-off, which closed the leg at
    the cut-off bar's price (bot_squareoff.py): explained by what traded up to the
    square-off's fill; at a price that never traded, unexplained."""
    bars, live = world["bars"], list(world["live"])
    i = max(n for n, o in enumerate(live) if o.reason == "squareoff")
    o = live[i]
    k = int(list(bars.ts).index(o.bar_ts))
    at = int(bars.ts[k + 2]) + 10**9  # in the cut-off bar, two after the exit's signal
    price = int(price_paise(bars.high[k + 2:k + 3])[0])
    assert price != o.price_paise
    live[i] = dataclasses.replace(o, by_broker=True, price_paise=price, filled_ts=at,
                                  sent_ts=at + 40 * 10**9)
    [d] = _compare(world, live).differences
    assert (d.category, d.explained) == (P.BROKER_SQUAREOFF, True), d.detail
    assert "auto square-off" in d.detail
    live[i] = dataclasses.replace(live[i], price_paise=price + 5_000)
    [d] = _compare(world, live).differences
    assert (d.category, d.explained) == (P.FILL_PRICE, False), d.detail


def test_an_entry_refused_by_risk_and_its_exit_are_explained(world) -> None:
    live = list(world["live"])
    i = _entries(world)[1]
    o = live[i]
    live[i] = dataclasses.replace(o, status="refused", price_paise=None, filled_qty=0,
                                  rule="max_position_value",
                                  detail="FAILED_PRECONDITION: position value over the limit")
    # the bot forgot the leg: it sent no exit for it
    exit_i = next(j for j in range(i + 1, len(live)) if live[j].kind == "out"
                  and live[j].tag == o.tag)
    del live[exit_i]
    rep = _compare(world, live)
    cats = [(d.category, d.explained) for d in rep.differences]
    assert cats == [(P.REFUSED_BY_RISK, True), (P.FOLLOWS, True)], cats
    assert "max_position_value" in rep.differences[0].detail
    assert rep.unexplained == 0
    assert sum(d.amount_paise for d in rep.differences) == rep.pnl_difference_paise


def test_a_missed_entry_with_no_reason_is_unexplained_and_so_is_what_follows(world) -> None:
    live = list(world["live"])
    i = _entries(world)[1]
    o = live[i]
    exit_i = next(j for j in range(i + 1, len(live)) if live[j].kind == "out"
                  and live[j].tag == o.tag)
    del live[exit_i]
    del live[i]
    rep = _compare(world, live)
    cats = [(d.category, d.explained) for d in rep.differences]
    assert cats == [(P.MISSED_SIGNAL, False), (P.FOLLOWS, False)]
    assert rep.unexplained == 2


def test_entries_after_the_loss_latch_are_explained(world) -> None:
    live = list(world["live"])
    entries = _entries(world)
    first = entries[1]
    o = live[first]
    live[first] = dataclasses.replace(o, status="refused", price_paise=None, filled_qty=0,
                                      rule=P.LOSS_LIMIT_RULE, detail="daily loss limit hit")
    kept = [x for x in live[:first + 1]]
    # after the latch the bot sends no entries; its legs opened before it are already closed
    kept += [x for x in live[first + 1:] if x.kind == "out" and x.leg_ts is not None
             and x.leg_ts < o.bar_ts]
    facts = dataclasses.replace(world["facts"], entries_blocked_day=world["day"])
    rep = _compare(world, kept, facts=facts)
    cats = {d.category for d in rep.differences}
    assert cats <= {P.REFUSED_BY_RISK, P.ENTRIES_BLOCKED, P.FOLLOWS}, cats
    assert P.ENTRIES_BLOCKED in cats and rep.unexplained == 0
    # the same day without the latch: the missing entries are not explained
    rep2 = _compare(world, kept)
    assert rep2.unexplained > 0


def test_bars_after_the_bot_stopped_are_explained(world) -> None:
    live = world["live"]
    cut = live[len(live) // 2].bar_ts
    kept = [o for o in live if o.bar_ts < cut]
    facts = dataclasses.replace(world["facts"], last_bar={"NSE:SYN": cut - NS_PER_MIN})
    rep = _compare(world, kept, facts=facts)
    assert rep.differences and rep.unexplained == 0
    assert {d.category for d in rep.differences} <= {P.BOT_NOT_RUNNING, P.FOLLOWS}
    assert _compare(world, kept).unexplained > 0, "a bot that ran all day has no such excuse"


def test_a_carried_exit_is_explained_and_an_unknown_order_is_not(world) -> None:
    live = list(world["live"])
    first_bar = min(o.bar_ts for o in live)
    carried = P.Order("NSE:SYN", "overnight", "out", "SELL", 5, first_bar, "signal", 100_000, 5,
                      client_order_id="b1:x:0.overnight.out")
    odd = P.Order("NSE:SYN", "main", "in", "BUY", 5, first_bar + 3 * NS_PER_MIN, "entry",
                  100_000, 5, client_order_id="b1:y:0.main.in")
    rep = _compare(world, [*live, carried])
    [d] = rep.differences
    assert (d.category, d.explained) == (P.CARRIED_POSITION, True)
    assert d.amount_paise == 5 * (100_000 - world["day_bars"]["NSE:SYN"].mark)
    rep = _compare(world, [*live, odd])
    assert rep.unexplained >= 1
    assert rep.differences[0].category in (P.EXTRA_SIGNAL, P.ORDER_MISMATCH)


def test_an_order_of_another_quantity_is_unexplained(world) -> None:
    live = list(world["live"])
    i = _entries(world)[0]
    live[i] = dataclasses.replace(live[i], qty=live[i].qty + 1, filled_qty=live[i].qty + 1)
    rep = _compare(world, live)
    d = rep.differences[0]
    assert (d.category, d.explained) == (P.ORDER_MISMATCH, False)


def test_an_exit_on_another_bar_is_unexplained(world) -> None:
    live = list(world["live"])
    # (the strategy's signal exits are reversals; the square-off is an exit on its own)
    j = next(j for j, o in enumerate(live) if o.reason == "squareoff")
    live[j] = dataclasses.replace(live[j], bar_ts=live[j].bar_ts - NS_PER_MIN)
    rep = _compare(world, live)
    assert [(d.category, d.explained) for d in rep.differences] == [(P.EXIT_BAR, False)]


def _bracket_case(world, live_bar_offset: int, live_price: int | None, coid: str = "gtt",
                  sent_s: int = 5):
    """A backtest stop exit on bar k; the live GTT exit of the same leg on bar k+offset."""
    bars = world["bars"]
    k = DAY + 100
    entry_bar, stop_bar = int(bars.ts[k - 5]), int(bars.ts[k])
    stop = int(price_paise(bars.low[k:k + 1])[0]) + 5
    bt = [P.Order("NSE:SYN", "leg1", "in", "BUY", 10, entry_bar, "entry", stop + 500, 10,
                  leg_ts=entry_bar),
          P.Order("NSE:SYN", "leg1", "out", "SELL", 10, stop_bar, "stop", stop, 10,
                  leg_ts=entry_bar)]
    live_bar = int(bars.ts[k + live_bar_offset])
    live = [dataclasses.replace(bt[0], leg_ts=None, client_order_id="b1:e:0.leg1.in"),
            P.Order("NSE:SYN", "leg1", "out", "SELL", 10, live_bar, "stop",
                    stop if live_price is None else live_price, 10,
                    client_order_id=coid, sent_ts=live_bar + sent_s * 10**9)]
    return P.compare(BOT, world["day"], bt, live, world["day_bars"], world["facts"]), stop


def test_a_stop_exit_a_bar_later_at_a_traded_price_is_explained(world) -> None:
    bars = world["bars"]
    k = DAY + 100
    price = int(price_paise(bars.close[k + 1:k + 2])[0])
    rep, stop = _bracket_case(world, 1, price)
    [d] = rep.differences
    assert (d.kind, d.category, d.explained) == ("fill", P.BRACKET_EXIT, True)
    assert d.amount_paise == 10 * (price - stop)
    rep, _ = _bracket_case(world, 1, price + 50_000)
    assert [(d.category, d.explained) for d in rep.differences] == [
        (P.BRACKET_EXIT_PRICE, False)]


def test_the_bots_own_stop_exit_pairs_with_the_backtests_stop_and_is_judged_by_what_traded(
        world) -> None:
    """A trailing stop its GTT did not hold: the bot exits at market after the bar that
    crossed it (the backtest's stop bar), its fill at the next bar's price."""
    bars = world["bars"]
    k = DAY + 100
    price = int(price_paise(bars.open[k + 1:k + 2])[0])
    coid = f"b1:{int(bars.ts[k]) // 10**9}:0.leg1.out"
    rep, stop = _bracket_case(world, 0, price, coid=coid, sent_s=62)
    [d] = rep.differences
    assert (d.category, d.explained, d.client_order_id) == (P.BRACKET_EXIT, True, coid)
    assert "the bot's own market exit" in d.detail
    assert d.amount_paise == 10 * (price - stop)
    rep, _ = _bracket_case(world, 0, price - 50_000, coid=coid, sent_s=62)
    assert [(d.category, d.explained) for d in rep.differences] == [
        (P.BRACKET_EXIT_PRICE, False)], "a fill below anything that traded is not explained"


def test_a_report_round_trips_through_json(world) -> None:
    import json

    live = list(world["live"])
    i = _entries(world)[1]
    live[i] = dataclasses.replace(live[i], price_paise=live[i].price_paise + 2_000)
    rep = _compare(world, live)
    back = P.ParityReport.from_dict(json.loads(json.dumps(rep.as_dict())))
    assert back.as_dict() == rep.as_dict()
    assert back.as_dict()["unexplained"] == 1


def test_the_squareoff_matches_a_bot_one_bar_before_the_cutoff() -> None:
    from datetime import date, time

    cfg = _cfg()
    assert bot_squareoff(cfg, date(2026, 3, 4), NS_PER_MIN) == time(15, 19)
    assert bot_squareoff(cfg, date(2026, 3, 4), 5 * NS_PER_MIN) == time(15, 15)
    assert bot_squareoff(_cfg(mis=False), date(2026, 3, 4), NS_PER_MIN) is None


def test_an_exit_filled_after_its_entry_was_refused_is_unexplained(world) -> None:
    live = list(world["live"])
    i = _entries(world)[1]
    live[i] = dataclasses.replace(live[i], status="refused", price_paise=None, filled_qty=0,
                                  detail="FAILED_PRECONDITION: max_order_quantity: too many",
                                  rule="max_order_quantity")
    rep = _compare(world, live)  # the bot still sent (and filled) the leg's exit
    cats = [(d.category, d.explained) for d in rep.differences]
    assert (P.REFUSED_BY_RISK, True) in cats
    assert (P.EXIT_WITHOUT_POSITION, False) in cats
    assert rep.unexplained == 1


def test_two_symbols_with_warmups_of_different_lengths_match_with_no_difference() -> None:
    """Entries are dropped by bar time before the bot's first live bar, not by one index for
    every symbol (the second symbol's history starts 50 bars later)."""
    a = random_walk_bars(2 * DAY, seed=3, symbol="NSE:AAA")
    b0 = random_walk_bars(2 * DAY, seed=5, symbol="NSE:BBB")
    b = Bars(b0.ts[50:], b0.open[50:], b0.high[50:], b0.low[50:], b0.close[50:],
             b0.volume[50:], "NSE:BBB")
    first_live = int(a.ts[DAY])
    day = datetime.fromtimestamp(first_live / 1e9, UTC).astimezone(IST).date()
    start, end = P.ist_day_bounds(day)
    eng = BotEngine(BOT, ["NSE:AAA", "NSE:BBB"], _factory, _cfg(), NS_PER_MIN, first_live)
    series = {"NSE:AAA": a, "NSE:BBB": b}
    opens = {s: dict(zip(x.ts.tolist(), price_paise(x.open).tolist(), strict=True))
             for s, x in series.items()}
    events = sorted((int(x.ts[i]), s, i) for s, x in series.items() for i in range(len(x)))
    live = []
    for ts, s, i in events:
        x = series[s]
        bar = Bar(s, ts, float(x.open[i]), float(x.high[i]), float(x.low[i]),
                  float(x.close[i]), int(x.volume[i]))
        for o in eng.on_candle(s, bar):
            live.append(P.Order(s, o.tag, "in" if o.reason == "entry" else "out",
                                o.side.value, o.qty, o.bar_ts, o.reason,
                                opens[s][ts + NS_PER_MIN], o.qty,
                                client_order_id=o.client_order_id))
    backtest = day_backtest(series, _factory, _cfg(), day, first_live, NS_PER_MIN)
    facts = P.BotFacts(first_live_ts=first_live, last_bar={s: int(x.ts[-1])
                                                          for s, x in series.items()})
    rep = P.compare(BOT, day.isoformat(), backtest, live,
                    {s: P.DayBars.of(x, start, end) for s, x in series.items()}, facts)
    assert {o.symbol for o in live} == {"NSE:AAA", "NSE:BBB"}
    assert rep.differences == [] and rep.matched == len(live) == len(backtest)


def test_entries_missed_while_the_bot_was_paused_are_explained(world) -> None:
    live = list(world["live"])
    i = _entries(world)[1]
    o = live[i]
    exit_i = next(j for j in range(i + 1, len(live)) if live[j].kind == "out"
                  and live[j].tag == o.tag)
    kept = [x for j, x in enumerate(live) if j not in (i, exit_i)]
    closed = o.bar_ts + NS_PER_MIN
    paused = dataclasses.replace(world["facts"], paused=((closed - 10 * NS_PER_MIN, closed + 1),))
    rep = _compare(world, kept, facts=paused)
    assert [(d.category, d.explained) for d in rep.differences] == [
        (P.BOT_PAUSED, True), (P.FOLLOWS, True)]
    # paused, but resumed before that bar closed: no excuse
    early = dataclasses.replace(world["facts"], paused=((closed - 10 * NS_PER_MIN,
                                                         closed - 3 * NS_PER_MIN),))
    assert _compare(world, kept, facts=early).unexplained == 2
    # still paused (no end)
    still = dataclasses.replace(world["facts"], paused=((closed - NS_PER_MIN, None),))
    assert _compare(world, kept, facts=still).differences[0].category == P.BOT_PAUSED


def test_an_equity_sized_entry_a_share_larger_is_explained_and_so_is_its_exit(world) -> None:
    live = list(world["live"])
    i = _entries(world)[1]
    o = live[i]
    live[i] = dataclasses.replace(o, qty=o.qty + 1, filled_qty=o.qty + 1)
    j = next(j for j in range(i + 1, len(live)) if live[j].kind == "out" and live[j].tag == o.tag)
    live[j] = dataclasses.replace(live[j], qty=o.qty + 1, filled_qty=o.qty + 1)
    by_equity = dataclasses.replace(world["facts"], sizing_fixed=False)
    rep = _compare(world, live, facts=by_equity)
    assert [(d.category, d.explained) for d in rep.differences] == [
        (P.SIZING, True), (P.FOLLOWS, True)]
    assert sum(d.amount_paise for d in rep.differences) == rep.pnl_difference_paise
    # fixed_qty sizing has no such excuse; nor has an entry far larger
    assert [(d.category, d.explained) for d in _compare(world, live).differences] == [
        (P.ORDER_MISMATCH, False), (P.FOLLOWS, False)]
    live[i] = dataclasses.replace(o, qty=o.qty * 3, filled_qty=o.qty * 3)
    assert _compare(world, live, facts=by_equity).differences[0].category == P.ORDER_MISMATCH


def test_a_fixed_quantity_bot_with_little_capital_is_compared_without_margin_refusals(world):
    """A bot checks no margin (execution's risk does): its backtest refuses no entry for cash
    either, or every entry the bot made would be an unexplained extra."""
    bars = world["bars"]
    poor = _cfg(initial_capital_paise=100_000)  # ₹1,000 for 7 shares of ~₹1,000
    backtest = day_backtest({bars.symbol: bars}, _factory, poor,
                              date.fromisoformat(world["day"]), int(bars.ts[DAY]), NS_PER_MIN)
    rep = _compare(world, backtest=backtest)
    assert rep.differences == [] and rep.matched == len(world["live"])


def test_signals_moved_by_a_fill_are_explained_only_for_strategies_that_read_fills(world):
    """The ladder's triggers and stops start from its fills: after a fill differed, a signal
    on another bar follows from it. EMA crossover reads no fill: no such excuse."""
    bars = world["bars"]
    live = list(world["live"])
    entries = _entries(world)
    first = live[entries[0]]
    k = int(list(bars.ts).index(first.bar_ts)) + 1
    live[entries[0]] = dataclasses.replace(
        first, price_paise=int(price_paise(bars.high[k:k + 1])[0]))  # a fill that differed
    i = entries[2]
    o = live[i]
    j = next(j for j in range(i + 1, len(live)) if live[j].kind == "out" and live[j].tag == o.tag)
    kept = [x for n, x in enumerate(live) if n not in (i, j)]  # a later entry the bot missed
    reads_fills = dataclasses.replace(world["facts"], fill_dependent=True)
    rep = _compare(world, kept, facts=reads_fills)
    cats = [(d.category, d.explained) for d in rep.differences]
    assert cats[0] == (P.FILL_TIMING, True)
    assert (P.FILL_DEPENDENT, True) in cats and rep.unexplained == 0, cats
    assert _compare(world, kept).unexplained >= 1


def test_a_day_in_progress_compares_up_to_the_last_stored_bar(world) -> None:
    """Asked before the day's end: the backtest has bars up to some minute; the bot's order of
    that last bar has no backtest fill yet and says so; bars the bot has not reached yet are
    not held against it."""
    bars = world["bars"]
    live = world["live"]
    entry = live[_entries(world)[2]]
    cut = int(list(bars.ts).index(entry.bar_ts)) + 1  # stored bars end with its signal bar
    part = Bars(bars.ts[:cut], bars.open[:cut], bars.high[:cut], bars.low[:cut],
                bars.close[:cut], bars.volume[:cut], bars.symbol)
    day = date.fromisoformat(world["day"])
    start, end = P.ist_day_bounds(day)
    backtest = day_backtest({bars.symbol: part}, _factory, _cfg(), day, int(bars.ts[DAY]),
                              NS_PER_MIN)
    sent = [o for o in live if o.bar_ts <= entry.bar_ts]
    facts = dataclasses.replace(world["facts"], last_bar={bars.symbol: entry.bar_ts})
    rep = P.compare(BOT, world["day"], backtest, sent, {bars.symbol: P.DayBars.of(part, start,
                                                                                 end)}, facts)
    # the bar reverses: the old leg's exit and the new entry (which follows from it)
    assert [(d.category, d.explained) for d in rep.differences] == [
        (P.NO_NEXT_BAR, True), (P.FOLLOWS, True)]
    assert {d.client_order_id for d in rep.differences} == {
        o.client_order_id for o in sent if o.bar_ts == entry.bar_ts}
    assert rep.unexplained == 0


def _bot_run(bars, skip: int | None = None, bump: int | None = None, by: float = 0.0):
    """The bot's orders over `bars` when marketdata never sent bar `skip`, or sent bar `bump`
    with its close moved `by` rupees; and the live candles it was sent (paise)."""
    eng = BotEngine(BOT, [bars.symbol], _factory, _cfg(), NS_PER_MIN, int(bars.ts[DAY]))
    opens = price_paise(bars.open).tolist()
    live, candles = [], {}
    for i in range(len(bars)):
        if i == skip:
            continue
        close = float(bars.close[i]) + (by if i == bump else 0.0)
        high, low = max(float(bars.high[i]), close), min(float(bars.low[i]), close)
        b = Bar(bars.symbol, int(bars.ts[i]), float(bars.open[i]), high, low, close,
                int(bars.volume[i]))
        if i >= DAY:
            candles[b.ts] = tuple(int(x) for x in price_paise(
                [b.open, b.high, b.low, b.close]).tolist())
        for o in eng.on_candle(bars.symbol, b):
            live.append(P.Order(o.symbol, o.tag, "in" if o.reason == "entry" else "out",
                                o.side.value, o.qty, o.bar_ts, o.reason, opens[i + 1], o.qty,
                                client_order_id=o.client_order_id))
    return live, {bars.symbol: candles}


@pytest.mark.parametrize("category", [P.BAR_MISSED, P.CANDLE_DIFFERS])
def test_signals_moved_by_a_bar_the_bot_missed_or_saw_otherwise_are_explained(
        world, category) -> None:
    bars = world["bars"]
    base, seen = _bot_run(bars)
    facts = dataclasses.replace(world["facts"], live_candles=seen)
    assert _compare(world, base, facts=facts).differences == [], "the bot saw the stored bars"
    # the bar of the day's second entry signal: missed, or seen with its close moved back
    o = world["live"][_entries(world)[1]]
    k = int(list(bars.ts).index(o.bar_ts))
    change = ({"skip": k} if category == P.BAR_MISSED else
              {"bump": k, "by": -30.0 if o.side == "BUY" else 30.0})
    live, seen = _bot_run(bars, **change)
    blind = _compare(world, live)
    assert blind.unexplained > 0, "the change should move the strategy's signals"
    rep = _compare(world, live, facts=dataclasses.replace(world["facts"], live_candles=seen))
    cats = {d.category for d in rep.differences}
    assert category in cats and rep.unexplained == 0, [(d.category, d.detail)
                                                      for d in rep.differences]
    assert cats <= {category, P.FOLLOWS, P.FILL_TIMING}
    counts = rep.candles["NSE:SYN"]
    assert (counts["missing"], counts["differing"]) == (
        (1, 0) if category == P.BAR_MISSED else (0, 1))
    assert counts["stored"] == DAY and _compare(world, live).candles["NSE:SYN"]["live"] is None


def _ladder(_symbol: str):
    return library.build("momentum_ladder", {
        "entry": "ema_cross", "fast": 5, "slow": 20, "qty": 5, "p1_stop_pct": 0.3,
        "p1_target_pct": 0.6, "p2_trigger_pct": 0.1, "p2_stop_pct": 0.3,
        "p3_trigger_pct": 0.2, "p3_stop_pct": 0.5, "exit_on_reverse": False}, None)


def test_a_ladder_day_whose_gtt_exits_are_learnt_bars_later_is_explained(world) -> None:
    """The momentum ladder's legs exit by their stops and targets within a bar; a bot learns of
    a GTT's exit when it next reconciles (a later bar, its own id "gtt:<id>:sl|tp") and its
    fill is where the market was when the GTT fired. Paired by leg, those are bracket exits."""
    bars = world["bars"]
    day = date.fromisoformat(world["day"])
    bt = day_backtest({bars.symbol: bars}, _ladder, _cfg(), day, int(bars.ts[DAY]), NS_PER_MIN)
    exits = [o for o in bt if o.kind == "out" and o.reason in ("stop", "target")]
    assert len(exits) >= 3 and {o.tag for o in bt} >= {"P1", "P2"}, \
        "the day should exit ladder legs by stops and targets"
    opens = dict(zip(bars.ts.tolist(), price_paise(bars.open).tolist(), strict=True))
    live = []
    for o in bt:
        if o.kind == "out" and o.reason in ("stop", "target"):
            # learnt two bars later; filled at the level (GTT trigger) or the bar's open
            live.append(dataclasses.replace(o, bar_ts=o.bar_ts + 2 * NS_PER_MIN, leg_ts=None,
                                            client_order_id=f"gtt:{o.bar_ts}:sl",
                                            sent_ts=o.bar_ts + 20 * 10**9))
        else:
            live.append(dataclasses.replace(o, leg_ts=None, client_order_id=f"b1:{o.bar_ts}",
                                            price_paise=opens[o.sent_ts]))
    facts = dataclasses.replace(world["facts"], fill_dependent=True)
    rep = _compare(world, live, backtest=bt, facts=facts)
    assert rep.unexplained == 0, [(d.category, d.detail) for d in rep.differences]
    assert {d.category for d in rep.differences} == {P.BRACKET_EXIT}
    assert rep.matched == len(bt)
    # a GTT exit filled far from anything that traded is not explained
    j = next(j for j, o in enumerate(live) if o.client_order_id.startswith("gtt:"))
    live[j] = dataclasses.replace(live[j], price_paise=live[j].price_paise - 10_000)
    rep = _compare(world, live, backtest=bt, facts=facts)
    assert [d.category for d in rep.differences if not d.explained] == [P.BRACKET_EXIT_PRICE]
