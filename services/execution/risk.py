"""Pre-trade risk: every order passes `check()` before a row is written or a broker is called.

The rules are pure functions of (limits, order, instrument, market, account state) so each can be
tripped by a unit test: emergency stop, daily loss (realized net P&L plus open mark-to-market),
order windows (order_windows.py: pre-open, AMO windows, MIS cut-off; all off when the account's
enforce_market_hours is false), size and value caps, the price collar, open positions, the
per-position and the aggregate (all positions) capital caps. Stock options never go to the
broker as MARKET/SL-M (`protect_stock_option`). The two stateful rules — the orders-per-second
throttle and the duplicate-order guard — live in Redis so every replica shares them. A
rejection raises `RiskRejected` (FAILED_PRECONDITION) or `InvalidInput` (malformed for the
instrument), and the caller writes it to audit_logs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import redis.asyncio as aioredis

from mandi.core.errors import InvalidInput, PreconditionFailed
from mandi.platform.ratelimit import SlidingWindowLimiter
from services.execution import order_windows
from services.execution.accounts import RiskLimits
from services.execution.instruments import InstrumentInfo
from services.execution.orders import OrderSpec

# SEBI retail-algo framework (from 1 April 2026): above 10 orders/s per exchange segment an
# algo must be registered. The governor keeps each account strictly below that: at most 9
# order requests (placements, modifications, cancellations) in any rolling second.
SEBI_OPS_THRESHOLD = 10
SEGMENT_GOVERNOR_OPS = SEBI_OPS_THRESHOLD - 1
# The governor's window is a quarter second longer than the exchange's: it decides by Redis'
# clock when a request may leave, the exchange counts when it arrives, and a request delayed on
# its way must not land inside the second of the ones sent after it (seen at kitesim: 10 in one
# second from a 9-per-1.0 s governor).
SEGMENT_GOVERNOR_WINDOW_S = 1.25
THROTTLE_CHANGE_WAIT_S = 5.0  # how long a modify/cancel may wait for its slot
DUPLICATE_WINDOW_S = 10
# Kite rejects MARKET/SL-M orders without market protection (from April 2026); Mandi sends this
# percent unless the order names its own.
DEFAULT_MARKET_PROTECTION_PCT = 2


class RiskRejected(PreconditionFailed):
    """An order a risk rule refused; `rule` names the rule for the audit log."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, field=rule)
        self.rule = rule


@dataclass(frozen=True)
class AccountState:
    emergency_stop: bool = False
    trading_blocked: bool = False
    realized_today_paise: int = 0          # net of charges; negative is a loss
    unrealized_paise: int = 0              # open positions marked to market; negative a loss
    open_positions: int = 0
    position_qty: int = 0                  # signed open quantity in this instrument/product
    position_cost_paise: int = 0           # |entry value| of that position
    total_cost_paise: int = 0              # |entry value| of every open position

    @property
    def day_loss_paise(self) -> int:
        """The day's loss so far: realized (net) plus open mark-to-market; > 0 is a loss."""
        return -(self.realized_today_paise + self.unrealized_paise)


def daily_loss_hit(loss_paise: int, limit_paise: int) -> bool:
    """The latch: trading stops once the day's loss reaches the limit."""
    return loss_paise >= limit_paise


def reduces_position(spec: OrderSpec, state: AccountState) -> bool:
    """True when the order only shrinks an existing position (exits stay allowed when blocked)."""
    q = state.position_qty
    if q == 0:
        return False
    closing = (q > 0 and spec.side == "SELL") or (q < 0 and spec.side == "BUY")
    return closing and spec.quantity <= abs(q)


def check_instrument(spec: OrderSpec, inst: InstrumentInfo) -> None:
    """Lot multiples and tick alignment: the request is wrong for this instrument."""
    if inst.lot_size > 1 and spec.quantity % inst.lot_size:
        raise InvalidInput(f"quantity {spec.quantity} is not a multiple of the lot size "
                           f"{inst.lot_size} of {inst.tradingsymbol}", field="quantity")
    for name in ("price_paise", "trigger_price_paise", "stop_loss_paise", "target_paise"):
        value = getattr(spec, name)
        if value and value % inst.tick_paise:
            raise InvalidInput(f"{name.removesuffix('_paise')} {value / 100:.2f} is not a "
                               f"multiple of the tick size {inst.tick_paise / 100:.2f}",
                               field=name.removesuffix("_paise"))
    dq = spec.disclosed_quantity
    if dq and inst.is_derivative:
        raise InvalidInput("disclosed_quantity is not allowed in F&O", field="disclosed_quantity")
    if dq and dq * 10 < spec.quantity:
        raise InvalidInput(f"disclosed_quantity {dq} is below 10% of the quantity "
                           f"{spec.quantity}", field="disclosed_quantity")


def protection_pct(market_protection: float) -> float:
    """The percent Mandi applies: the order's own, else the default (also for Kite's -1)."""
    return market_protection if market_protection > 0 else DEFAULT_MARKET_PROTECTION_PCT


