"""Order matching against a bar or a quote, with slippage: shared by backtester and paper broker.

Pure functions on integer paise. Conventions (documented once, used everywhere):

* Market orders fill at the reference price (the bar's open, or its close when asked, or the
  quote's ask/bid) moved against the trader by the slippage.
* Limit orders fill at the limit or better, without slippage; a bar that opens through the limit
  fills at the open.
* Stop-market (SL-M) orders trigger when the bar trades through the trigger; they fill at the
  trigger, or at the open when the bar gaps through it, plus slippage.
* Protective exits (`exit_on_bar`): when one bar touches both the stop and the target we assume
  the stop was hit first (the conservative reading of an OHLC bar).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Literal

from mandi.core.charges import Side
from mandi.core.errors import InvalidInput


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"  # stop-limit
    SL_M = "SL-M"  # stop-market


@dataclass(frozen=True, slots=True)
class Slippage:
    """Adverse price move on market-like fills: `bps` basis points then `ticks` whole ticks.

    With bps > 0 the moved price is rounded to the tick away from the trader (buy up, sell down).
    """

    bps: Fraction = Fraction(0)
    ticks: int = 0
    tick_paise: int = 5

    def __init__(self, bps: Fraction | int | str | float = 0, ticks: int = 0,
                 tick_paise: int = 5) -> None:
        try:
            b = Fraction(str(bps)) if isinstance(bps, float) else Fraction(bps)
        except (ValueError, TypeError):
            raise InvalidInput(f"slippage bps must be a number, got {bps!r}",
                               field="slippage_bps") from None
        if b < 0:
            raise InvalidInput("slippage bps must be >= 0", field="slippage_bps")
        if not isinstance(ticks, int) or ticks < 0:
            raise InvalidInput("slippage ticks must be an integer >= 0", field="slippage_ticks")
        if not isinstance(tick_paise, int) or tick_paise <= 0:
            raise InvalidInput("tick size must be a positive integer of paise", field="tick_paise")
        object.__setattr__(self, "bps", b)
        object.__setattr__(self, "ticks", ticks)
        object.__setattr__(self, "tick_paise", tick_paise)

    def apply(self, price_paise: int, side: Side) -> int:
        return slip(price_paise, side is Side.BUY, self.bps.numerator, self.bps.denominator,
                    self.ticks, self.tick_paise)


def slip(price: int, is_buy: bool, bps_num: int, bps_den: int, ticks: int, tick: int) -> int:
    """Integer slippage kernel (also compiled by the fast path; keep it numba-friendly)."""
    if bps_num > 0:
        den = 10_000 * bps_den * tick
        if is_buy:
            price = -((-price * (10_000 * bps_den + bps_num)) // den) * tick
        else:
            price = (price * (10_000 * bps_den - bps_num)) // den * tick
    return price + ticks * tick if is_buy else max(price - ticks * tick, 0)


@dataclass(frozen=True, slots=True)
class Order:
    side: Side
    qty: int
    order_type: OrderType = OrderType.MARKET
    limit_paise: int | None = None
    trigger_paise: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.qty, int) or self.qty <= 0:
            raise InvalidInput("quantity must be a positive integer", field="qty")
        if self.order_type in (OrderType.LIMIT, OrderType.SL) and self.limit_paise is None:
            raise InvalidInput(f"{self.order_type} order needs a limit price", field="limit_paise")
        if self.order_type in (OrderType.SL, OrderType.SL_M) and self.trigger_paise is None:
            raise InvalidInput(f"{self.order_type} order needs a trigger price",
                               field="trigger_paise")


@dataclass(frozen=True, slots=True)
class BarPrices:
    open: int
    high: int
    low: int
    close: int


@dataclass(frozen=True, slots=True)
class Quote:
    bid: int | None = None
    ask: int | None = None
    last: int | None = None


@dataclass(frozen=True, slots=True)
class FillDecision:
    price_paise: int
    qty: int


def _better_or_equal(is_buy: bool, price: int, limit: int) -> bool:
    return price <= limit if is_buy else price >= limit


def match_bar(order: Order, bar: BarPrices, slippage: Slippage,
              at: Literal["open", "close"] = "open") -> FillDecision | None:
    """Decide whether (and at what price) `order` fills within `bar`."""
    buy = order.side is Side.BUY
    if order.order_type is OrderType.MARKET:
        ref = bar.open if at == "open" else bar.close
        return FillDecision(slippage.apply(ref, order.side), order.qty)
    if order.order_type is OrderType.LIMIT:
        lim = order.limit_paise
        if _better_or_equal(buy, bar.open, lim):
            return FillDecision(bar.open, order.qty)
        if (bar.low <= lim) if buy else (bar.high >= lim):
            return FillDecision(lim, order.qty)
        return None
    trig = order.trigger_paise
    if buy:
        gap, touched = bar.open >= trig, bar.high >= trig
    else:
        gap, touched = bar.open <= trig, bar.low <= trig
    if not touched:
        return None
    px = bar.open if gap else trig
    if order.order_type is OrderType.SL_M:
        return FillDecision(slippage.apply(px, order.side), order.qty)
    lim = order.limit_paise  # stop-limit: after triggering it rests as a limit order
    if _better_or_equal(buy, px, lim):
        return FillDecision(px, order.qty)
    if (bar.low <= lim) if buy else (bar.high >= lim):
        return FillDecision(lim, order.qty)
    return None


def match_quote(order: Order, quote: Quote, slippage: Slippage, *,
                resting: bool = False) -> FillDecision | None:
    """Paper-broker matching against a live quote; falls back to `last` without a book side.

    A limit order that is marketable on arrival fills at the touch (the ask for a buy: price
    improvement, never the last price). A limit order already resting in the book (`resting`)
    fills at its own limit once the touch reaches it, as the exchange fills a resting order at
    its price — so a paper LIMIT buy that waited fills where Kite's would."""
    buy = order.side is Side.BUY
    touch = (quote.ask if buy else quote.bid)
    touch = touch if touch is not None else quote.last
    if touch is None:
        return None
    if order.order_type is OrderType.MARKET:
        return FillDecision(slippage.apply(touch, order.side), order.qty)
    if order.order_type is OrderType.LIMIT:
        ok = _better_or_equal(buy, touch, order.limit_paise)
        if not ok:
            return None
        return FillDecision(order.limit_paise if resting else touch, order.qty)
    last = quote.last if quote.last is not None else touch
    triggered = last >= order.trigger_paise if buy else last <= order.trigger_paise
    if not triggered:
        return None
    if order.order_type is OrderType.SL_M:
        return FillDecision(slippage.apply(touch, order.side), order.qty)
    ok = _better_or_equal(buy, touch, order.limit_paise)
    return FillDecision(touch, order.qty) if ok else None


