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

Not in slice 1: protective stops and targets of legs (GTT brackets), sizing other than a fixed
quantity, the backtest's margin check (execution's risk checks stand in for it live).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mandi.core.backtest.engine import BacktestConfig, cutoff_mask
from mandi.core.backtest.sizing import FIXED_QTY
from mandi.core.charges import Segment, Side
from mandi.core.errors import InvalidInput
from mandi.core.strategies.base import Bar, Context, Enter, Exit, Leg, SetStop, Strategy
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
    reason: str  # entry | signal | squareoff | …
    bar_ts: int


def client_order_id(bot_id: str, bar_ts_ns: int, leg: str) -> str:
    """f"{bot_id}:{bar time}:{leg}", the bar time in epoch seconds; a leg that would not fit
    execution's 64 characters is replaced by a hash of itself (still deterministic)."""
    head = f"{bot_id}:{bar_ts_ns // 1_000_000_000}:"
    if len(head) + len(leg) > MAX_CLIENT_ORDER_ID:
        leg = "h" + hashlib.sha256(leg.encode()).hexdigest()[:MAX_CLIENT_ORDER_ID - len(head) - 1]
    return head + leg


def check_sizing(cfg: BacktestConfig) -> int:
    """The fixed quantity of an entry that leaves qty to the run (slice 1 sizes no other way)."""
    kind, p_int, _, _ = cfg.sizer.as_params()
    if kind != FIXED_QTY:
        raise InvalidInput("bots size entries by fixed_qty only for now", field="sizing.type")
    return p_int


class _SymbolFeed:
    __slots__ = ("ctx", "k", "strategy", "symbol", "wants_fills")

    def __init__(self, k: int, symbol: str, strategy: Strategy) -> None:
        self.k = k
        self.symbol = symbol
        self.strategy = strategy
        self.ctx = Context(symbol)
        self.wants_fills = type(strategy).on_fill is not Strategy.on_fill
        strategy.on_start(symbol)
        strategy.prepare(None)  # stream indicators: live bars come one at a time


