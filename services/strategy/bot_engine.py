"""The bar-by-bar driver of a live or paper bot: the backtester's rules, one candle at a time.

The backtester (mandi.core.backtest.engine) sees a whole series; a bot sees one closed candle
at a time. Both feed the *same* `Strategy` objects (built by `library.build`) through a
`Context`, and this module repeats the engine's per-bar order of events so a bot trades the bars
of a day exactly as the backtest of that day does (with `fill_on="next_open"`):

* after `on_bar` of bar i, its intents are sent as market orders at once — they fill at the
  market, which is what the backtester models as bar i+1's open;
* MIS: the bot squares off on the last bar that closes *before* the broker's cut-off — when
  bar i+2 would start at or after it — because an order sent when the cut-off bar closes
  reaches the broker after its auto square-off (Kite refuses it; Zerodha charges for the
  auto square-off). From that bar on, entries are refused. This is the backtest with the
  cut-off one bar earlier (`BacktestConfig.squareoff_ist`), which is what parity compares with;
* an `Enter` for a tag already open is ignored, a CNC short is refused, an `Exit` of a leg that
  is not open does nothing — as in the backtester.

The context is updated as the orders are sent (the strategy's next `on_bar` sees the position,
as in the backtest where the fill happens before it). Bars before `first_live_ts` only warm the
strategy up (entries dropped, like the backtester's `trade_from`).

Restart: the strategy objects keep indicator state that is not serialisable in general, so a
resumed bot rebuilds them by replaying: warm-up bars, then the bars it already processed (the
same code, with orders suppressed), then it goes on with bars after `last_bar_ts` — each of
which is processed exactly once. Every order's `client_order_id` is derived from (bot, bar
time, leg), so even a bar replayed after a crash between "order sent" and "state saved" sends
the same ids, which execution answers as duplicates.

Protective stops and targets (GTT brackets): an `Enter` with stop_pct/target_pct is sent with
them as percents (`OrderRequest.stop_loss_pct` / `target_pct`); execution places one GTT per
entry order after the entry fills (an OCO when both), its levels `pct_level` of the average
fill price — as the backtester's. So the GTT is idempotent by the entry's client_order_id, and
a restarted bot never places a second one: it only looks its GTT up by the entry order.
A `SetStop` (trailing) of a live bar moves the leg's wanted stop (`Leg.stop_paise`, kept in the
saved state); the runner makes the GTT hold it (ModifyGtt). Each leg also keeps the stop its GTT
holds as far as the bot knows (`gtt_stop`: the fill's level at first, then what the runner saw
or set). While the two differ — the GTT is not known yet, or Kite refuses a trigger within
0.25 % of the last price — the bot enforces the wanted stop itself, as the backtester checks
stops: before `on_bar` of each live bar, a leg whose bar low (long) / high (short) crossed it is
exited at market, reason `stop`, under the same deterministic id as any exit of that bar
(`stop_exits` names them for the runner's log and audit). The exit carries the leg's GTT id, so
the GTT is deleted first, as for every exit.

Fills: the runner learns them by reconciling with execution when the next bar closes, before
that bar is processed (`entry_filled`, `exit_filled`, `closed_by_gtt`, `entry_failed`) — the
moment the backtester applies them too (fills at bar i+1's open and stops hit within bar i+1
both happen before `on_bar(i+1)`). Until then an entry's leg carries the bar's close as a
stand-in price; `on_fill` gets the real price, and the leg's stop and target are set from it.

Sizing: every sizer of the backtester (`mandi.core.backtest.sizing.size_qty`). The price is the
signal bar's close (the fill's price is not known yet: the backtest's next open is the
difference); equity is the bot's own: its run body's `capital` + realized P&L of its legs at
their real fills (charges left out: execution's ledger holds them) + open legs marked at their
symbol's last close — not the account's funds, which several bots share, so the sizer sizes as
the backtest of the bot's strategy with that capital does. ATR risk streams ATR over every bar
the bot sees (warm-up included), as the backtest's ATR over its series.

Not built: the backtest's margin check (execution's risk checks stand in for it live).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mandi.core.backtest.engine import BacktestConfig, at_cutoff
from mandi.core.backtest.sizing import ATR_RISK, FIXED_QTY, size_qty
from mandi.core.charges import Segment, Side
from mandi.core.errors import InvalidInput
from mandi.core.fills import pct_level
from mandi.core.indicators.streaming import ATR
from mandi.core.strategies.base import Bar, Context, Enter, Exit, Fill, Leg, SetStop, Strategy
from services.strategy.bot_risk import ist_day_of_ns

MAX_CLIENT_ORDER_ID = 64  # execution's limit


@dataclass(frozen=True)
class OrderIntent:
    """One market order the bot sends for bar `bar_ts` (epoch ns of the signal bar's open)."""

    client_order_id: str
    symbol: str
    side: Side
    qty: int
    tag: str
    reason: str  # entry | signal | squareoff | stop | target (the last two: placed by a GTT)
    bar_ts: int
    stop_pct: float = 0.0  # entry: the GTT execution places after the fill
    target_pct: float = 0.0
    gtt_id: str = ""  # exit: the leg's GTT, deleted before the exit is sent
    # exit of a leg with a stop or target: its entry order (to find a GTT not yet known)
    entry_order_id: str = ""


def client_order_id(bot_id: str, bar_ts_ns: int, leg: str) -> str:
    """f"{bot_id}:{bar time}:{leg}", the bar time in epoch seconds; a leg that would not fit
    execution's 64 characters is replaced by a hash of itself (still deterministic)."""
    head = f"{bot_id}:{bar_ts_ns // 1_000_000_000}:"
    if len(head) + len(leg) > MAX_CLIENT_ORDER_ID:
        leg = "h" + hashlib.sha256(leg.encode()).hexdigest()[:MAX_CLIENT_ORDER_ID - len(head) - 1]
    return head + leg


def stop_pending(info: dict[str, Any], wanted: int | None) -> bool:
    """Whether a leg's wanted stop is not the one its GTT holds (as far as the bot knows): the
    leg has a GTT stop, its entry fill is known, and the two differ."""
    return bool(info.get("stop_pct")) and bool(info.get("filled")) and wanted is not None \
        and int(info.get("gtt_stop") or 0) != wanted


def check_sizing(cfg: BacktestConfig) -> None:
    """Deploy's check of a bot's sizing: every sizer of the backtester runs in a bot (its
    parameters were validated when the config was built)."""
    cfg.sizer.as_params()


class _SymbolFeed:
    __slots__ = ("atr", "close_paise", "ctx", "info", "k", "strategy", "symbol", "wants_fills")

    def __init__(self, k: int, symbol: str, strategy: Strategy, atr_period: int) -> None:
        self.k = k
        self.symbol = symbol
        self.strategy = strategy
        self.ctx = Context(symbol)
        self.wants_fills = type(strategy).on_fill is not Strategy.on_fill
        self.atr = ATR(atr_period) if atr_period else None
        self.close_paise = 0  # the last bar's close: open legs are marked at it
        # per open leg: its entry order, whether its price is the real fill, its GTT
        self.info: dict[str, dict[str, Any]] = {}
        strategy.on_start(symbol)
        strategy.prepare(None)  # stream indicators: live bars come one at a time


class BotEngine:
    """Feeds closed candles of a bot's symbols to its strategies; returns the orders to send."""

    def __init__(self, bot_id: str, symbols: list[str], factory: Callable[[str], Strategy],
                 cfg: BacktestConfig, interval_ns: int, first_live_ts: int) -> None:
        self.bot_id = bot_id
        self.cfg = cfg
        check_sizing(cfg)
        kind, p_int, p_float, _ = cfg.sizer.as_params()
        self._sizing = (kind, p_int, p_float)
        self.interval_ns = interval_ns
        self.first_live_ts = first_live_ts
        self.cnc = cfg.segment is Segment.EQUITY_DELIVERY
        atr_period = cfg.sizer.atr_period if kind == ATR_RISK else 0  # type: ignore[union-attr]
        self.feeds = {s: _SymbolFeed(k, s, factory(s), atr_period)
                      for k, s in enumerate(symbols)}
        self.last_bar: dict[str, int] = {}  # symbol → last processed bar ts (ns)
        self.first_bar: int | None = None  # where the warm-up began: a resume starts there too
        self.refused = 0
        self.paused = False  # entries refused; exits and square-offs go on
        # the IST day on which execution's daily loss latch refused an entry: no entries on
        # bars of that day (services/strategy/bot_risk.py)
        self.entries_blocked = ""
        self.last_was_live = False
        # exits of the last live bar the bot sent itself: a wanted stop its GTT does not hold
        # was crossed — (intent, the stop, the GTT's stop)
        self.stop_exits: list[tuple[OrderIntent, int, int]] = []
        # realized P&L of closed legs (paise, no charges); exits not yet filled count at the
        # close they were sent at until their fill is known (`awaiting`)
        self.realized_paise = 0
        # exits sent whose fill is not known yet: client_order_id → what on_fill needs
        self.awaiting: dict[str, dict[str, Any]] = {}
        self._saved: dict[str, Any] = {}
        self._pending: dict[str, int] = {}  # symbol → saved last bar, while replaying

    # --- bars ---------------------------------------------------------------------------------
    def resume_from(self, saved: dict[str, Any]) -> None:
        """Restart from a saved state: each symbol's bars up to its saved last bar rebuild its
        strategy with orders suppressed, then its saved legs and strategy state are taken
        (per symbol: one symbol's stream may run ahead of another's)."""
        self._saved = saved
        self._pending = {s: int(t) for s, t in (saved.get("last_bar") or {}).items()
                         if s in self.feeds}
        self.refused = int(saved.get("refused", 0))
        self.entries_blocked = str(saved.get("entries_blocked") or "")
        self.realized_paise = int(saved.get("realized_paise", 0))
        self.awaiting = {c: dict(a) for c, a in (saved.get("awaiting") or {}).items()}
        for s in self.feeds:
            if s not in self._pending:
                self._adopt(s)

    @property
    def replaying(self) -> bool:
        return bool(self._pending)

    def is_live_bar(self, symbol: str, ts: int) -> bool:
        """Whether `on_candle` will process this bar for real (reconcile with execution
        first): a new bar after the symbol's replay, at or after the first live bar."""
        f = self.feeds.get(symbol)
        if f is None or ts <= self.last_bar.get(symbol, -1) or ts < self.first_live_ts:
            return False
        target = self._pending.get(symbol)
        return target is None or ts > target

    def fills_first(self, symbol: str) -> bool:
        """Whether execution's fills must be known before the symbol's next bar is processed:
        the strategy listens to fills, the sizer reads equity, or an open leg has a GTT that
        may have closed it. Otherwise they only complete the record, and the runner learns
        them after the bar's orders are sent (off the candle → order path)."""
        f = self.feeds[symbol]
        return f.wants_fills or self._sizing[0] != FIXED_QTY or any(
            i.get("stop_pct") or i.get("target_pct") for i in f.info.values())

    def on_candle(self, symbol: str, bar: Bar) -> list[OrderIntent]:
        """Process one closed candle; returns the orders to send (and `stop_exits`). Bars at
        or before the symbol's last one are ignored (a replayed stream delivers each bar once
        to the strategy); `last_was_live` says whether this bar was processed for real (save
        the state) or only rebuilt what a previous run did."""
        f = self.feeds.get(symbol)
        if f is None:
            raise InvalidInput(f"{symbol} is not one of the bot's symbols", field="symbol")
        self.last_was_live = False
        self.stop_exits = []
        if bar.ts <= self.last_bar.get(symbol, -1):
            return []
        target = self._pending.get(symbol)
        if target is not None:
            if bar.ts <= target:
                # what the previous run did: nothing is sent again, and the bot-wide book
                # (saved, adopted at resume) is not touched by the rebuild
                book = self.refused, self.realized_paise, dict(self.awaiting)
                self._process(f, bar)
                self.refused, self.realized_paise, self.awaiting = book
                self.stop_exits = []
                if bar.ts == target:
                    self._adopt(symbol)
                return []
            self._adopt(symbol)  # the saved bar never came back (a gap): take the state now
        self.last_was_live = True
        return self._process(f, bar)

    def _process(self, f: _SymbolFeed, bar: Bar) -> list[OrderIntent]:
        symbol = f.symbol
        self.last_bar[symbol] = bar.ts
        if self.first_bar is None or bar.ts < self.first_bar:
            self.first_bar = bar.ts
        ctx = f.ctx
        f.close_paise = round(bar.close * 100)
        if f.atr is not None:
            f.atr.update(bar.high, bar.low, bar.close)
        live = bar.ts >= self.first_live_ts
        out: list[OrderIntent] = self._enforce_stops(f, bar) if live and ctx.legs else []
        f.strategy.on_bar(bar, ctx)
        intents, ctx.intents = ctx.intents, []
        blocked = bool(self.entries_blocked) and ist_day_of_ns(bar.ts) == self.entries_blocked
        if not live:
            intents = [it for it in intents if type(it) is not Enter]
        after_next = bar.ts + 2 * self.interval_ns  # see the module doc: one bar early
        cut = bool(self.cfg.mis) and at_cutoff(after_next, self.cfg)
        for it in intents:
            kind = type(it)
            if kind is Exit:
                tags = [it.tag] if it.tag is not None else list(ctx.legs)
                for tag in tags:
                    if tag in ctx.legs:
                        out.append(self._close(f, tag, bar, it.reason))
            elif kind is Enter:
                if cut or self.paused or blocked or it.tag in ctx.legs:
                    continue
                o = self._open(f, it, bar)
                if o is not None:
                    out.append(o)
            elif kind is SetStop:
                leg = ctx.legs.get(it.tag)
                if leg is not None and leg.stop_paise != it.stop_paise:
                    leg.stop_paise = it.stop_paise  # its GTT follows: Reconciler.sync_stops
        if cut:
            for tag in list(ctx.legs):
                out.append(self._close(f, tag, bar, "squareoff"))
        return out

    def _enforce_stops(self, f: _SymbolFeed, bar: Bar) -> list[OrderIntent]:
        """Exits of legs whose wanted stop the bar crossed while their GTT holds another (the
        backtester's stop check of this bar, `fills.exit_on_bar`; the exit is a market order
        sent at the bar's close, the nearest the bot can come to the stop's price)."""
        out = []
        for tag, leg in list(f.ctx.legs.items()):
            info = f.info.get(tag) or {}
            if not stop_pending(info, leg.stop_paise):
                continue
            stop = int(leg.stop_paise)  # type: ignore[arg-type]
            crossed = round(bar.low * 100) <= stop if leg.is_long else \
                round(bar.high * 100) >= stop
            if crossed:
                held = int(info.get("gtt_stop") or 0)
                o = self._close(f, tag, bar, "stop")
                out.append(o)
                self.stop_exits.append((o, stop, held))
        return out

    def stops_pending(self, symbol: str) -> bool:
        """Some open leg of the symbol wants a stop its GTT does not hold (yet)."""
        f = self.feeds[symbol]
        return any(stop_pending(f.info.get(t) or {}, leg.stop_paise)
                   for t, leg in f.ctx.legs.items())

    def equity_paise(self) -> int:
        """The bot's capital + realized P&L + open legs at their symbol's last close."""
        eq = self.cfg.initial_capital_paise + self.realized_paise
        for f in self.feeds.values():
            for leg in f.ctx.legs.values():
                sign = 1 if leg.is_long else -1
                eq += sign * (f.close_paise - leg.entry_price_paise) * leg.qty
        return eq

    def _open(self, f: _SymbolFeed, it: Enter, bar: Bar) -> OrderIntent | None:
        lot = self.cfg.lot_size
        # the entry price is unknown until execution fills it; the bar's close stands in
        # until the runner reconciles the fill (`entry_filled`)
        ref = round(bar.close * 100)
        if it.qty is not None:
            qty = (it.qty // lot) * lot
        else:
            kind, p_int, p_float = self._sizing
            atr = f.atr.value if f.atr is not None else math.nan
            qty = size_qty(kind, p_int, p_float, ref, self.equity_paise(), atr, lot) \
                if ref > 0 else 0
        if qty <= 0 or (self.cnc and it.side is Side.SELL):
            self.refused += 1
            return None
        coid = client_order_id(self.bot_id, bar.ts, f"{f.k}.{it.tag}.in")
        f.ctx.legs[it.tag] = Leg(it.tag, it.side, qty, ref, bar.ts + self.interval_ns)
        f.ctx.position += qty if it.side is Side.BUY else -qty
        f.info[it.tag] = {"coid": coid, "order_id": "", "filled": False, "gtt_id": "",
                          "stop_pct": it.stop_pct or 0.0, "target_pct": it.target_pct or 0.0}
        return OrderIntent(coid, f.symbol, it.side, qty, it.tag, "entry", bar.ts,
                           it.stop_pct or 0.0, it.target_pct or 0.0)

    def _close(self, f: _SymbolFeed, tag: str, bar: Bar, reason: str) -> OrderIntent:
        leg = f.ctx.legs.pop(tag)
        info = f.info.pop(tag, None) or {}
        f.ctx.position -= leg.qty if leg.is_long else -leg.qty
        side = Side.SELL if leg.is_long else Side.BUY
        coid = client_order_id(self.bot_id, bar.ts, f"{f.k}.{tag}.out")
        est = round(bar.close * 100)
        sign = 1 if leg.is_long else -1
        self.realized_paise += sign * (est - leg.entry_price_paise) * leg.qty
        bracketed = bool(info.get("stop_pct") or info.get("target_pct"))
        o = OrderIntent(coid, f.symbol, side, leg.qty, tag, reason, bar.ts,
                        gtt_id=info.get("gtt_id", ""),
                        entry_order_id=info.get("order_id", "") if bracketed else "")
        if info.get("coid") and not info.get("filled"):
            # closed before its entry's fill was learnt: that fill is still awaited (first)
            self.awaiting[info["coid"]] = {
                "symbol": f.symbol, "tag": tag, "side": leg.side.value, "qty": leg.qty,
                "reason": "entry", "est_paise": leg.entry_price_paise, "long": leg.is_long,
                "bar_ts": bar.ts, "entry": True, "order_id": info.get("order_id", "")}
        # until its fill is known; the GTT ids let a resumed bot resend it safely
        self.awaiting[coid] = {"symbol": f.symbol, "tag": tag, "side": side.value,
                               "qty": leg.qty, "reason": reason, "est_paise": est,
                               "long": leg.is_long, "bar_ts": bar.ts, "gtt_id": o.gtt_id,
                               "entry_order_id": o.entry_order_id}
        return o

    def forget_entry(self, o: OrderIntent) -> None:
        """Execution refused entry `o`: its leg never opened."""
        f = self.feeds[o.symbol]
        leg = f.ctx.legs.get(o.tag)
        if leg is not None and leg.side is o.side and leg.qty == o.qty:
            del f.ctx.legs[o.tag]
            f.info.pop(o.tag, None)
            f.ctx.position -= o.qty if o.side is Side.BUY else -o.qty
            self.refused += 1

    # --- what execution did (the runner reconciles before each live bar) -----------------------
    def open_legs(self, symbol: str) -> dict[str, dict[str, Any]]:
        """Open legs of a symbol with their entry order, fill and GTT knowledge (live view)."""
        f = self.feeds[symbol]
        return {t: f.info.setdefault(t, {"coid": "", "order_id": "", "filled": True,
                                         "gtt_id": "", "stop_pct": 0.0, "target_pct": 0.0})
                for t in f.ctx.legs}

    def entry_sent(self, symbol: str, tag: str, order_id: str) -> None:
        info = self.feeds[symbol].info.get(tag)
        if info is not None:
            info["order_id"] = order_id

    def set_gtt(self, symbol: str, tag: str, gtt_id: str) -> None:
        info = self.feeds[symbol].info.get(tag)
        if info is not None:
            info["gtt_id"] = gtt_id

    def gtt_holds(self, symbol: str, tag: str, stop_paise: int) -> None:
        """The leg's GTT holds this stop (0: none — not active): the bot enforces the wanted
        stop while they differ."""
        info = self.feeds[symbol].info.get(tag)
        if info is None:
            return
        info["gtt_stop"] = stop_paise
        leg = self.feeds[symbol].ctx.legs.get(tag)
        if leg is not None and leg.stop_paise == stop_paise:
            info["stop_enforced"] = False

    def entry_filled(self, symbol: str, tag: str, qty: int, price_paise: int, ts: int) -> None:
        """The leg's entry filled at `price_paise` (average): the leg takes the real price,
        its stop and target are set from it as the backtester does, `on_fill` is told."""
        f = self.feeds[symbol]
        leg, info = f.ctx.legs.get(tag), f.info.get(tag)
        if leg is None or info is None or info.get("filled"):
            return
        if 0 < qty != leg.qty:  # a partial fill the broker will not complete
            f.ctx.position += (qty - leg.qty) if leg.is_long else -(qty - leg.qty)
            leg.qty = qty
        leg.entry_price_paise = price_paise
        leg.entry_ts = ts
        tick = self.cfg.tick_paise
        if info.get("stop_pct"):
            leg.stop_paise = pct_level(price_paise, info["stop_pct"], not leg.is_long, tick)
            info["gtt_stop"] = leg.stop_paise  # execution places the GTT at the same level
        if info.get("target_pct"):
            leg.target_paise = pct_level(price_paise, info["target_pct"], leg.is_long, tick)
        info["filled"] = True
        if f.wants_fills:
            f.strategy.on_fill(Fill(symbol, tag, leg.side, leg.qty, price_paise, ts, 0,
                                    "entry"), f.ctx)

    def entry_failed(self, symbol: str, tag: str) -> None:
        """The entry was cancelled or rejected unfilled: the leg never opened."""
        f = self.feeds[symbol]
        leg = f.ctx.legs.pop(tag, None)
        f.info.pop(tag, None)
        if leg is not None:
            f.ctx.position -= leg.qty if leg.is_long else -leg.qty
            self.refused += 1

    def awaited_exit(self, coid: str) -> OrderIntent | None:
        """An exit awaiting its fill, as it was sent (for a resend on resume)."""
        a = self.awaiting.get(coid)
        if a is None or a.get("entry"):
            return None
        return OrderIntent(coid, a["symbol"], Side(a["side"]), int(a["qty"]), a["tag"],
                           a["reason"], int(a.get("bar_ts", 0)), gtt_id=a.get("gtt_id", ""),
                           entry_order_id=a.get("entry_order_id", ""))

    def exit_filled(self, coid: str, price_paise: int, ts: int, reason: str = "") -> None:
        """An exit the bot sent filled: realized P&L takes the real price, `on_fill` is told.
        `reason` (stop | target): the leg's GTT fired before the exit could be sent, and
        closed it at `price_paise` instead. Also the entry of a leg closed before its fill was
        learnt (`awaiting` keeps it ahead of the exit, so `on_fill` hears them in order)."""
        a = self.awaiting.pop(coid, None)
        if a is None:
            return
        sign = 1 if a["long"] else -1
        if a.get("entry"):  # realized counted the stand-in entry price: move it to the fill
            sign = -sign
        self.realized_paise += sign * (price_paise - a["est_paise"]) * a["qty"]
        f = self.feeds.get(a["symbol"])
        if f is not None and f.wants_fills:
            f.strategy.on_fill(Fill(a["symbol"], a["tag"], Side(a["side"]), a["qty"],
                                    price_paise, ts, 0, reason or a["reason"]), f.ctx)

    def closed_by_gtt(self, symbol: str, tag: str, reason: str, price_paise: int,
                      ts: int) -> Leg | None:
        """The leg's GTT fired (reason stop | target) and its order filled at `price_paise`:
        the leg is closed, as the backtester's protective exit. Returns the closed leg."""
        f = self.feeds[symbol]
        leg = f.ctx.legs.pop(tag, None)
        f.info.pop(tag, None)
        if leg is None:
            return None
        f.ctx.position -= leg.qty if leg.is_long else -leg.qty
        sign = 1 if leg.is_long else -1
        self.realized_paise += sign * (price_paise - leg.entry_price_paise) * leg.qty
        if f.wants_fills:
            side = Side.SELL if leg.is_long else Side.BUY
            f.strategy.on_fill(Fill(symbol, tag, side, leg.qty, price_paise, ts, 0, reason),
                               f.ctx)
        return leg

    # --- state ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-able: last processed bar per symbol, open legs by symbol and tag (with their
        entry order, GTT id and whether the price is the real fill), the strategies' own
        `state` dicts, exits awaiting their fill, realized P&L."""
        saved, pending = self._saved, self._pending  # symbols still replaying keep theirs
        legs = {s: {t: {"side": leg.side.value, "qty": leg.qty,
                        "entry_price_paise": leg.entry_price_paise,
                        "entry_ts": leg.entry_ts, "stop_paise": leg.stop_paise,
                        "target_paise": leg.target_paise, **f.info.get(t, {})}
                    for t, leg in f.ctx.legs.items()}
                for s, f in self.feeds.items() if f.ctx.legs and s not in pending}
        strat = {s: f.strategy.state for s, f in self.feeds.items()
                 if f.strategy.state and s not in pending}
        last = {s: t for s, t in self.last_bar.items() if s not in pending}
        for s in pending:
            for key, out in (("legs", legs), ("strategy", strat), ("last_bar", last)):
                if s in (saved.get(key) or {}):
                    out[s] = saved[key][s]
        first = self.first_bar if saved.get("first_bar") is None else saved["first_bar"]
        return {"first_live_ts": self.first_live_ts, "first_bar": first, "last_bar": last,
                "legs": legs, "strategy": strat, "refused": self.refused,
                "entries_blocked": self.entries_blocked, "realized_paise": self.realized_paise,
                "awaiting": self.awaiting}

    def _adopt(self, symbol: str) -> None:
        """After replaying a symbol's processed bars: its saved legs (what was sent for real)
        and its strategy's saved state are authoritative."""
        saved = self._saved
        self._pending.pop(symbol, None)
        f = self.feeds[symbol]
        f.ctx.legs.clear()
        f.info.clear()
        f.ctx.position = 0
        for tag, d in (saved.get("legs") or {}).get(symbol, {}).items():
            side = Side(d["side"])
            f.ctx.legs[tag] = Leg(tag, side, int(d["qty"]), int(d["entry_price_paise"]),
                                  int(d["entry_ts"]), d.get("stop_paise"),
                                  d.get("target_paise"))
            f.ctx.position += d["qty"] if side is Side.BUY else -d["qty"]
            f.info[tag] = {"coid": d.get("coid", ""), "order_id": d.get("order_id", ""),
                           "filled": bool(d.get("filled", True)),
                           "gtt_id": d.get("gtt_id", ""),
                           "stop_pct": float(d.get("stop_pct") or 0.0),
                           "target_pct": float(d.get("target_pct") or 0.0)}
            # the stop its GTT holds, and whether the bot said it enforces the wanted one
            for key in ("gtt_stop", "stop_enforced"):
                if key in d:
                    f.info[tag][key] = d[key]
        st = (saved.get("strategy") or {}).get(symbol)
        if st:
            f.strategy.state = st
        if symbol in (saved.get("last_bar") or {}):
            self.last_bar[symbol] = max(self.last_bar.get(symbol, -1),
                                        int(saved["last_bar"][symbol]))