def exit_on_bar(long: bool, stop: int | None, target: int | None, bar: BarPrices,
                slippage: Slippage) -> tuple[int, str] | None:
    """Protective exit of an open position within `bar`: (price, "stop" | "target") or None.

    Gaps fill at the open. Stop and target both inside the bar → the stop (conservative).
    """
    o, h, lo = bar.open, bar.high, bar.low
    exit_side = Side.SELL if long else Side.BUY
    if stop is not None:
        if (o <= stop) if long else (o >= stop):
            return slippage.apply(o, exit_side), "stop"
    if target is not None:
        if (o >= target) if long else (o <= target):
            return o, "target"
    if stop is not None and ((lo <= stop) if long else (h >= stop)):
        return slippage.apply(stop, exit_side), "stop"
    if target is not None and ((h >= target) if long else (lo <= target)):
        return target, "target"
    return None


def pct_level(entry_paise: int, pct: float, up: bool, tick_paise: int) -> int:
    """entry × (1 ± pct/100) rounded to the nearest tick (half-up): stop and target levels."""
    f = 1.0 + pct / 100.0 if up else 1.0 - pct / 100.0
    raw = int(entry_paise * f / tick_paise + 0.5)
    return raw * tick_paise


def trail_stop(prev_stop: int | None, highest_paise: int, pct: float, tick_paise: int) -> int:
    """Long trailing stop: highest × (1 − pct%), to the tick, never below the previous stop and
    never above the highest (nearest-tick rounding could lift it over an off-tick high)."""
    new = min(pct_level(highest_paise, pct, up=False, tick_paise=tick_paise),
              highest_paise // tick_paise * tick_paise)
    return new if prev_stop is None or new > prev_stop else prev_stop
