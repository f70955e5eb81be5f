"""The order path: validate → idempotency → risk → persist PENDING → broker → ack.

Idempotency is the unique (account_id, client_order_id) row: whichever request (or replica)
inserts it is the only one that calls the broker; every other caller gets the stored order back
with `duplicate = True`. The row is committed *before* the broker call, so a crash between the
broker's ack and our update leaves a PENDING row whose tag reconciliation finds at the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions

from mandi.core.clock import Clock, to_ist
from mandi.core.errors import (
    AlreadyExists,
    AuthError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    RateLimited,
    TemporaryError,
)
from mandi.platform.retry import backoff_delay
from services.execution import metrics, risk
from services.execution.accounts import LIMIT_COLUMNS, Account, AccountStore, RiskLimits
from services.execution.brokers.base import Broker, BrokerOrderRequest
from services.execution.events import EventBus
from services.execution.instruments import InstrumentCache, InstrumentInfo
from services.execution.ledger import audit
from services.execution.orders import (
    OPEN,
    PENDING,
    REJECTED,
    TERMINAL,
    WORKING,
    OrderRepo,
    OrderSpec,
    validate_spec,
)

log = logging.getLogger(__name__)

PREFLIGHT = """
SELECT r.*, a.emergency_stop,
       (SELECT order_id FROM orders o WHERE o.account_id = $1 AND o.client_order_id = $2)
         AS existing,
       d.realized_pnl_paise AS realized, d.trading_blocked AS blocked,
       agg.n AS open_positions, agg.cost AS total_cost, agg.unrealized,
       p.quantity AS qty, p.cost_paise AS cost
FROM accounts a JOIN risk_limits r USING (account_id)
CROSS JOIN LATERAL (
  SELECT count(*) AS n, coalesce(sum(cost_paise), 0) AS cost,
         coalesce(sum(CASE WHEN last_price_paise > 0 THEN quantity * last_price_paise
                           - sign(quantity) * cost_paise ELSE 0 END), 0) AS unrealized
  FROM positions WHERE account_id = $1 AND status = 'open') agg
LEFT JOIN daily_stats d ON d.account_id = a.account_id AND d.date = $3
LEFT JOIN positions p ON p.account_id = a.account_id AND p.status = 'open'
     AND p.exchange = $4 AND p.tradingsymbol = $5 AND p.product = $6
WHERE a.account_id = $1"""

ACK = """
WITH u AS (
  UPDATE orders SET status = 'OPEN', broker_status = 'ACKED', broker_order_id = $3,
         updated_at = $4
  WHERE account_id = $1 AND order_id = $2 AND status = 'PENDING' RETURNING *),
e AS (
  INSERT INTO order_events (order_id, account_id, status, broker_status, message, ts)
  SELECT order_id, account_id, 'OPEN', 'ACKED', 'acknowledged by the broker', $4 FROM u)