class BotEngine:
    """Feeds closed candles of a bot's symbols to its strategies; returns the orders to send."""

    def __init__(self, bot_id: str, symbols: list[str], factory: Callable[[str], Strategy],
                 cfg: BacktestConfig, interval_ns: int, first_live_ts: int) -> None:
        self.bot_id = bot_id
        self.cfg = cfg
        self.qty = check_sizing(cfg)
        self.interval_ns = interval_ns
        self.first_live_ts = first_live_ts
        self.cnc = cfg.segment is Segment.EQUITY_DELIVERY
        self.feeds = {s: _SymbolFeed(k, s, factory(s)) for k, s in enumerate(symbols)}
        self.last_bar: dict[str, int] = {}  # symbol → last processed bar ts (ns)
        self.first_bar: int | None = None  # where the warm-up began: a resume starts there too
        self.refused = 0
        self.paused = False  # entries refused; exits and square-offs go on
        # the IST day on which execution's daily loss latch refused an entry: no entries on
        # bars of that day (services/strategy/bot_risk.py)
        self.entries_blocked = ""
        self.last_was_live = False
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
        for s in self.feeds:
            if s not in self._pending:
                self._adopt(s)

    @property
    def replaying(self) -> bool:
        return bool(self._pending)

    def on_candle(self, symbol: str, bar: Bar) -> list[OrderIntent]:
        """Process one closed candle; returns the orders to send. Bars at or before the
        symbol's last one are ignored (a replayed stream delivers each bar once to the
        strategy); `last_was_live` says whether this bar was processed for real (save the
        state) or only rebuilt what a previous run did."""
        f = self.feeds.get(symbol)
        if f is None:
            raise InvalidInput(f"{symbol} is not one of the bot's symbols", field="symbol")
        self.last_was_live = False
        if bar.ts <= self.last_bar.get(symbol, -1):
            return []
        target = self._pending.get(symbol)
        if target is not None:
            if bar.ts <= target:
                self._process(f, bar)  # what the previous run did: nothing is sent again
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
        f.strategy.on_bar(bar, ctx)
        intents, ctx.intents = ctx.intents, []
        live = bar.ts >= self.first_live_ts
        blocked = bool(self.entries_blocked) and ist_day_of_ns(bar.ts) == self.entries_blocked
        if not live:
            intents = [it for it in intents if type(it) is not Enter]
        after_next = bar.ts + 2 * self.interval_ns  # see the module doc: one bar early
        cut = bool(self.cfg.mis) and bool(
            cutoff_mask(np.array([after_next], np.int64), self.cfg)[0])
        out: list[OrderIntent] = []
        for it in intents:
            kind = type(it)
            if kind is Exit:
                tags = [it.tag] if it.tag is not None else list(ctx.legs)
                for tag in tags:
                    if tag in ctx.legs:
                        out.append(self._close(f, tag, bar, it.reason))
            elif kind is Enter:
                if it.stop_pct or it.target_pct:  # Deploy refuses the known cases
                    raise InvalidInput("the strategy asked for a stop or target, which bots do "
                                       "not manage yet", field="strategy")
                if cut or self.paused or blocked or it.tag in ctx.legs:
                    continue
                o = self._open(f, it, bar)
                if o is not None:
                    out.append(o)
            elif kind is SetStop:
                leg = ctx.legs.get(it.tag)
                if leg is not None:
                    leg.stop_paise = it.stop_paise
        if cut:
            for tag in list(ctx.legs):
                out.append(self._close(f, tag, bar, "squareoff"))
        return out

    def _open(self, f: _SymbolFeed, it: Enter, bar: Bar) -> OrderIntent | None:
        lot = self.cfg.lot_size
        qty = (it.qty // lot) * lot if it.qty is not None else (self.qty // lot) * lot
        if qty <= 0 or (self.cnc and it.side is Side.SELL):
            self.refused += 1
            return None
        # the entry price is unknown until execution fills it; the bar's close stands in
        # (the strategies of the library read only the legs' presence, side and quantity)
        ref = round(bar.close * 100)
        f.ctx.legs[it.tag] = Leg(it.tag, it.side, qty, ref, bar.ts + self.interval_ns)
        f.ctx.position += qty if it.side is Side.BUY else -qty
        return OrderIntent(client_order_id(self.bot_id, bar.ts, f"{f.k}.{it.tag}.in"),
                           f.symbol, it.side, qty, it.tag, "entry", bar.ts)

    def _close(self, f: _SymbolFeed, tag: str, bar: Bar, reason: str) -> OrderIntent:
        leg = f.ctx.legs.pop(tag)
        f.ctx.position -= leg.qty if leg.is_long else -leg.qty
        side = Side.SELL if leg.is_long else Side.BUY
        return OrderIntent(client_order_id(self.bot_id, bar.ts, f"{f.k}.{tag}.out"),
                           f.symbol, side, leg.qty, tag, reason, bar.ts)

    def forget_entry(self, o: OrderIntent) -> None:
        """Execution refused entry `o`: its leg never opened."""
        f = self.feeds[o.symbol]
        leg = f.ctx.legs.get(o.tag)
        if leg is not None and leg.side is o.side and leg.qty == o.qty:
            del f.ctx.legs[o.tag]
            f.ctx.position -= o.qty if o.side is Side.BUY else -o.qty
            self.refused += 1

    # --- state ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-able: last processed bar per symbol, open legs by symbol and tag, the
        strategies' own `state` dicts."""
        saved, pending = self._saved, self._pending  # symbols still replaying keep theirs
        legs = {s: {t: {"side": leg.side.value, "qty": leg.qty,
                        "entry_price_paise": leg.entry_price_paise,
                        "entry_ts": leg.entry_ts, "stop_paise": leg.stop_paise}
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
                "entries_blocked": self.entries_blocked}

    def _adopt(self, symbol: str) -> None:
        """After replaying a symbol's processed bars: its saved legs (what was sent for real)
        and its strategy's saved state are authoritative."""
        saved = self._saved
        self._pending.pop(symbol, None)
        f = self.feeds[symbol]
        f.ctx.legs.clear()
        f.ctx.position = 0
        for tag, d in (saved.get("legs") or {}).get(symbol, {}).items():
            side = Side(d["side"])
            f.ctx.legs[tag] = Leg(tag, side, int(d["qty"]), int(d["entry_price_paise"]),
                                  int(d["entry_ts"]), d.get("stop_paise"))
            f.ctx.position += d["qty"] if side is Side.BUY else -d["qty"]
        st = (saved.get("strategy") or {}).get(symbol)
        if st:
            f.strategy.state = st
        if symbol in (saved.get("last_bar") or {}):
            self.last_bar[symbol] = max(self.last_bar.get(symbol, -1),
                                        int(saved["last_bar"][symbol]))
