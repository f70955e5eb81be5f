"""The parity report of a bot's day: what the bot did against the backtest of the same day.

Pure: no IO. `parity_run.py` gathers the inputs (the bot's spec and state, its order record,
execution's orders, history's candles, marketdata's candle log) and stores the report;
`parity_backtest.py` runs the day's backtest as the bot trades; this module compares.

Both sides become `Order`s keyed like the bot's client_order_ids: an entry by (symbol, tag, its
signal bar), an exit by (symbol, tag, the signal bar of the entry it closes) — so a stop or
target exit pairs with its leg's exit on the other side even when they happen on different bars.
Pairs are walked in time order per (symbol, tag), and each difference gets a category:

* `fill_timing` (explained): same order, different price; the live market order filled at the
  price of the moment it reached the market, the backtest at the next bar's open — explained when
  the live price is within what traded from the signal bar's close to the order's arrival
  (± the spread and slippage allowance); otherwise `fill_price` (unexplained);
* `broker_squareoff` (explained): the bot's MIS cut-off exit reached the broker after its auto
  square-off, which closed the leg (bot_squareoff.py): judged as `fill_timing`, the square-off's
  price against what traded from the signal to its fill; otherwise `fill_price`;
* `bracket_exit` (explained): a stop/target exit on a different bar or price, the live fill
  inside the range of the bars between the two exits; otherwise `bracket_exit_price`. A live
  stop exit is the GTT's ("gtt:<id>:sl") or the bot's own market exit of a trailing stop its
  GTT did not hold (the leg's exit id, signalled on the bar that crossed the stop): both pair
  with the backtest's stop exit of the leg and are judged alike;
* `refused_by_risk` / `rejected_by_broker` (explained, the rule or message named): the bot sent
  the order, execution or the broker refused it;
* `entries_blocked` (explained): an entry the bot did not send on a day the account's daily loss
  latch blocked its entries, after the first refusal;
* `bot_not_running` (explained): a bar before the bot's first live bar or after the last one it
  processed; `bot_paused` (explained): an entry on a bar that closed while the bot was paused
  (from its audit: pause → start/stop);
* `carried_position` (explained): a live exit of a leg opened before the day;
* `sizing` (explained): an entry of another quantity (within 5 % or one share) when the bot sizes
  by equity (not fixed_qty): it sizes by its own equity at the signal bar's close, the backtest by
  its equity at the fill; the leg's exits then differ alike (`follows_earlier_difference`);
* `bar_missed` / `candle_differs` (explained): a signal on one side only, or an exit on another
  bar, after a bar of the day that marketdata never sent the bot, or sent with other prices than
  history stores (the live candle log against the stored candles, when the log still holds the
  day);
* `no_next_bar` (explained): a live order signalled on the last stored bar (the day in progress,
  or a CNC bot's order at the close): the backtest would fill it on a bar it does not have;
* `warmup` (explained): a signal on one side only, when the bot's strategy warmed up on more
  history than the backtest could load (its warm-up began before the backtest's);
* `follows_earlier_difference` (explained as its cause is): a difference on a leg whose two sides
  already diverged (e.g. the exit of an entry that was refused);
* `follows_fill_price` (explained as its cause is): a signal on one side only, or an exit on
  another bar, of a strategy that decides on its fill prices (it has `on_fill`: the ladder's
  P2/P3 triggers and stops start from P1's fill) after a fill of that symbol differed;
* `missed_signal`, `extra_signal`, `exit_bar`, `order_mismatch`, `not_filled`, `partial_fill`,
  `external_order`, `exit_without_position` (a live exit filled for a leg whose entry did not):
  unexplained.

P&L is gross (before charges), marked at the day's last close: each filled order contributes
side × qty × (mark − price), so the day's P&L difference is exactly the sum of the differences'
amounts, and `pnl_unexplained_paise` is the part carried by unexplained differences.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from typing import Any

import numpy as np

from mandi.core.backtest.data import Bars, price_paise
from mandi.core.clock import IST

BRACKET_REASONS = ("stop", "target", "trail", "trailing_stop", "gtt")
SPREAD_TICKS = 2  # a market order fills at the touch: up to this many ticks beyond the LTP range
SIZING_TOLERANCE_PCT = 5  # equity-based sizes may differ by this much (or one share)

# categories
FILL_TIMING = "fill_timing"
BROKER_SQUAREOFF = "broker_squareoff"
FILL_PRICE = "fill_price"
BRACKET_EXIT = "bracket_exit"
BRACKET_EXIT_PRICE = "bracket_exit_price"
REFUSED_BY_RISK = "refused_by_risk"
REJECTED_BY_BROKER = "rejected_by_broker"
ENTRIES_BLOCKED = "entries_blocked"
SIZING = "sizing"
FILL_DEPENDENT = "follows_fill_price"
NO_NEXT_BAR = "no_next_bar"
BAR_MISSED = "bar_missed"
CANDLE_DIFFERS = "candle_differs"
BOT_NOT_RUNNING = "bot_not_running"
BOT_PAUSED = "bot_paused"
CARRIED_POSITION = "carried_position"
WARMUP = "warmup"
FOLLOWS = "follows_earlier_difference"
MISSED_SIGNAL = "missed_signal"
EXTRA_SIGNAL = "extra_signal"
EXIT_BAR = "exit_bar"
ORDER_MISMATCH = "order_mismatch"
NOT_FILLED = "not_filled"
PARTIAL_FILL = "partial_fill"
EXTERNAL_ORDER = "external_order"
PNL_RESIDUAL = "pnl_residual"
EXIT_WITHOUT_POSITION = "exit_without_position"

EXPLAINED = frozenset({FILL_TIMING, BROKER_SQUAREOFF, BRACKET_EXIT, REFUSED_BY_RISK,
                       REJECTED_BY_BROKER, ENTRIES_BLOCKED, BOT_NOT_RUNNING, BOT_PAUSED,
                       CARRIED_POSITION, WARMUP, SIZING, NO_NEXT_BAR, BAR_MISSED,
                       CANDLE_DIFFERS})

LOSS_LIMIT_RULE = "daily_loss_limit"


# --- the two sides ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Order:
    """One order of either side. `bar_ts` is the signal bar (epoch ns of its open; for a stop or
    target exit, the bar it was hit on); `leg_ts` the signal bar of the entry an exit closes
    (None: a leg opened before the day). `status` is filled | refused | rejected | unsent |
    open | cancelled; `sent_ts` when the live order reached execution, `filled_ts` the
    broker's time of its latest fill (a market order may reach the broker well after it
    reached execution)."""

    symbol: str
    tag: str
    kind: str  # in | out
    side: str  # BUY | SELL
    qty: int
    bar_ts: int
    reason: str = "signal"
    price_paise: int | None = None
    filled_qty: int = 0
    status: str = "filled"
    leg_ts: int | None = None
    client_order_id: str = ""
    sent_ts: int | None = None
    detail: str = ""  # refusal or rejection text
    rule: str = ""  # the risk rule execution named
    filled_ts: int | None = None
    by_broker: bool = False  # the broker's MIS square-off closed the leg before the bot's exit

    @property
    def filled(self) -> bool:
        return self.status == "filled" and self.filled_qty > 0 and self.price_paise is not None

    @property
    def bracket(self) -> bool:
        return self.reason in BRACKET_REASONS


@dataclass(frozen=True)
class DayBars:
    """A symbol's bars of the day (and the one before the day's first, if any), in paise."""

    ts: list[int]
    open: list[int]
    high: list[int]
    low: list[int]
    close: list[int]

    @classmethod
    def of(cls, bars: Bars, start_ns: int, end_ns: int) -> DayBars:
        i = max(int(np.searchsorted(bars.ts, start_ns)) - 1, 0)
        j = int(np.searchsorted(bars.ts, end_ns))
        return cls(bars.ts[i:j].tolist(), price_paise(bars.open[i:j]).tolist(),
                   price_paise(bars.high[i:j]).tolist(), price_paise(bars.low[i:j]).tolist(),
                   price_paise(bars.close[i:j]).tolist())

    def index_at(self, ts: int) -> int:
        """Index of the bar containing instant `ts` (the last bar opening at or before it)."""
        return int(np.searchsorted(np.asarray(self.ts, dtype=np.int64), ts, side="right")) - 1

    def traded_range(self, first: int, last: int) -> tuple[int, int] | None:
        first, last = max(first, 0), min(last, len(self.ts) - 1)
        if first > last:
            return None
        return min(self.low[first:last + 1]), max(self.high[first:last + 1])

    @property
    def mark(self) -> int:
        return self.close[-1] if self.close else 0

    def candle_issue(self, live: Mapping[int, tuple[int, int, int, int]], upto: int
                     ) -> tuple[str, str]:
        """(category, detail) of the first stored bar up to `upto` that the bot was never sent
        (BAR_MISSED) or was sent with other prices (CANDLE_DIFFERS), from the first bar the live
        log holds; ("", "") when the bot saw exactly the stored bars."""
        if not live:
            return "", ""
        first = min(live)
        for i, ts in enumerate(self.ts):
            if ts < first:
                continue
            if ts > upto:
                break
            got = live.get(ts)
            if got is None:
                return BAR_MISSED, f"the bot was never sent the {_hhmm(ts)} bar"
            want = (self.open[i], self.high[i], self.low[i], self.close[i])
            if got != want:
                return CANDLE_DIFFERS, (
                    f"the {_hhmm(ts)} bar the bot was sent (O/H/L/C "
                    f"{'/'.join(_rupees(x) for x in got)}) differs from the stored one "
                    f"({'/'.join(_rupees(x) for x in want)})")
        return "", ""


@dataclass(frozen=True)
class BotFacts:
    """What the comparison needs to know of the bot besides its orders."""

    first_live_ts: int = 0
    last_bar: Mapping[str, int] = field(default_factory=dict)  # symbol → last processed bar
    entries_blocked_day: str = ""  # IST day the loss latch blocked entries
    # when the bot was paused (entries refused): [from, to) in epoch ns, to None = still
    paused: tuple[tuple[int, int | None], ...] = ()
    bot_warmup_from: int | None = None  # the bot's first warm-up bar
    backtest_warmup_from: int | None = None  # the backtest's first bar
    interval_ns: int = 60 * 10**9
    sizing_fixed: bool = True  # fixed_qty: both sides size alike; else by each side's equity
    # the strategy decides on its fill prices (on_fill, leg entry prices: the ladder's triggers
    # and stops), so a fill that differed moves its later signals
    fill_dependent: bool = False
    # the closed bars the bot was sent (marketdata's candle log): symbol → bar ts → paise
    # (open, high, low, close); None when the log no longer holds the day
    live_candles: Mapping[str, Mapping[int, tuple[int, int, int, int]]] | None = None
    tick_paise: int = 5
    slippage_bps: float = 0.0
    slippage_ticks: int = 0

    def paused_at(self, bar_ts: int) -> bool:
        """The bot was paused when bar `bar_ts` closed (when it decides on the bar's intents;
        one bar of slack for the candle's arrival)."""
        closed = bar_ts + self.interval_ns
        return any(start <= closed and (end is None or closed < end + self.interval_ns)
                   for start, end in self.paused)

    @property
    def warmup_differs(self) -> bool:
        """The bot's strategy saw bars the backtest did not load."""
        return (self.bot_warmup_from is not None and self.backtest_warmup_from is not None
                and self.bot_warmup_from < self.backtest_warmup_from)


# --- the report ---------------------------------------------------------------------------------
@dataclass
class Difference:
    kind: str  # signal | order | fill | pnl
    category: str
    explained: bool
    symbol: str
    tag: str
    bar_ts: int | None
    detail: str
    amount_paise: int = 0  # effect on the live P&L against the backtest's (+: live better)
    client_order_id: str = ""
    backtest: dict[str, Any] | None = None  # {side, qty, price_paise, bar_ts, reason}
    live: dict[str, Any] | None = None  # {side, qty, price_paise, bar_ts, reason, status}


@dataclass
class ParityReport:
    day: str
    bot_id: str
    differences: list[Difference] = field(default_factory=list)
    backtest_orders: int = 0
    live_orders: int = 0
    matched: int = 0
    pnl_backtest_paise: int = 0
    pnl_live_paise: int = 0
    warmup: dict[str, Any] = field(default_factory=dict)
    # symbol → {"stored", "live", "missing", "differing"}: the day's stored bars against those
    # marketdata sent the bot, from the first one its log holds (live None: log unavailable)
    candles: dict[str, dict[str, int | None]] = field(default_factory=dict)

    @property
    def unexplained(self) -> int:
        return sum(1 for d in self.differences if not d.explained)

    @property
    def pnl_difference_paise(self) -> int:
        return self.pnl_live_paise - self.pnl_backtest_paise

    @property
    def pnl_unexplained_paise(self) -> int:
        return sum(d.amount_paise for d in self.differences if not d.explained)

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.day, "bot_id": self.bot_id, "unexplained": self.unexplained,
                "backtest_orders": self.backtest_orders, "live_orders": self.live_orders,
                "matched": self.matched, "pnl_backtest_paise": self.pnl_backtest_paise,
                "pnl_live_paise": self.pnl_live_paise,
                "pnl_difference_paise": self.pnl_difference_paise,
                "pnl_unexplained_paise": self.pnl_unexplained_paise, "warmup": self.warmup,
                "candles": self.candles,
                "differences": [dataclasses.asdict(d) for d in self.differences]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParityReport:
        return cls(day=d["date"], bot_id=d["bot_id"],
                   differences=[Difference(**x) for x in d.get("differences", [])],
                   backtest_orders=d.get("backtest_orders", 0),
                   live_orders=d.get("live_orders", 0), matched=d.get("matched", 0),
                   pnl_backtest_paise=d.get("pnl_backtest_paise", 0),
                   pnl_live_paise=d.get("pnl_live_paise", 0), warmup=d.get("warmup") or {},
                   candles=d.get("candles") or {})


# --- days -----------------------------------------------------------------------------------
def ist_day_bounds(day: date) -> tuple[int, int]:
    """[00:00 IST of `day`, 00:00 IST of the next day) in epoch ns."""
    start = datetime.combine(day, clock_time(0), IST)
    return int(start.timestamp()) * 10**9, int(start.timestamp() + 86_400) * 10**9


# --- the comparison -----------------------------------------------------------------------------
def contribution(o: Order, mark: int) -> int:
    """The order's share of the day's gross P&L marked at `mark` (0 unless filled)."""
    if not o.filled:
        return 0
    signed = o.filled_qty if o.side == "BUY" else -o.filled_qty
    return signed * (mark - int(o.price_paise or 0))


def _hhmm(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).astimezone(IST).strftime("%H:%M:%S")


def _rupees(paise: int | None) -> str:
    return "-" if paise is None else f"₹{paise / 100:.2f}"


def _side(o: Order | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {"side": o.side, "qty": o.qty, "price_paise": o.price_paise, "bar_ts": o.bar_ts,
            "reason": o.reason, "status": o.status, "filled_qty": o.filled_qty,
            "sent_ts": o.sent_ts}


class _Leg:
    """Per (symbol, tag): whether each side holds the leg, and the difference that made them
    diverge (None while they agree)."""

    __slots__ = ("bt_open", "bt_qty", "cause", "live_open", "live_qty", "qty_cause")

    def __init__(self) -> None:
        self.bt_open = False
        self.live_open = False
        self.cause: Difference | None = None
        # an entry both sides made in other quantities: its exits differ the same way
        self.qty_cause: Difference | None = None
        self.bt_qty = self.live_qty = 0


def _link_exits(orders: list[Order]) -> list[Order]:
    """Give each live exit the signal bar of the entry it closes (per symbol and tag, in
    bar order); an exit with no such entry on the day keeps leg_ts None (carried)."""
    out: list[Order] = []
    open_at: dict[tuple[str, str], int | None] = {}
    for o in sorted(orders, key=lambda o: (o.bar_ts, o.kind != "out")):
        k = (o.symbol, o.tag)
        if o.kind == "in":
            o = dataclasses.replace(o, leg_ts=o.bar_ts)
            open_at[k] = o.bar_ts  # filled or not: an exit sent after it is meant for it
        else:
            o = dataclasses.replace(o, leg_ts=open_at.get(k))
            if o.filled:
                open_at.pop(k, None)
        out.append(o)
    return out


def _key(o: Order) -> tuple[str, str, str, int | None]:
    return (o.symbol, o.tag, o.kind, o.bar_ts if o.kind == "in" else o.leg_ts)


def compare(bot_id: str, day: str, backtest: list[Order], live: list[Order],
            bars: Mapping[str, DayBars], facts: BotFacts) -> ParityReport:
    """Every difference between the backtest's orders and the live ones, classified."""
    live = _link_exits([o for o in live if o.tag])
    bt_by = {_key(o): o for o in backtest}
    live_by: dict[tuple[str, str, str, int | None], Order] = {}
    extra: list[Order] = []
    for o in live:
        k = _key(o)
        if k[3] is None and o.kind == "out":
            extra.append(o)  # carried: its own entry was before the day
        elif k in live_by:
            extra.append(o)
        else:
            live_by[k] = o
    rep = ParityReport(day=day, bot_id=bot_id, backtest_orders=len(backtest),
                       live_orders=len(live))
    marks = {s: b.mark for s, b in bars.items()}
    rep.pnl_backtest_paise = sum(contribution(o, marks.get(o.symbol, 0)) for o in backtest)
    rep.pnl_live_paise = sum(contribution(o, marks.get(o.symbol, 0)) for o in live)
    rep.warmup = {"bot_from": facts.bot_warmup_from, "backtest_from": facts.backtest_warmup_from,
                  "differs": facts.warmup_differs}
    blocked_from = _loss_latch_from(live, day, facts)
    rep.candles = {s: _candle_counts(b, facts, s, day) for s, b in bars.items()}

    def when(k: tuple[str, str, str, int | None]) -> tuple[int, int]:
        a, b = bt_by.get(k), live_by.get(k)
        ts = min(o.bar_ts for o in (a, b) if o is not None)
        return ts, 0 if k[2] == "out" else 1

    legs: dict[tuple[str, str], _Leg] = {}
    fill_cause: dict[str, Difference] = {}  # symbol → its first fill-price difference
    for k in sorted(set(bt_by) | set(live_by), key=when):
        a, b = bt_by.get(k), live_by.get(k)
        leg = legs.setdefault((k[0], k[1]), _Leg())
        diffs = _pair(a, b, bars.get(k[0]), facts, blocked_from, marks.get(k[0], 0))
        if b is not None and b.kind == "out" and b.filled and not leg.live_open:
            diffs.append(Difference(
                "order", EXIT_WITHOUT_POSITION, False, b.symbol, b.tag, b.bar_ts,
                f"the bot's exit {b.client_order_id} filled while its entry had not: it opened "
                "a position the other way", client_order_id=b.client_order_id, live=_side(b)))
        if a is not None and b is not None and a.filled and b.filled:
            rep.matched += 1
        qc = leg.qty_cause
        if (qc is not None and diffs and diffs[0].category == ORDER_MISMATCH and a is not None
                and b is not None and a.kind == "out" and a.side == b.side
                and (a.qty, b.qty) == (leg.bt_qty, leg.live_qty)):
            d = diffs[0]
            d.category, d.explained = FOLLOWS, qc.explained
            d.detail += f"; the leg's entry quantities differed ({qc.category})"
        if a is not None and b is not None and a.kind == "in":
            leg.qty_cause = next((d for d in diffs if d.category in (SIZING, ORDER_MISMATCH)),
                                 None)
            leg.bt_qty, leg.live_qty = a.qty, b.qty
        cause = leg.cause
        if diffs and cause is not None and diffs[0].kind == "signal":
            for d in diffs:  # the leg's two sides already differ: this is what follows
                d.category, d.explained = FOLLOWS, cause.explained
                d.detail = (f"{d.detail}; follows the {cause.category} difference at "
                            f"{_hhmm(cause.bar_ts)} on this leg")
        fc = fill_cause.get(k[0])
        for d in diffs:
            if facts.fill_dependent and fc is not None and d.category in (
                    MISSED_SIGNAL, EXTRA_SIGNAL, EXIT_BAR):
                d.category, d.explained = FILL_DEPENDENT, fc.explained
                d.detail += (f"; the strategy decides on its fill prices, and the live fill at "
                             f"{_hhmm(fc.bar_ts)} ({fc.tag}) differed ({fc.category})")
            elif d.kind == "fill" and d.category in (FILL_TIMING, FILL_PRICE, BRACKET_EXIT,
                                                     BRACKET_EXIT_PRICE):
                fill_cause.setdefault(k[0], d)
        rep.differences.extend(diffs)
        # each side's leg after this order
        if a is not None and a.filled:
            leg.bt_open = a.kind == "in"
        if b is not None and b.filled:
            leg.live_open = b.kind == "in"
        if leg.bt_open != leg.live_open:
            if leg.cause is None:
                leg.cause = next((d for d in diffs if d.kind == "signal"), diffs[0] if diffs
                                 else None)
        elif not leg.bt_open:
            leg.cause = None  # both flat again: later differences stand on their own
    for o in extra:
        rep.differences.append(_extra(o, marks.get(o.symbol, 0)))
    rep.differences.sort(key=lambda d: (d.bar_ts or 0, d.symbol, d.tag))
    residual = rep.pnl_difference_paise - sum(d.amount_paise for d in rep.differences)
    if residual:
        rep.differences.append(Difference(
            "pnl", PNL_RESIDUAL, False, "", "", None,
            f"{_rupees(residual)} of the P&L difference is carried by no listed difference",
            residual))
    return rep


def _candle_counts(b: DayBars, facts: BotFacts, symbol: str, day: str
                   ) -> dict[str, int | None]:
    start = ist_day_bounds(date.fromisoformat(day))[0]
    if facts.live_candles is None:
        return {"stored": sum(1 for t in b.ts if t >= start), "live": None, "missing": None,
                "differing": None}
    live = facts.live_candles.get(symbol) or {}
    first = min(live, default=start)
    rows = [(t, (b.open[i], b.high[i], b.low[i], b.close[i]))
            for i, t in enumerate(b.ts) if t >= max(start, first)]
    return {"stored": len(rows), "live": len(live),
            "missing": sum(1 for t, _ in rows if t not in live),
            "differing": sum(1 for t, px in rows if t in live and live[t] != px)}


def _loss_latch_from(live: list[Order], day: str, facts: BotFacts) -> int | None:
    """The signal bar of the first entry refused by the daily loss latch on `day`."""
    if facts.entries_blocked_day != day:
        return None
    refused = [o.bar_ts for o in live
               if o.kind == "in" and o.status == "refused" and o.rule == LOSS_LIMIT_RULE]
    return min(refused) if refused else None


def _not_running(o: Order, facts: BotFacts) -> str:
    if o.bar_ts < facts.first_live_ts:
        return f"the bot's first live bar was {_hhmm(facts.first_live_ts)}"
    last = facts.last_bar.get(o.symbol)
    if last is None or o.bar_ts > last:
        return f"the bot processed {o.symbol} bars only up to {_hhmm(last)}"
    return ""


def _pair(a: Order | None, b: Order | None, day_bars: DayBars | None, facts: BotFacts,
          blocked_from: int | None, mark: int) -> list[Difference]:
    """The differences of one order key: a = backtest, b = live."""
    ref = a or b
    assert ref is not None
    base = {"symbol": ref.symbol, "tag": ref.tag,
            "client_order_id": b.client_order_id if b is not None else ""}
    what = "entry" if ref.kind == "in" else "exit"
    if b is None or not b.filled:
        if a is None or not a.filled:
            return []  # neither side traded it (e.g. both refused)
        amount = -contribution(a, mark)
        d = Difference("signal", MISSED_SIGNAL, False, bar_ts=a.bar_ts, amount_paise=amount,
                       backtest=_side(a), live=_side(b), **base,
                       detail=f"the backtest's {what} {a.side} {a.qty} at {_hhmm(a.bar_ts)} "
                              "has no live fill")
        if b is not None:
            if b.status == "refused":
                d.category, d.explained = REFUSED_BY_RISK, True
                d.detail = (f"the bot's {what} {b.client_order_id} was refused by execution"
                            f"{f' (rule {b.rule})' if b.rule else ''}: {b.detail}")
            elif b.status == "rejected":
                d.category, d.explained = REJECTED_BY_BROKER, True
                d.detail = f"the broker rejected the bot's {what}: {b.detail}"
            else:
                d.category = NOT_FILLED
                d.detail = f"the bot's {what} {b.client_order_id} is {b.status}, not filled"
            return [d]
        why = _not_running(a, facts)
        if why:
            d.category, d.explained, d.detail = BOT_NOT_RUNNING, True, f"{d.detail}: {why}"
        elif a.kind == "in" and facts.paused_at(a.bar_ts):
            d.category, d.explained = BOT_PAUSED, True
            d.detail += ": the bot was paused (entries refused, exits go on)"
        elif (issue := _candles(a, day_bars, facts))[0]:
            d.category, d.explained = issue[0], True
            d.detail += f": {issue[1]}"
        elif a.kind == "in" and blocked_from is not None and a.bar_ts >= blocked_from:
            d.category, d.explained = ENTRIES_BLOCKED, True
            d.detail += (f": the account's daily loss latch blocked the bot's entries from "
                         f"{_hhmm(blocked_from)}")
        elif facts.warmup_differs:
            d.category, d.explained = WARMUP, True
            d.detail += "; the bot's strategy warmed up on earlier bars than the backtest's"
        return [d]
    if a is None:
        d = Difference("signal", EXTRA_SIGNAL, False, bar_ts=b.bar_ts,
                       amount_paise=contribution(b, mark), live=_side(b), **base,
                       detail=f"the bot's {what} {b.side} {b.filled_qty} at {_hhmm(b.bar_ts)} "
                              "is not in the backtest")
        issue = _candles(b, day_bars, facts)
        if issue[0]:
            d.category, d.explained = issue[0], True
            d.detail += f": {issue[1]}"
        elif day_bars is not None and day_bars.ts and b.bar_ts >= day_bars.ts[-1]:
            d.category, d.explained = NO_NEXT_BAR, True
            d.detail += ("; signalled on the last stored bar: the backtest fills it at a next "
                         "bar it does not have")
        elif facts.warmup_differs:
            d.category, d.explained = WARMUP, True
            d.detail += "; the bot's strategy warmed up on earlier bars than the backtest's"
        return [d]
    # both sides traded it
    out: list[Difference] = []
    amount = contribution(b, mark) - contribution(a, mark)
    if a.side != b.side or a.qty != b.qty:
        d = Difference("order", ORDER_MISMATCH, False, bar_ts=a.bar_ts, amount_paise=amount,
                       backtest=_side(a), live=_side(b), **base,
                       detail=f"backtest {a.side} {a.qty}, live {b.side} {b.qty}")
        if (a.side == b.side and a.kind == "in" and not facts.sizing_fixed
                and abs(a.qty - b.qty) <= max(1, a.qty * SIZING_TOLERANCE_PCT // 100)):
            d.category, d.explained = SIZING, True
            d.detail += ("; the bot sizes by its own equity and the signal bar's close, the "
                         "backtest by its equity and the fill price")
        return [d]
    if b.filled_qty != b.qty:
        out.append(Difference("fill", PARTIAL_FILL, False, bar_ts=a.bar_ts, backtest=_side(a),
                              live=_side(b), **base,
                              amount_paise=contribution(b, mark) - contribution(
                                  dataclasses.replace(b, filled_qty=b.qty), mark),
                              detail=f"{b.filled_qty} of {b.qty} filled"))
        amount -= out[0].amount_paise
    bracket = a.bracket or b.bracket
    if a.bar_ts != b.bar_ts and not bracket:
        d = Difference("signal", EXIT_BAR, False, bar_ts=min(a.bar_ts, b.bar_ts),
                       amount_paise=amount, backtest=_side(a), live=_side(b), **base,
                       detail=f"the backtest exits on the {_hhmm(a.bar_ts)} bar, the bot on the "
                              f"{_hhmm(b.bar_ts)} bar")
        issue = _candles(a if a.bar_ts > b.bar_ts else b, day_bars, facts)
        if issue[0]:
            d.category, d.explained = issue[0], True
            d.detail += f": {issue[1]}"
        out.append(d)
        return out
    if a.price_paise == b.price_paise and a.bar_ts == b.bar_ts:
        return out
    per_share = int(b.price_paise or 0) - int(a.price_paise or 0)
    rng = _range(a, b, day_bars, bracket)
    tol = _tolerance(facts, int(a.price_paise or 0))
    inside = rng is not None and rng[0] - tol <= int(b.price_paise or 0) <= rng[1] + tol
    seen = f"{_rupees(rng[0])}–{_rupees(rng[1])}" if rng is not None else "unknown"
    if bracket:
        cat = BRACKET_EXIT if inside else BRACKET_EXIT_PRICE
        detail = (f"{a.reason}/{b.reason} exit: backtest at {_rupees(a.price_paise)} on the "
                  f"{_hhmm(a.bar_ts)} bar, live at {_rupees(b.price_paise)} at "
                  f"{_hhmm(b.sent_ts)} (traded between them: {seen})")
        if b.bracket and not b.client_order_id.startswith("gtt:"):
            detail += (f"; the bot's own market exit after the {_hhmm(b.bar_ts)} bar crossed "
                       "a trailing stop its GTT did not hold")
    elif b.by_broker:
        cat = BROKER_SQUAREOFF if inside else FILL_PRICE
        detail = (f"the bot's exit reached the broker after its MIS auto square-off, which "
                  f"closed the leg at {_rupees(b.price_paise)} at {_hhmm(b.filled_ts)}; the "
                  f"backtest at the next bar's open {_rupees(a.price_paise)} ({per_share:+d} "
                  f"paise a share; traded from the signal to the square-off: {seen})")
    else:
        cat = FILL_TIMING if inside else FILL_PRICE
        late = ""
        if day_bars is not None and b.sent_ts is not None:
            n = day_bars.index_at(b.sent_ts) - day_bars.index_at(a.bar_ts)
            late = f", {n} bar{'s' if n != 1 else ''} after the signal bar" if n > 1 else ""
        at = (f" (filled at {_hhmm(b.filled_ts)})"
              if b.filled_ts is not None and b.sent_ts is not None
              and b.filled_ts // 10**9 > b.sent_ts // 10**9 else "")
        detail = (f"live filled at {_rupees(b.price_paise)} when the order reached the market "
                  f"at {_hhmm(b.sent_ts)}{at}{late}; the backtest at the next bar's open "
                  f"{_rupees(a.price_paise)} ({per_share:+d} paise a share; traded from the "
                  f"signal to the fill: {seen})")
    out.append(Difference("fill", cat, cat in EXPLAINED, bar_ts=a.bar_ts, amount_paise=amount,
                          backtest=_side(a), live=_side(b), **base, detail=detail))
    return out


def _candles(o: Order, day_bars: DayBars | None, facts: BotFacts) -> tuple[str, str]:
    """Whether the bars the bot was sent up to `o`'s bar differ from the stored ones."""
    if day_bars is None or facts.live_candles is None:
        return "", ""
    return day_bars.candle_issue(facts.live_candles.get(o.symbol) or {}, o.bar_ts)


def _range(a: Order, b: Order, day_bars: DayBars | None, bracket: bool
           ) -> tuple[int, int] | None:
    """What traded between the backtest's fill and the live one: from the bar after the signal
    bar (a stop: the bar it was hit on) to the bar the live order filled in (the broker's fill
    time; else the bar it reached execution in)."""
    if day_bars is None:
        return None
    first = day_bars.index_at(min(a.bar_ts, b.bar_ts)) + (0 if bracket else 1)
    arrived = max(t for t in (b.sent_ts, b.filled_ts, b.bar_ts) if t is not None)
    last = max(day_bars.index_at(arrived), day_bars.index_at(a.sent_ts or a.bar_ts), first)
    return day_bars.traded_range(first, last)


def _tolerance(facts: BotFacts, price: int) -> int:
    """The spread and the configured slippage beyond the traded range a market fill may land."""
    return (SPREAD_TICKS + facts.slippage_ticks) * facts.tick_paise + int(
        price * facts.slippage_bps / 10_000) + 1


def _extra(o: Order, mark: int) -> Difference:
    """A live order with no counterpart: an exit of a leg carried into the day, or one the bot
    did not place (no bot leg)."""
    amount = contribution(o, mark)
    base = {"symbol": o.symbol, "tag": o.tag, "bar_ts": o.bar_ts, "amount_paise": amount,
            "client_order_id": o.client_order_id, "live": _side(o)}
    if o.kind == "out" and o.leg_ts is None:
        return Difference("signal", CARRIED_POSITION, True, **base,
                          detail=f"exit {o.side} {o.qty} of a leg opened before the day")
    return Difference("order", EXTERNAL_ORDER, False, **base,
                      detail=f"{o.side} {o.qty} {o.client_order_id} is not one of the bot's "
                             "legs of the day")