SELECT * FROM u"""

LTP_TTL_S = 1.0
BROKER_429_RETRIES = 5  # the broker's 429 on a placement: sent again this many times at most
BROKER_429_BACKOFF_S = 0.25  # full jitter: uniform in [0, 0.25 · 2^attempt], at most 2 s
# An order is written only if the broker's own order window (Kite's 10/s, 400/min per API key,
# shared through Redis) has a slot within this; well inside the placement's 5 s wait, so the
# orders that pass together still get theirs (services.execution.brokers.kite_limits.room).
ORDER_ROOM_S = 2.0
PROTECTED_TYPES = ("MARKET", "SL-M")  # Kite wants market_protection on these (April 2026)


_IDEMPOTENT_FIELDS = ("exchange", "tradingsymbol", "side", "order_type", "product",
                      "price_paise", "trigger_price_paise")


def _same_request(row: Any, spec: OrderSpec) -> None:
    """A retried client_order_id must describe the same order; reusing the key for another
    order is a client bug that must not silently return the first one."""
    fields = _IDEMPOTENT_FIELDS
    if row["market_protection"] and row["order_type"] not in PROTECTED_TYPES:
        # a stock-option MARKET/SL-M stored as the protected LIMIT/SL it was turned into
        fields = tuple(f for f in fields if f not in ("order_type", "price_paise"))
    differs = [f for f in fields if row[f] != getattr(spec, f)]
    if row["parent_order_id"] is None and row["quantity"] != spec.quantity and \
            row["purpose"] == spec.purpose:
        differs.append("quantity")
    if differs:
        raise AlreadyExists(f"client_order_id {spec.client_order_id!r} was already used for "
                            f"a different order ({', '.join(differs)} differ)",
                            field="client_order_id")


class BrokerRegistry:
    """One broker object per account, built by `factory` from the account (its kind and its own
    credentials: a paper account has no order-capable Kite client at all)."""

    def __init__(self, factory: Callable[[Account], Broker], *,
                 instruments_key: Callable[[Account], str] | None = None) -> None:
        self._factory = factory
        self._brokers: dict[str, Broker] = {}
        # accounts whose brokers read the same instrument list (the same Kite app) share one
        # cache of it; by default each account has its own
        self.instruments_key = instruments_key or (lambda a: a.account_id)

    def get(self, account: Account) -> Broker:
        broker = self._brokers.get(account.account_id)
        if broker is None:
            broker = self._factory(account)
            self._brokers[account.account_id] = broker
        return broker

    def drop(self, account_id: str) -> None:
        self._brokers.pop(account_id, None)

    async def close(self) -> None:
        for broker in self._brokers.values():
            await broker.close()
        self._brokers.clear()


class Engine:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, clock: Clock,
                 accounts: AccountStore, brokers: BrokerRegistry, events: EventBus, *,
                 fault: Callable[[str], None] | None = None,
                 redis_prefix: str = "mandi:exec",
                 relaxed_pool: asyncpg.Pool | None = None) -> None:
        self.pool = pool
        # Writes that reconciliation can rebuild (the broker ack) may skip the WAL flush wait
        # (synchronous_commit=off); the PENDING insert before the broker call never does.
        self.relaxed_pool = relaxed_pool or pool
        self.redis = redis
        self.redis_prefix = redis_prefix
        self.clock = clock
        self.accounts = accounts
        self.brokers = brokers
        self.events = events
        self.throttle = risk.Throttle(redis, redis_prefix)
        self.dup_guard = risk.DuplicateGuard(redis, redis_prefix)
        self._instruments: dict[str, InstrumentCache] = {}
        self._ltp: dict[tuple[str, str], tuple[float, int]] = {}
        self._accounts: dict[str, Account] = {}
        self.seen_orders: dict[tuple[str, str], tuple[str, int]] = {}
        self.mtm_at: dict[str, float] = {}
        self.mtm_interval_s = 3.0  # one batched quote call per account per interval
        self.ltp_ttl_s = LTP_TTL_S
        self._fault = fault or (lambda point: None)
        self.broker_429s = 0  # placements the broker refused with 429 and we sent again

    # --- lookups ---------------------------------------------------------------------------
    async def account(self, account_id: str) -> tuple[Account, Broker]:
        account = await self.accounts.get(account_id)
        return account, self.brokers.get(account)

    async def instrument(self, account: Account, exchange: str, symbol: str) -> InstrumentInfo:
        key = self.brokers.instruments_key(account)
        cache = self._instruments.get(key)
        if cache is None:
            cache = InstrumentCache(self.brokers.get(account).instruments)
            self._instruments[key] = cache
        return await cache.get(exchange, symbol)

    def forget_instruments(self, account: Account) -> None:
        self._instruments.pop(self.brokers.instruments_key(account), None)

    def remember_prices(self, prices: dict[str, int]) -> None:
        now = time.monotonic()
        for key, price in prices.items():
            exchange, _, symbol = key.partition(":")
            self._ltp[(exchange, symbol)] = (now, price)

    def recent_price(self, exchange: str, symbol: str, max_age_s: float) -> int | None:
        hit = self._ltp.get((exchange, symbol))
        if hit is None or time.monotonic() - hit[0] > max_age_s:
            return None
        return hit[1]

    async def last_price(self, account: Account, exchange: str, symbol: str) -> int:
        key = (exchange, symbol)
        hit = self._ltp.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ltp_ttl_s:
            return hit[1]
        quotes = await self.brokers.get(account).quotes([f"{exchange}:{symbol}"])
        q = quotes.get(f"{exchange}:{symbol}")
        price = q.last_paise if q is not None else 0
        self._ltp[key] = (time.monotonic(), price)
        return price

    async def _cached(self, account_id: str) -> tuple[Account, Broker]:
        """The account as far as building its broker goes (flags are read fresh per order)."""
        account = self._accounts.get(account_id)
        if account is None:
            account = await self.accounts.get(account_id)
            self._accounts[account_id] = account
        return account, self.brokers.get(account)

    # --- place -----------------------------------------------------------------------------
    async def place(self, account_id: str, spec: OrderSpec, *, actor: str = "api",
                    skip_risk: bool = False) -> tuple[Any, bool]:
        """Place `spec`; returns (order row, duplicate). An expired broker session is an
        AuthError (and marks the account's session expired), never a retry.

        The hot path is a handful of round trips: one preflight query (account, limits,
        idempotency hit, risk state), the Redis throttle, one INSERT (order + event), the
        broker call, one UPDATE (ack + event)."""
        try:
            return await self._place(account_id, spec, actor=actor, skip_risk=skip_risk)
        except AuthError:
            await self.accounts.set_session_state(account_id, "expired")
            raise

    async def _place(self, account_id: str, spec: OrderSpec, *, actor: str,
                     skip_risk: bool) -> tuple[Any, bool]:
        validate_spec(spec)
        today = to_ist(self.clock.now()).date()
        account, broker = await self._cached(account_id)
        # One connection from preflight to insert; nothing inside may take a second one from
        # the pool (under load that is how pools deadlock), so the audit uses this one too.
        async with self.pool.acquire() as conn:
            pre = await conn.fetchrow(
                PREFLIGHT, account_id, spec.client_order_id, today, spec.exchange,
                spec.tradingsymbol, spec.product)
            if pre is None:
                raise NotFound(f"no account {account_id!r}", field="account_id")
            if pre["existing"] is not None:
                existing = await OrderRepo.get(conn, account_id, pre["existing"])
                _same_request(existing, spec)
                return existing, True
            if broker.capabilities.session:
                await broker.check_session()  # a dead session: refused before any slot or row
            inst = await self.instrument(account, spec.exchange, spec.tradingsymbol)
            if inst.is_stock_option and spec.order_type in PROTECTED_TYPES:
                ltp = await self.last_price(account, spec.exchange, spec.tradingsymbol) \
                    if spec.order_type == "MARKET" else 0
                spec = risk.protect_stock_option(spec, inst, ltp)
            limits = RiskLimits(**{c: pre[c] for c in LIMIT_COLUMNS})
            qtys = risk.slices(spec.quantity, inst)
            if not skip_risk:
                state = risk.AccountState(
                    emergency_stop=pre["emergency_stop"], trading_blocked=bool(pre["blocked"]),
                    realized_today_paise=pre["realized"] or 0,
                    unrealized_paise=int(pre["unrealized"]),
                    open_positions=pre["open_positions"], position_qty=pre["qty"] or 0,
                    position_cost_paise=pre["cost"] or 0, total_cost_paise=int(pre["total_cost"]))
                await self._pre_trade(conn, account, broker, spec, inst, limits, state,
                                      len(qtys), actor)
            now = self.clock.now()
            if len(qtys) == 1:
                row = await OrderRepo.insert_row(conn, account_id, spec, now=now)
                if row is None:  # lost the race to a concurrent request with the same id
                    return await OrderRepo.by_client_id(conn, account_id,
                                                        spec.client_order_id), True
                kids = None
            else:
                async with conn.transaction():
                    row = await OrderRepo.insert_row(conn, account_id, spec, now=now)
                    if row is None:
                        return await OrderRepo.by_client_id(conn, account_id,
                                                            spec.client_order_id), True
                    kids = []
                    for i, q in enumerate(qtys, 1):
                        child = replace(spec, client_order_id=f"{spec.client_order_id}/{i}",
                                        quantity=q)
                        kids.append(await OrderRepo.insert_row(
                            conn, account_id, child, now=now, parent_order_id=row["order_id"]))
        if kids is None:
            return await self.submit(account, broker, row, limits), False
        for kid in kids:
            await self.submit(account, broker, kid, limits)
        await self.refresh_parent(account_id, row["order_id"])
        return await OrderRepo.get(self.pool, account_id, row["order_id"]), False

    async def _pre_trade(self, conn: Any, account: Account, broker: Broker, spec: OrderSpec,
                         inst: InstrumentInfo, limits: RiskLimits, state: risk.AccountState,
                         n_orders: int, actor: str) -> None:
        try:
            risk.check_instrument(spec, inst)
            ltp = await self.last_price(account, spec.exchange, spec.tradingsymbol)
            risk.check(spec, limits, inst, state, last_price_paise=ltp, now=self.clock.now())
            # the Redis checks in flight at once: the throttle, the duplicate guard, and for a
            # Kite account a peek at its API key's order window
            checks = [] if spec.allow_duplicate else [self.dup_guard.claim(account.account_id,
                                                                           spec)]
            checks.append(self.throttle.take(account.account_id, spec.exchange, limits, n_orders))
            room = broker.order_room(ORDER_ROOM_S)
            if room is not None:
                checks.append(room)
            if len(checks) == 1:
                await checks[0]
            else:
                for result in await asyncio.gather(*checks, return_exceptions=True):
                    if isinstance(result, BaseException):
                        raise result
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            # The orders/s limit and the SEBI governor live in Redis: without it they cannot be
            # checked, so the order is refused (fail closed), retryably, and audited.
            log.warning("order limits unavailable for %s: %s", account.account_id, exc)
            metrics.rejected("limits_unavailable")
            await audit(conn, account.account_id, actor, "order_rejected",
                        self.clock.now(), rule="limits_unavailable",
                        reason="Redis unreachable: order limits cannot be checked",
                        client_order_id=spec.client_order_id,
                        symbol=f"{spec.exchange}:{spec.tradingsymbol}", side=spec.side,
                        quantity=spec.quantity)
            raise TemporaryError("order limits cannot be checked (Redis unreachable); the "
                                 "order was not placed, retry", field="limits") from None
        except (risk.RiskRejected, RateLimited, InvalidInput) as exc:
            metrics.rejected(exc.field or "")
            await audit(conn, account.account_id, actor, "order_rejected",
                        self.clock.now(), rule=exc.field or "", reason=exc.message,
                        client_order_id=spec.client_order_id,
                        symbol=f"{spec.exchange}:{spec.tradingsymbol}", side=spec.side,
                        quantity=spec.quantity)
            self.events.notify("order_rejected", {
                "account_id": account.account_id, "order_id": spec.client_order_id or "",
                "symbol": spec.tradingsymbol, "exchange": spec.exchange, "side": spec.side,
                "quantity": spec.quantity, "reason": exc.message})
            raise

    async def submit(self, account: Account, broker: Broker, row: Any,
                     limits: RiskLimits | None = None) -> Any:
        """Send a PENDING order to the broker and store the ack (or the rejection); returns
        the order row as stored afterwards."""
        limits = limits or await self.accounts.limits(account.account_id)
        order_id = row["order_id"]
        protection = (row["market_protection"] or risk.DEFAULT_MARKET_PROTECTION_PCT) \
            if row["order_type"] in PROTECTED_TYPES else 0
        req = BrokerOrderRequest(
            tag=row["tag"], exchange=row["exchange"], tradingsymbol=row["tradingsymbol"],
            side=row["side"], quantity=row["quantity"], order_type=row["order_type"],
            product=row["product"], price_paise=row["price_paise"],
            trigger_price_paise=row["trigger_price_paise"], variety=row["variety"],
            validity=row["validity"], algo_id=limits.algo_id, market_protection=protection,
            validity_ttl=row["validity_ttl"], disclosed_quantity=row["disclosed_quantity"])
        try:
            broker_order_id = await self._place_at_broker(broker, req)
        except (InvalidInput, PreconditionFailed, PermissionDenied, AuthError) as exc:
            await self._set_status(account.account_id, order_id, REJECTED,
                                   message=f"broker rejected: {exc.message}")
            if isinstance(exc, AuthError):
                await self.accounts.set_session_state(account.account_id, "expired")
                raise
            return await OrderRepo.get(self.pool, account.account_id, order_id)
        except TemporaryError as exc:
            if isinstance(exc, RateLimited) and exc.field is not None:
                # our own limiter's wait ran out before the request left: it was never sent,
                # so it is refused now (reconciliation would only find nothing by its tag)
                await self._set_status(account.account_id, order_id, REJECTED,
                                       message=f"not sent: {exc.message}")
            else:
                # The order may or may not have reached the broker: leave it PENDING for
                # reconciliation (by tag) rather than guess either way.
                await self._set_status(account.account_id, order_id, PENDING,
                                       message=f"broker outcome unknown: {exc.message}")
            return await OrderRepo.get(self.pool, account.account_id, order_id)
        self._fault("after_broker_ack")
        acked = await self.relaxed_pool.fetchrow(ACK, account.account_id, order_id,
                                                 broker_order_id, self.clock.now())
        if acked is None:  # a broker update got there first; only attach the broker id
            acked = await self.pool.fetchrow(
                "UPDATE orders SET broker_order_id = COALESCE(broker_order_id, $3)"
                " WHERE account_id = $1 AND order_id = $2 RETURNING *",
                account.account_id, order_id, broker_order_id)
        else:
            metrics.order_status(OPEN)
            self._fault("after_commit_before_publish")  # the row is the event; the bell is lost
            self.events.publish_soon(account.account_id, order_id, OPEN, broker_status="ACKED")
        return acked

    async def _place_at_broker(self, broker: Broker, req: BrokerOrderRequest) -> str:
        """The broker call; the broker's own 429 is sent again after a full-jitter backoff.
        Kite refuses a request over its rate limit before acting on it, so the identical
        request (same tag) cannot double an order — and leaving it PENDING, as any other
        unknown outcome, would lose the intent: reconciliation finds nothing by tag and
        rejects it. Our own limiter's refusal (it names a field) is not retried here."""
        for attempt in range(BROKER_429_RETRIES + 1):
            try:
                return await broker.place_order(req)
            except RateLimited as exc:
                if exc.field is not None or attempt == BROKER_429_RETRIES:
                    raise
                self.broker_429s += 1
                log.info("broker answered 429 to %s (attempt %d); sending it again", req.tag,
                         attempt + 1)
                await asyncio.sleep(backoff_delay(attempt, BROKER_429_BACKOFF_S, 2.0))
        raise AssertionError("unreachable")

    async def _set_status(self, account_id: str, order_id: str, status: str, *,
                          message: str = "", broker_status: str = "",
                          broker_order_id: str | None = None) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await OrderRepo.get(conn, account_id, order_id, lock=True)
            if row["status"] != PENDING and status in (PENDING, OPEN):
                # an update from the broker already moved it on; only attach the broker id
                if broker_order_id and not row["broker_order_id"]:
                    await conn.execute(
                        "UPDATE orders SET broker_order_id = $3 WHERE account_id = $1"
                        " AND order_id = $2", account_id, order_id, broker_order_id)
                return
            await OrderRepo.transition(conn, row, status, now=self.clock.now(),
                                       broker_status=broker_status, message=message,
                                       broker_order_id=broker_order_id)
        await self.events.publish(account_id, order_id, status, message=message)
        self.events.notify_order(row, status, message=message)

    async def refresh_parent(self, account_id: str, parent_id: str) -> None:
        """A sliced order's status is that of its children: the least advanced working child,
        else COMPLETE if any child filled, else the first child's terminal status."""
        async with self.pool.acquire() as conn, conn.transaction():
            parent = await OrderRepo.get(conn, account_id, parent_id, lock=True)
            kids = await OrderRepo.children(conn, account_id, parent_id)
            filled = sum(k["filled_quantity"] for k in kids)
            value = sum(k["filled_quantity"] * k["average_price_paise"] for k in kids)
            working = [k["status"] for k in kids if k["status"] in WORKING]
            if working:
                status = min(working, key=WORKING.index)
            elif filled:
                status = "COMPLETE" if filled == parent["quantity"] else "CANCELLED"
            else:
                status = kids[0]["status"]
            avg = (value + filled // 2) // filled if filled else 0
            if status != parent["status"] or filled != parent["filled_quantity"]:
                await OrderRepo.transition(conn, parent, status, now=self.clock.now(),
                                           filled=filled, avg=avg, message="slices")

    # --- modify / cancel -------------------------------------------------------------------
    async def modify(self, account_id: str, order_id: str, *, quantity: int = 0,
                     price_paise: int = 0, trigger_price_paise: int = 0,
                     order_type: str = "") -> Any:
        account, broker = await self.account(account_id)
        row = await OrderRepo.get(self.pool, account_id, order_id)
        self._check_mutable(row, "modify")
        if row["broker_order_id"] is None:
            raise PreconditionFailed("a sliced order is modified slice by slice (see children)",
                                     field="order_id")
        if quantity < 0 or price_paise < 0 or trigger_price_paise < 0:
            raise InvalidInput("quantity and prices must be positive", field="quantity")
        if not (quantity or price_paise or trigger_price_paise or order_type):
            raise InvalidInput("nothing to modify", field="order_id")
        inst = await self.instrument(account, row["exchange"], row["tradingsymbol"])
        probe = OrderSpec(client_order_id="m", exchange=row["exchange"],
                          tradingsymbol=row["tradingsymbol"], side=row["side"],
                          quantity=quantity or row["quantity"],
                          order_type=order_type or row["order_type"], product=row["product"],
                          price_paise=price_paise, trigger_price_paise=trigger_price_paise)
        risk.check_instrument(probe, inst)
        if quantity and quantity < row["filled_quantity"]:
            raise InvalidInput("quantity is below what already filled", field="quantity")
        protection = None
        if order_type in PROTECTED_TYPES:
            if price_paise:
                raise InvalidInput(f"a {order_type} order takes no price", field="price")
            if inst.is_stock_option:  # Zerodha blocks these: modify to the protected LIMIT/SL
                ltp = await self.last_price(account, row["exchange"], row["tradingsymbol"]) \
                    if order_type == "MARKET" else 0
                conv = risk.protect_stock_option(
                    replace(probe, order_type=order_type, market_protection=0,
                            trigger_price_paise=trigger_price_paise
                            or row["trigger_price_paise"]), inst, ltp)
                order_type, price_paise = conv.order_type, conv.price_paise
            else:  # Kite rejects a modify to MARKET/SL-M without market protection
                protection = row["market_protection"] or risk.DEFAULT_MARKET_PROTECTION_PCT
        await self.throttle.take_change(account_id, row["exchange"],
                                        await self.accounts.limits(account_id))
        await broker.modify_order(row["broker_order_id"], quantity=quantity or None,
                                  price_paise=price_paise or None,
                                  trigger_price_paise=trigger_price_paise or None,
                                  order_type=order_type or None, market_protection=protection)
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE orders SET quantity = COALESCE(NULLIF($3, 0), quantity),"
                " price_paise = CASE WHEN $6 IN ('MARKET', 'SL-M') THEN 0"
                "   ELSE COALESCE(NULLIF($4, 0), price_paise) END,"
                " trigger_price_paise = COALESCE(NULLIF($5, 0), trigger_price_paise),"
                " order_type = COALESCE(NULLIF($6, ''), order_type), updated_at = $7"
                " WHERE account_id = $1 AND order_id = $2",
                account_id, order_id, quantity, price_paise, trigger_price_paise, order_type,
                now)
            await OrderRepo.event(conn, account_id, order_id, row["status"], now=now,
                                  broker_status="MODIFIED", message="modified")
        return await OrderRepo.get(self.pool, account_id, order_id)

    @staticmethod
    def _check_mutable(row: Any, what: str) -> None:
        if row["status"] in TERMINAL:
            raise PreconditionFailed(f"cannot {what} order {row['order_id']}: it is "
                                     f"{row['status']}", field="order_id")
        if row["parent_order_id"] is None and row["broker_order_id"] is None:
            if row["status"] == PENDING:
                raise PreconditionFailed(f"cannot {what} order {row['order_id']} before the "
                                         "broker acknowledges it", field="order_id")

    async def cancel(self, account_id: str, order_id: str) -> Any:
        account, broker = await self.account(account_id)
        row = await OrderRepo.get(self.pool, account_id, order_id)
        self._check_mutable(row, "cancel")
        kids = await OrderRepo.children(self.pool, account_id, order_id)
        targets = [k for k in kids if k["status"] not in TERMINAL] if kids else [row]
        limits = await self.accounts.limits(account_id)
        for target in targets:
            if target["broker_order_id"] is None:
                continue
            await self.throttle.take_change(account_id, target["exchange"], limits)
            try:
                await broker.cancel_order(target["broker_order_id"])
            except InvalidInput as exc:  # e.g. it filled meanwhile; the sync will tell
                log.info("cancel of %s refused by broker: %s", target["order_id"], exc)
        from services.execution.sync import sync_account  # cycle: sync uses the engine
        await sync_account(self, account)
        return await OrderRepo.get(self.pool, account_id, order_id)
