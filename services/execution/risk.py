"""Pre-trade risk: every order passes `check()` before a row is written or a broker is called.

The rules are pure functions of (limits, order, instrument, market, account state) so each can be
tripped by a unit test; the two stateful ones — the orders-per-second throttle and the
duplicate-order guard — live in Redis so every replica shares them. A rejection raises
`RiskRejected` (FAILED_PRECONDITION) or `InvalidInput` (malformed for the instrument), and the
caller writes it to audit_logs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis

from mandi.core.calendar import is_market_open
from mandi.core.errors import InvalidInput, PreconditionFailed, RateLimited
from mandi.platform.ratelimit import TokenBucket
from services.execution.accounts import RiskLimits
from services.execution.instruments import InstrumentInfo
from services.execution.orders import OrderSpec

# SEBI retail-algo framework (from 1 April 2026): above 10 orders/s per exchange segment an
# algo must be registered. The governor keeps each account strictly below that.
SEBI_OPS_THRESHOLD = 10
SEGMENT_GOVERNOR_OPS = SEBI_OPS_THRESHOLD - 1
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
    """Orders per second per account, and the SEBI governor per account and exchange segment.

    Both buckets are asked at once (two Redis calls in flight, one round trip of latency); a
    token taken from one bucket when the other refuses is simply lost, which errs on the side
    of fewer orders."""

    def __init__(self, redis: aioredis.Redis, prefix: str = "mandi:exec") -> None:
        self.redis = redis
        self.prefix = prefix
        self._buckets: dict[tuple[str, int], TokenBucket] = {}

    def _bucket(self, key: str, rate: int) -> TokenBucket:
        bucket = self._buckets.get((key, rate))
        if bucket is None:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            bucket = TokenBucket(self.redis, key, rate, rate)
            self._buckets[(key, rate)] = bucket
        return bucket

    async def take(self, account_id: str, exchange: str, limits: RiskLimits,
                   n: int = 1) -> None:
        rate = limits.max_orders_per_second
        account = self._bucket(f"{self.prefix}:ops:{account_id}", rate)
        gov = self._bucket(f"{self.prefix}:sebi:{account_id}:{exchange}", SEGMENT_GOVERNOR_OPS)
        (ok_account, wait_a), (ok_gov, wait_g) = await asyncio.gather(
            account.try_acquire(min(n, rate)), gov.try_acquire(min(n, SEGMENT_GOVERNOR_OPS)))
        if not ok_account:
            raise RateLimited(f"more than {rate} orders/s for account {account_id}; retry in "
                              f"{wait_a:.2f}s", field="max_orders_per_second")
        if not ok_gov:
            raise RateLimited(f"SEBI governor: {exchange} orders/s must stay below "
                              f"{SEBI_OPS_THRESHOLD}; retry in {wait_g:.2f}s", field="sebi_ops")


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
