"""Emergency stop: halt the account first (so nothing new slips in), then cancel every open order,
delete every GTT and square off every position the *broker* reports (it is the truth about what
is at risk). An admin reset lifts the halt.

Every broker request goes through the same limits as any other (the Kite limiter per API key,
and the account's throttle and SEBI governor), waiting for its slot rather than drawing a 429.
A step that fails is tried again in up to `ROUNDS` rounds, each starting from a fresh broker
listing, so nothing is sent twice: a square-off is re-sent only when no earlier one of ours
(found by its tag) is still working at the broker. Whatever is still open after the last round
is a failure: each is audited and returned in `StopResult.failures`, and the account stays
halted.

Square-offs are MARKET orders; the engine adds market protection, and turns a stock option's
(where Zerodha blocks MARKET) into a protected LIMIT — the same rule as any other order
(`risk.protect_stock_option`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mandi.core.errors import MandiError, PermissionDenied
from services.execution.brokers.base import TERMINAL_BROKER_STATUSES, BrokerPosition
from services.execution.ledger import audit
from services.execution.orders import OrderSpec, tag_for
from services.execution.sync import sync_account

log = logging.getLogger(__name__)

T = TypeVar("T")

ROUNDS = 3
ROUND_PAUSE_S = 1.0  # before round 2 (doubled before round 3): a MARKET order fills meanwhile


@dataclass
class StopResult:
    orders_cancelled: int = 0
    gtts_deleted: int = 0
    positions_squared_off: int = 0
    blocked: bool = True
    failures: list[str] = field(default_factory=list)


class _Stop:
    def __init__(self, engine: Any, account: Any, broker: Any, actor: str) -> None:
        self.engine = engine
        self.account = account
        self.aid = account.account_id
        self.broker = broker
        self.actor = actor
        self.result = StopResult()

    async def fail(self, step: str, target: str, error: str) -> None:
        text = f"{step} {target}: {error}" if target else f"{step}: {error}"
        log.error("emergency stop of %s: %s", self.aid, text)
        self.result.failures.append(text)
        await audit(self.engine.pool, self.aid, self.actor, f"{step.replace(' ', '_')}_failed",
                    self.engine.clock.now(), symbol=target, error=error)

    async def read(self, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """A broker listing, tried up to ROUNDS times; None (and a failure) if it never came."""
        error = ""
        for attempt in range(ROUNDS):
            if attempt:
                await asyncio.sleep(ROUND_PAUSE_S * attempt)
            try:
                return await call()
            except MandiError as exc:
                error = exc.message
        await self.fail(f"list {what}", "", error)
        return None

    async def todo(self, rnd: int, what: str, listing: Callable[[], Awaitable[list[T]]],
                   pick: Callable[[T], bool]) -> list[T] | None:
        """What is still to do in round `rnd` (from a fresh listing); after the first round,
        whatever remains gets a pause (fills and cancels settle) and a second look. None when
        the broker would not list."""
        for look in range(2 if rnd else 1):
            if look:
                await asyncio.sleep(ROUND_PAUSE_S * rnd)
            items = await self.read(what, listing)
            if items is None:
                return None
            left = [x for x in items if pick(x)]
            if not left:
                return left
        return left

    async def cancel_orders(self, limits: Any) -> None:
        errors: dict[str, str] = {}
        for rnd in range(ROUNDS):
            working = await self.todo(rnd, "orders", self.broker.orders, _working)
            if not working:
                return
            for o in working:
                try:
                    await self.engine.throttle.take_change(self.aid, o.exchange, limits)
                    await self.broker.cancel_order(o.broker_order_id)
                    self.result.orders_cancelled += 1
                    errors.pop(o.broker_order_id, None)
                except MandiError as exc:
                    errors[o.broker_order_id] = exc.message
        for o in await self.todo(ROUNDS, "orders", self.broker.orders, _working) or []:
            await self.fail("cancel", f"order {o.broker_order_id} "
                                f"({o.exchange}:{o.tradingsymbol})",
                                errors.get(o.broker_order_id, f"still {o.status}"))

    async def delete_gtts(self) -> None:
        errors: dict[str, str] = {}
        for rnd in range(ROUNDS):
            active = await self.todo(rnd, "GTTs", self.broker.gtts, _active)
            if not active:
                return
            for g in active:
                try:
                    await self.broker.delete_gtt(g.broker_gtt_id)
                    self.result.gtts_deleted += 1
                    errors.pop(g.broker_gtt_id, None)
                except MandiError as exc:
                    errors[g.broker_gtt_id] = exc.message
        for g in await self.todo(ROUNDS, "GTTs", self.broker.gtts, _active) or []:
            await self.fail("delete GTT", f"{g.broker_gtt_id} ({g.exchange}:{g.tradingsymbol})",
                            errors.get(g.broker_gtt_id, "still active"))

    async def square_off(self, limits: Any, stamp: int) -> None:
        sent: dict[tuple[str, str, str], list[str]] = {}  # position → our client_order_ids
        errors: dict[tuple[str, str, str], str] = {}
        opened: set[tuple[str, str, str]] = set()
        for rnd in range(ROUNDS):
            live = await self.todo(rnd, "positions", self.broker.positions, _open)
            if live is None:
                return
            opened |= {(p.exchange, p.tradingsymbol, p.product) for p in live}
            if not live:
                break
            working: set[str] = set()
            if sent:
                orders = await self.read("orders", self.broker.orders)
                if orders is None:
                    return  # cannot tell what reached the broker: do not risk a double exit
                working = {o.tag for o in orders if o.status not in TERMINAL_BROKER_STATUSES}
            for p in live:
                key = (p.exchange, p.tradingsymbol, p.product)
                if any(tag_for(c) in working for c in sent.get(key, ())):
                    continue  # our earlier square-off is still working at the broker
                coid = f"es:{stamp}:{p.exchange}:{p.tradingsymbol}:{p.product}" + \
                    (f":r{rnd}" if rnd else "")
                sent.setdefault(key, []).append(coid)
                error = await self._exit(p, coid, limits)
                if error:
                    errors[key] = error
                else:
                    errors.pop(key, None)
        final = await self.todo(ROUNDS, "positions", self.broker.positions, _open)
        if final is None:
            return
        still = {(p.exchange, p.tradingsymbol, p.product): p for p in final}
        self.result.positions_squared_off = len(opened - set(still))
        for key, p in still.items():
            await self.fail("squareoff", f"{p.exchange}:{p.tradingsymbol} ({p.product}, "
                            f"{p.quantity:+d})", errors.get(key, "position still open"))

    async def _exit(self, p: BrokerPosition, coid: str, limits: Any) -> str:
        """Send one square-off; '' when the broker took it, else why not."""
        side = "SELL" if p.quantity > 0 else "BUY"
        try:
            spec = OrderSpec(
                client_order_id=coid, exchange=p.exchange, tradingsymbol=p.tradingsymbol,
                side=side, quantity=abs(p.quantity), order_type="MARKET", product=p.product,
                allow_duplicate=True, purpose="squareoff")
            await self.engine.throttle.take_change(self.aid, p.exchange, limits)
            row, _ = await self.engine.place(self.aid, spec, actor=self.actor, skip_risk=True)
        except MandiError as exc:
            return exc.message
        if row["status"] == "REJECTED" or row["broker_order_id"] is None:
            return row["status_message"] or f"order {row['status']}"
        return ""


def _working(o: Any) -> bool:
    return o.status not in TERMINAL_BROKER_STATUSES and o.status != ""


def _active(g: Any) -> bool:
    return g.status == "active"


def _open(p: BrokerPosition) -> bool:
    return p.quantity != 0


async def emergency_stop(engine: Any, account_id: str, *, reason: str, actor: str) -> StopResult:
    account, broker = await engine.account(account_id)
    now = engine.clock.now()
    await engine.pool.execute(
        "UPDATE accounts SET emergency_stop = true, emergency_reason = $2 WHERE account_id = $1",
        account_id, reason or "emergency stop")
    await audit(engine.pool, account_id, actor, "emergency_stop", now, reason=reason)
    engine.events.notify("emergency_stop", {"account_id": account_id, "actor": actor,
                                            "reason": reason or "emergency stop"})
    account, broker = await engine.account(account_id)
    limits = await engine.accounts.limits(account_id)
    stop = _Stop(engine, account, broker, actor)
    await stop.cancel_orders(limits)
    if broker.capabilities.gtt:
        await stop.delete_gtts()
    await engine.pool.execute(
        "UPDATE gtts SET status = 'deleted', updated_at = $2 WHERE account_id = $1"
        " AND status IN ('active', 'creating')", account_id, now)
    await _sync(stop)
    await stop.square_off(limits, int(now.timestamp()))
    await _sync(stop)
    result = stop.result
    await audit(engine.pool, account_id, actor, "emergency_stop_done", engine.clock.now(),
                orders_cancelled=result.orders_cancelled, gtts_deleted=result.gtts_deleted,
                positions_squared_off=result.positions_squared_off, failures=result.failures)
    return result


async def _sync(stop: _Stop) -> None:
    try:
        await sync_account(stop.engine, stop.account)
    except MandiError as exc:  # the ledger catches up on the worker's next pass
        await stop.fail("sync", "", exc.message)


async def reset(engine: Any, account_id: str, *, actor: str, is_admin: bool) -> bool:
    if not is_admin:
        raise PermissionDenied("only an admin can reset an emergency stop", field="actor")
    await engine.accounts.get(account_id)
    await engine.pool.execute(
        "UPDATE accounts SET emergency_stop = false, emergency_reason = '' WHERE account_id = $1",
        account_id)
    await audit(engine.pool, account_id, actor, "emergency_stop_reset", engine.clock.now())
    return False
