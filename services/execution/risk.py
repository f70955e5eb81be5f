"""Pre-trade risk: every order passes `check()` before a row is written or a broker is called.

The rules are pure functions of (limits, order, instrument, market, account state) so each can be
tripped by a unit test; the two stateful ones — the orders-per-second throttle and the
duplicate-order guard — live in Redis so every replica shares them. A rejection raises
`RiskRejected` (FAILED_PRECONDITION) or `InvalidInput` (malformed for the instrument), and the
caller writes it to audit_logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis

from mandi.core.calendar import is_market_open
from mandi.core.errors import InvalidInput, PreconditionFailed
from mandi.platform.ratelimit import SlidingWindowLimiter
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
    open_positions: int = 0
    position_qty: int = 0                  # signed open quantity in this instrument/product
    position_cost_paise: int = 0           # |entry value| of that position


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
    if -state.realized_today_paise >= limits.daily_loss_limit_paise and not reducing:
        raise RiskRejected("daily_loss_limit",
                           f"daily loss {-state.realized_today_paise / 100:.2f} has reached "
                           f"the limit {limits.daily_loss_limit_paise / 100:.2f}")
    if limits.enforce_market_hours and spec.variety != "amo" and not is_market_open(now):
        raise RiskRejected("market_hours", "the market is closed; use variety amo")
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