def protected_limit_price(side: str, ref_paise: int, pct: float, tick: int) -> int:
    """A LIMIT price `pct` % through `ref` on the order's side, on the tick and never beyond
    the protection: a buy rounds down from ref·(1+pct), a sell rounds up from ref·(1−pct)."""
    bps = round(pct * 100)
    if side == "BUY":
        raw = ref_paise * (10_000 + bps) // 10_000
        return max(tick, raw // tick * tick)
    raw = -(-ref_paise * (10_000 - bps) // 10_000)
    return max(tick, -(-raw // tick) * tick)


def protect_stock_option(spec: OrderSpec, inst: InstrumentInfo, ltp_paise: int) -> OrderSpec:
    """Zerodha blocks MARKET and SL-M orders on stock options. Mandi turns a MARKET order into a
    LIMIT at LTP ± protection and an SL-M into an SL at trigger ± protection (on the tick); the
    row keeps the percent in market_protection to say it was converted."""
    if not inst.is_stock_option or spec.order_type not in ("MARKET", "SL-M"):
        return spec
    pct = protection_pct(spec.market_protection)
    if spec.order_type == "SL-M":
        price = protected_limit_price(spec.side, spec.trigger_price_paise, pct, inst.tick_paise)
        return replace(spec, order_type="SL", price_paise=price, market_protection=pct)
    if ltp_paise <= 0:
        raise RiskRejected("stock_option_market", f"{inst.tradingsymbol}: MARKET orders on stock "
                           "options become protected LIMIT orders, which need a last price, "
                           "and there is none; place a LIMIT order")
    price = protected_limit_price(spec.side, ltp_paise, pct, inst.tick_paise)
    return replace(spec, order_type="LIMIT", price_paise=price, market_protection=pct)


def check(spec: OrderSpec, limits: RiskLimits, inst: InstrumentInfo, state: AccountState, *,
          last_price_paise: int, now: datetime) -> None:
    """All stateless rules, in the order an operator would want to read the rejection."""
    check_instrument(spec, inst)
    if state.emergency_stop:
        raise RiskRejected("emergency_stop", "trading is halted by an emergency stop; an "
                           "admin must reset it")
    reducing = reduces_position(spec, state)
    if state.trading_blocked and not reducing:
        raise RiskRejected("daily_loss_limit", "the daily loss limit was hit; new positions "
                           "are blocked for the rest of the day")
    if daily_loss_hit(state.day_loss_paise, limits.daily_loss_limit_paise) and not reducing:
        raise RiskRejected("daily_loss_limit",
                           f"daily loss {state.day_loss_paise / 100:.2f} (realized "
                           f"{state.realized_today_paise / 100:.2f}, open "
                           f"{state.unrealized_paise / 100:.2f}) has reached the limit "
                           f"{limits.daily_loss_limit_paise / 100:.2f}")
    if limits.enforce_market_hours:
        refused = order_windows.refusal(variety=spec.variety, product=spec.product,
                                        derivative=inst.is_derivative, reducing=reducing,
                                        now=now)
        if refused is not None:
            raise RiskRejected(*refused)
    if spec.quantity > limits.max_order_quantity:
        raise RiskRejected("max_order_quantity", f"quantity {spec.quantity} exceeds the "
                           f"limit {limits.max_order_quantity}")
    ref = spec.price_paise or spec.trigger_price_paise or last_price_paise
    value = ref * spec.quantity
    if value > limits.max_order_value_paise:
        raise RiskRejected("max_order_value", f"order value {value / 100:.2f} exceeds the "
                           f"limit {limits.max_order_value_paise / 100:.2f}")
    if last_price_paise > 0:
        for name in ("price_paise", "trigger_price_paise"):
            px = getattr(spec, name)
            if px and abs(px - last_price_paise) * 100 > limits.price_collar_pct * \
                    last_price_paise:
                raise RiskRejected("price_collar", f"{name.removesuffix('_paise')} "
                                   f"{px / 100:.2f} is more than {limits.price_collar_pct:g}% "
                                   f"from the last price {last_price_paise / 100:.2f}")
    if reducing:
        return
    if state.position_qty == 0 and state.open_positions >= limits.max_open_positions:
        raise RiskRejected("max_open_positions", f"{state.open_positions} positions are open; "
                           f"the limit is {limits.max_open_positions}")
    same_side = (state.position_qty >= 0) == (spec.side == "BUY")
    exposure = (state.position_cost_paise if same_side else 0) + value
    if exposure > limits.max_capital_per_position_paise:
        raise RiskRejected("max_capital_per_position", f"position value {exposure / 100:.2f} "
                           f"would exceed {limits.max_capital_per_position_paise / 100:.2f}")
    total = state.total_cost_paise + value
    if total > limits.max_total_exposure_paise:
        raise RiskRejected("max_total_exposure", f"capital deployed {total / 100:.2f} "
                           f"(open positions {state.total_cost_paise / 100:.2f} + this order "
                           f"{value / 100:.2f}) would exceed "
                           f"{limits.max_total_exposure_paise / 100:.2f}")


def slices(quantity: int, inst: InstrumentInfo) -> list[int]:
    """Freeze-quantity slicing: quantities of the child orders (each a lot multiple)."""
    freeze = inst.freeze_qty
    if freeze is None or quantity <= freeze:
        return [quantity]
    step = freeze - freeze % inst.lot_size if inst.lot_size > 1 else freeze
    out = [step] * (quantity // step)
    if quantity % step:
        out.append(quantity % step)
    return out


class Throttle:
    """Orders per second per account (a sliding second), and the SEBI governor per account and
    exchange segment (9 per sliding SEGMENT_GOVERNOR_WINDOW_S), shared through Redis by every
    replica.

    One Redis script decides both at once, all or nothing, so an order the governor refuses
    never uses up the account's allowance (or the other way round). Placements are refused at
    once when over (a risk rule, audited by the caller); modifications and cancellations count
    the same but wait for a slot, up to `change_wait_s`, because refusing a cancel is worse
    than delaying it."""

    def __init__(self, redis: aioredis.Redis, prefix: str = "mandi:exec", *,
                 change_wait_s: float = THROTTLE_CHANGE_WAIT_S) -> None:
        self.redis = redis
        self.prefix = prefix
        self.change_wait_s = change_wait_s
        self._limiters: dict[tuple[str, str, int], SlidingWindowLimiter] = {}

    def _limiter(self, account_id: str, exchange: str, rate: int) -> SlidingWindowLimiter:
        lim = self._limiters.get((account_id, exchange, rate))
        if lim is None:
            if len(self._limiters) > 100_000:
                self._limiters.clear()
            lim = SlidingWindowLimiter(self.redis, {
                self._account_key(account_id): ((rate, 1.0),),
                self._governor_key(account_id, exchange): (
                    (SEGMENT_GOVERNOR_OPS, SEGMENT_GOVERNOR_WINDOW_S),)})
            self._limiters[(account_id, exchange, rate)] = lim
        return lim

    def _account_key(self, account_id: str) -> str:
        return f"{self.prefix}:ops:sliding:{account_id}"

    def _governor_key(self, account_id: str, exchange: str) -> str:
        return f"{self.prefix}:sebi:sliding:{account_id}:{exchange}"

    async def take(self, account_id: str, exchange: str, limits: RiskLimits, n: int = 1, *,
                   timeout_s: float = 0.0) -> None:
        """Take `n` order requests (a sliced order's children) from both limits, waiting at
        most `timeout_s` for the first window's worth; RateLimited names the limit that
        refused. Children beyond what one window allows are an accepted order being paced:
        each further window's worth waits up to `change_wait_s`."""
        rate = limits.max_orders_per_second
        if rate < 1:
            raise InvalidInput(f"max_orders_per_second must be ≥ 1, got {rate}",
                               field="max_orders_per_second")
        lim = self._limiter(account_id, exchange, rate)
        fields = {self._account_key(account_id): "max_orders_per_second",
                  self._governor_key(account_id, exchange): "sebi_ops"}
        message = {self._account_key(account_id): f"more than {rate} orders/s for account "
                                                   f"{account_id}",
                   self._governor_key(account_id, exchange): f"SEBI governor: {exchange} "
                   f"orders/s must stay below {SEBI_OPS_THRESHOLD}"}
        wait = timeout_s
        while n > 0:  # more children than one window allows: take them a window at a time
            step = min(n, lim.max_n)
            await lim.acquire(step, timeout_s=wait, field=fields, message=message)
            n -= step
            wait = max(timeout_s, self.change_wait_s)

    async def take_change(self, account_id: str, exchange: str, limits: RiskLimits) -> None:
        """A modification or cancellation: counted like an order, waiting for its slot."""
        await self.take(account_id, exchange, limits, timeout_s=self.change_wait_s)


class DuplicateGuard:
    """Refuses the same instrument/side/quantity within a window under a different
    client_order_id (a retried client_order_id is idempotency, not a duplicate)."""

    def __init__(self, redis: aioredis.Redis, prefix: str = "mandi:exec",
                 window_s: int = DUPLICATE_WINDOW_S) -> None:
        self.redis = redis
        self.prefix = prefix
        self.window_s = window_s

    async def claim(self, account_id: str, spec: OrderSpec) -> None:
        key = (f"{self.prefix}:dup:{account_id}:{spec.exchange}:{spec.tradingsymbol}:"
               f"{spec.side}:{spec.quantity}")
        ok = await self.redis.set(key, spec.client_order_id, nx=True, ex=self.window_s)
        if ok:
            return
        holder = await self.redis.get(key)
        if holder == spec.client_order_id:
            return
        raise RiskRejected("duplicate_order", f"the same order ({spec.side} {spec.quantity} "
                           f"{spec.exchange}:{spec.tradingsymbol}) was placed within "
                           f"{self.window_s}s; set allow_duplicate to place it again")
