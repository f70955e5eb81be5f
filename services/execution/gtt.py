"""GTTs: the OCO stop-loss/target placed after an entry fills, user GTT CRUD, trailing updates,
and adopting the orders a GTT places when it fires.

Each entry order gets at most one GTT (a unique row per entry, inserted before the broker call),
so replicas racing on the same fill create one GTT. Legs are stored in Kite's order: for a
two-leg GTT, [lower trigger, upper trigger] — for a long that is [stop-loss, target], for a
short [target, stop-loss]. Each leg carries its role ("sl" / "tp") for the exit reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mandi.core.errors import InvalidInput, MandiError, NotFound, PreconditionFailed
from mandi.core.fills import pct_level
from mandi.core.gtt_rules import min_trigger_gap
from services.execution import trailing
from services.execution.accounts import Account
from services.execution.brokers.base import Broker, BrokerGtt, BrokerOrder, GttLegSpec
from services.execution.ledger import audit, position_for
from services.execution.orders import OrderRepo, OrderSpec, new_id

log = logging.getLogger(__name__)

STOP_BUFFER_BPS = 100  # a stop leg's LIMIT price sits 1 % beyond its trigger so it fills
ACTIVE = "active"
# Zerodha's GTT rules (review domain.md §3.13, [K3] [K4]): at most 250 active GTTs per account,
# and every trigger at least 0.25 % away from the last price (mandi.core.gtt_rules).
MAX_ACTIVE_GTTS = 250
FINAL = ("triggered", "cancelled", "deleted", "expired", "rejected", "disabled")


class BrokerGtts:
    """The broker's GTT list, fetched at most once per sync pass."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._list: list[BrokerGtt] | None = None

    async def get(self) -> list[BrokerGtt]:
        if self._list is None:
            self._list = await self.broker.gtts()
        return self._list


def check_triggers(legs: list[dict], last_price_paise: int) -> None:
    if last_price_paise <= 0:
        return  # no price to measure against; the broker applies its own check
    gap = min_trigger_gap(last_price_paise)
    for leg in legs:
        trigger = leg["trigger_price_paise"]
        if abs(trigger - last_price_paise) < gap:
            raise InvalidInput(
                f"trigger {trigger / 100:.2f} is within {gap / 100:.2f} of the last price "
                f"{last_price_paise / 100:.2f}; a GTT trigger must be at least 0.25% away "
                "(9 paise below ₹50)", field="trigger_price")


async def check_active_cap(engine: Any, account_id: str, except_gtt_id: str = "") -> None:
    n = await engine.pool.fetchval(
        "SELECT count(*) FROM gtts WHERE account_id = $1 AND status IN ('active', 'creating')"
        " AND gtt_id <> $2", account_id, except_gtt_id)
    if n >= MAX_ACTIVE_GTTS:
        raise PreconditionFailed(f"{n} GTTs are active; Zerodha allows at most "
                                 f"{MAX_ACTIVE_GTTS} per account. Delete one first",
                                 field="gtt_limit")


def stop_limit_price(trigger: int, exit_side: str, tick: int) -> int:
    if exit_side == "SELL":
        return max(tick, trigger * (10_000 - STOP_BUFFER_BPS) // 10_000 // tick * tick)
    raw = trigger * (10_000 + STOP_BUFFER_BPS)
    return -(-raw // (10_000 * tick)) * tick


def oco_legs(entry_side: str, qty: int, stop: int, target: int, tick: int) -> list[dict]:
    exit_side = "SELL" if entry_side == "BUY" else "BUY"
    legs = []
    if stop:
        legs.append({"role": "sl", "trigger_price_paise": stop, "side": exit_side,
                     "quantity": qty, "price_paise": stop_limit_price(stop, exit_side, tick)})
    if target:
        legs.append({"role": "tp", "trigger_price_paise": target, "side": exit_side,
                     "quantity": qty, "price_paise": target})
    legs.sort(key=lambda leg: leg["trigger_price_paise"])
    return legs


def specs(legs: list[dict]) -> list[GttLegSpec]:
    return [GttLegSpec(leg["side"], leg["quantity"], leg["price_paise"],
                       leg["trigger_price_paise"]) for leg in legs]


def entry_levels(row: Any, tick: int) -> tuple[int, int]:
    """(stop, target) in paise of an entry order: given as prices, or as percents of its
    average fill price (rounded to the tick half-up, as the backtester's `pct_level`)."""
    long = row["side"] == "BUY"
    avg = row["average_price_paise"]
    stop, target = row["stop_loss_paise"], row["target_paise"]
    if row["stop_loss_pct"] and avg:
        stop = pct_level(avg, row["stop_loss_pct"], not long, tick)
    if row["target_pct"] and avg:
        target = pct_level(avg, row["target_pct"], long, tick)
    return stop, target


async def protect_entry(engine: Any, account: Account, broker: Broker, order_id: str) -> None:
    """After an entry fills: place its stop-loss/target as one GTT (OCO when both)."""
    aid = account.account_id
    row = await OrderRepo.get(engine.pool, aid, order_id)
    if account.emergency_stop or not row["filled_quantity"]:
        return
    inst = await engine.instrument(account, row["exchange"], row["tradingsymbol"])
    stop, target = entry_levels(row, inst.tick_paise)
    if not stop and not target:
        return
    legs = oco_legs(row["side"], row["filled_quantity"], stop, target, inst.tick_paise)
    now = engine.clock.now()
    gtt_id = new_id("gtt")
    anchor = row["average_price_paise"]
    inserted = await engine.pool.fetchval(
        "INSERT INTO gtts (gtt_id, account_id, entry_order_id, exchange, tradingsymbol, product,"
        " type, legs, status, trailing_stop_pct, trail_anchor_paise, last_price_paise,"
        " created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'creating',$9,$10,$10,$11,$11)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        gtt_id, aid, order_id, row["exchange"], row["tradingsymbol"], row["product"],
        "two-leg" if len(legs) == 2 else "single", json.dumps(legs),
        row["trailing_stop_pct"], anchor, now)
    if inserted is None:
        return
    await _create_at_broker(engine, account, broker, gtt_id, row["exchange"],
                            row["tradingsymbol"], row["product"], anchor, legs)


async def _create_at_broker(engine: Any, account: Account, broker: Broker, gtt_id: str,
                            exchange: str, symbol: str, product: str, last_price: int,
                            legs: list[dict]) -> str:
    aid = account.account_id
    try:
        await check_active_cap(engine, aid, gtt_id)
        broker_id = await broker.create_gtt(exchange=exchange, tradingsymbol=symbol,
                                            product=product, last_price_paise=last_price,
                                            legs=specs(legs))
    except MandiError as exc:
        await engine.pool.execute(
            "UPDATE gtts SET status = 'rejected', updated_at = $3 WHERE account_id = $1"
            " AND gtt_id = $2", aid, gtt_id, engine.clock.now())
        await audit(engine.pool, aid, "system", "gtt_rejected", engine.clock.now(),
                    gtt_id=gtt_id, reason=exc.message)
        raise
    await engine.pool.execute(
        "UPDATE gtts SET broker_gtt_id = $3, status = 'active', updated_at = $4"
        " WHERE account_id = $1 AND gtt_id = $2", aid, gtt_id, broker_id, engine.clock.now())
    return broker_id


async def create(engine: Any, account_id: str, *, exchange: str, symbol: str, product: str,
                 legs: list[dict], last_price: int = 0) -> Any:
    account, broker = await engine.account(account_id)
    if account.emergency_stop:
        raise PreconditionFailed("trading is halted by an emergency stop", field="account_id")
    if len(legs) not in (1, 2):
        raise InvalidInput("a GTT has one or two legs", field="legs")
    _check_legs(await engine.instrument(account, exchange, symbol), legs)
    legs = sorted(legs, key=lambda leg: leg["trigger_price_paise"])
    if len(legs) == 2 and legs[0]["trigger_price_paise"] == legs[1]["trigger_price_paise"]:
        raise InvalidInput("two-leg triggers must differ", field="legs")
    if not last_price:
        last_price = await engine.last_price(account, exchange, symbol)
    check_triggers(legs, last_price)
    now = engine.clock.now()
    gtt_id = new_id("gtt")
    await engine.pool.execute(
        "INSERT INTO gtts (gtt_id, account_id, exchange, tradingsymbol, product, type, legs,"
        " status, last_price_paise, created_at, updated_at)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,'creating',$8,$9,$9)",
        gtt_id, account_id, exchange, symbol, product, "two-leg" if len(legs) == 2 else "single",
        json.dumps(legs), last_price, now)
    await _create_at_broker(engine, account, broker, gtt_id, exchange, symbol, product,
                            last_price, legs)
    return await get(engine, account_id, gtt_id)


def _check_legs(inst: Any, legs: list[dict]) -> None:
    for leg in legs:
        if leg["quantity"] <= 0 or leg["quantity"] % inst.lot_size:
            raise InvalidInput("leg quantity must be a positive lot multiple", field="quantity")
        for key in ("trigger_price_paise", "price_paise"):
            if leg[key] <= 0 or leg[key] % inst.tick_paise:
                raise InvalidInput(f"{key} must be a positive multiple of the tick",
                                   field=key.removesuffix("_paise"))


# a GTT with the order it placed when it fired (adopted by `adopt_triggered_order`)
_WITH_EXIT = """
SELECT g.*, o.order_id AS exit_order_id, split_part(o.client_order_id, ':', 3) AS exit_leg,
       o.filled_quantity AS exit_filled_quantity,
       o.average_price_paise AS exit_average_price_paise
FROM gtts g
LEFT JOIN LATERAL (SELECT * FROM orders o WHERE o.account_id = g.account_id
                   AND o.gtt_id = g.gtt_id AND o.purpose = 'gtt'
                   ORDER BY o.created_at DESC LIMIT 1) o ON true
WHERE g.account_id = $1"""


async def get(engine: Any, account_id: str, gtt_id: str) -> Any:
    row = await engine.pool.fetchrow(_WITH_EXIT + " AND g.gtt_id = $2", account_id, gtt_id)
    if row is None:
        raise NotFound(f"no GTT {gtt_id!r} in account {account_id!r}", field="gtt_id")
    return row


async def list_gtts(engine: Any, account_id: str,
                    entry_order_ids: list[str] | None = None) -> list[Any]:
    """The account's newest 500 GTTs, or those protecting the given entry orders."""
    if entry_order_ids:
        return await engine.pool.fetch(
            _WITH_EXIT + " AND g.entry_order_id = ANY($2::text[]) ORDER BY g.created_at DESC",
            account_id, entry_order_ids)
    return await engine.pool.fetch(
        _WITH_EXIT + " ORDER BY g.created_at DESC LIMIT 500", account_id)


async def modify(engine: Any, account_id: str, gtt_id: str, legs: list[dict]) -> Any:
    account, broker = await engine.account(account_id)
    row = await get(engine, account_id, gtt_id)
    if row["status"] != ACTIVE:
        raise PreconditionFailed(f"GTT {gtt_id} is {row['status']}", field="gtt_id")
    old = json.loads(row["legs"])
    if len(legs) != len(old):
        raise InvalidInput("a modify must keep the number of legs", field="legs")
    inst = await engine.instrument(account, row["exchange"], row["tradingsymbol"])
    legs = sorted(legs, key=lambda leg: leg["trigger_price_paise"])
    for new, prev in zip(legs, old, strict=True):
        new.setdefault("role", prev.get("role", "single"))
        if not new["price_paise"] and new["trigger_price_paise"] > 0:  # derive, as on create
            new["price_paise"] = (stop_limit_price(new["trigger_price_paise"], new["side"],
                                                   inst.tick_paise)
                                  if new["role"] == "sl" else new["trigger_price_paise"])
    _check_legs(inst, legs)
    check_triggers(legs, await engine.last_price(account, row["exchange"], row["tradingsymbol"]))
    async with _unless_gone(engine, account, broker, row):
        await _modify_at_broker(engine, account, broker, row, legs)
    return await get(engine, account_id, gtt_id)


@asynccontextmanager
async def _unless_gone(engine: Any, account: Account, broker: Broker,
                       row: Any) -> AsyncIterator[None]:
    """A broker refusing to change a GTT we hold as active: it may have fired (or been deleted)
    since our last sync. Then mirror the broker's status and refuse with it, so the caller
    learns the GTT is no longer active (FAILED_PRECONDITION), not that its input was bad."""
    try:
        yield
    except (InvalidInput, PreconditionFailed):
        g = next((g for g in await broker.gtts()
                  if g.broker_gtt_id == row["broker_gtt_id"]), None)
        if g is None or g.status == ACTIVE:
            raise
        await engine.pool.execute(
            "UPDATE gtts SET status = $3, updated_at = $4 WHERE account_id = $1"
            " AND gtt_id = $2 AND status = 'active'",
            account.account_id, row["gtt_id"], g.status, engine.clock.now())
        raise PreconditionFailed(f"GTT {row['gtt_id']} is {g.status} at the broker",
                                 field="gtt_id") from None


async def _modify_at_broker(engine: Any, account: Account, broker: Broker, row: Any,
                            legs: list[dict], *, anchor: int | None = None) -> None:
    last = await engine.last_price(account, row["exchange"], row["tradingsymbol"])
    await broker.modify_gtt(row["broker_gtt_id"], exchange=row["exchange"],
                            tradingsymbol=row["tradingsymbol"], product=row["product"],
                            last_price_paise=last or row["last_price_paise"], legs=specs(legs))
    await engine.pool.execute(
        "UPDATE gtts SET legs = $3, updated_at = $4, last_price_paise = $5,"
        " trail_anchor_paise = COALESCE($6, trail_anchor_paise)"
        " WHERE account_id = $1 AND gtt_id = $2",
        account.account_id, row["gtt_id"], json.dumps(legs), engine.clock.now(),
        last or row["last_price_paise"], anchor)


async def delete(engine: Any, account_id: str, gtt_id: str, *, actor: str = "api") -> Any:
    account, broker = await engine.account(account_id)
    row = await get(engine, account_id, gtt_id)
    if row["status"] in FINAL:
        raise PreconditionFailed(f"GTT {gtt_id} is already {row['status']}", field="gtt_id")
    if row["broker_gtt_id"]:
        async with _unless_gone(engine, account, broker, row):
            await broker.delete_gtt(row["broker_gtt_id"])
    await engine.pool.execute(
        "UPDATE gtts SET status = 'deleted', updated_at = $3 WHERE account_id = $1"
        " AND gtt_id = $2", account_id, gtt_id, engine.clock.now())
    await audit(engine.pool, account_id, actor, "gtt_deleted", engine.clock.now(), gtt_id=gtt_id)
    return await get(engine, account_id, gtt_id)


async def adopt_triggered_order(engine: Any, account: Account, broker: Broker,
                                bo: BrokerOrder, *, gtts: BrokerGtts | None = None) -> Any:
    """An order we did not place may be one a GTT of ours placed: adopt it as an exit order."""
    aid = account.account_id
    ours = await engine.pool.fetch(
        "SELECT * FROM gtts WHERE account_id = $1 AND broker_gtt_id IS NOT NULL"
        " AND triggered_order_id IS NULL AND status IN ('active', 'triggered')", aid)
    if not ours:
        return None
    listing = await (gtts or BrokerGtts(broker)).get()
    by_broker = {g.broker_gtt_id: g for g in listing}
    for row in ours:
        g = by_broker.get(row["broker_gtt_id"])
        if g is None or bo.broker_order_id not in g.triggered_order_ids:
            continue
        idx = g.triggered_order_ids.index(bo.broker_order_id)
        legs = json.loads(row["legs"])
        role = legs[idx].get("role", "single") if idx < len(legs) else "single"
        leg = legs[idx] if idx < len(legs) else legs[0]
        spec = OrderSpec(client_order_id=f"gtt:{row['gtt_id']}:{role}", exchange=row["exchange"],
                         tradingsymbol=row["tradingsymbol"], side=leg["side"],
                         quantity=leg["quantity"], order_type="LIMIT", product=row["product"],
                         price_paise=leg["price_paise"], purpose="gtt")
        now = engine.clock.now()
        async with engine.pool.acquire() as conn, conn.transaction():
            await OrderRepo.insert(conn, aid, spec, now=now, status="OPEN", gtt_id=row["gtt_id"],
                                   broker_order_id=bo.broker_order_id,
                                   message=f"placed by GTT {row['broker_gtt_id']} ({role})")
            await conn.execute(
                "UPDATE gtts SET status = 'triggered', triggered_order_id = $3, updated_at = $4"
                " WHERE account_id = $1 AND gtt_id = $2",
                aid, row["gtt_id"], bo.broker_order_id, now)
            await audit(conn, aid, "broker", "gtt_triggered", now, gtt_id=row["gtt_id"],
                        leg=role, broker_order_id=bo.broker_order_id)
        engine.events.notify("gtt_triggered", {
            "account_id": aid, "gtt_id": row["gtt_id"], "symbol": row["tradingsymbol"],
            "exchange": row["exchange"], "side": leg["side"], "quantity": leg["quantity"],
            "leg": role, "broker_order_id": bo.broker_order_id})
        # by its own key: the broker id may also name an older order (security review S5)
        return await OrderRepo.by_client_id(engine.pool, aid, spec.client_order_id)
    return None


async def refresh_statuses(engine: Any, account: Account, broker: Broker, *,
                           gtts: BrokerGtts | None = None) -> None:
    """Mirror broker GTT statuses and move trailing stops."""
    aid = account.account_id
    rows = await engine.pool.fetch(
        "SELECT * FROM gtts WHERE account_id = $1 AND status = 'active'"
        " AND broker_gtt_id IS NOT NULL", aid)
    if not rows:
        return
    listing = await (gtts or BrokerGtts(broker)).get()
    by_broker: dict[str, BrokerGtt] = {g.broker_gtt_id: g for g in listing}
    for row in rows:
        g = by_broker.get(row["broker_gtt_id"])
        if g is not None and g.status != ACTIVE:
            await engine.pool.execute(
                "UPDATE gtts SET status = $3, updated_at = $4 WHERE account_id = $1"
                " AND gtt_id = $2", aid, row["gtt_id"], g.status, engine.clock.now())
            continue
        if row["trailing_stop_pct"] > 0:
            await trail(engine, account, broker, row)


async def trail(engine: Any, account: Account, broker: Broker, row: Any) -> bool:
    legs = json.loads(row["legs"])
    sl = next((leg for leg in legs if leg.get("role") == "sl"), None)
    if sl is None:
        return False
    long = sl["side"] == "SELL"
    inst = await engine.instrument(account, row["exchange"], row["tradingsymbol"])
    ltp = engine.recent_price(row["exchange"], row["tradingsymbol"],
                              engine.mtm_interval_s + 1.0)
    if ltp is None:  # marked to market this pass normally; fetch only if that failed
        ltp = await engine.last_price(account, row["exchange"], row["tradingsymbol"])
    anchor, new_stop = trailing.next_trail(long, sl["trigger_price_paise"],
                                           row["trail_anchor_paise"], ltp,
                                           row["trailing_stop_pct"], inst.tick_paise)
    if new_stop is None:
        if anchor != row["trail_anchor_paise"]:
            await engine.pool.execute(
                "UPDATE gtts SET trail_anchor_paise = $3 WHERE account_id = $1 AND gtt_id = $2",
                account.account_id, row["gtt_id"], anchor)
        return False
    sl["trigger_price_paise"] = new_stop
    sl["price_paise"] = stop_limit_price(new_stop, sl["side"], inst.tick_paise)
    legs.sort(key=lambda leg: leg["trigger_price_paise"])
    await _modify_at_broker(engine, account, broker, row, legs, anchor=anchor)
    return True


async def settle_after_exit(engine: Any, account: Account, broker: Broker, row: Any) -> None:
    """Once a position is flat, GTTs still protecting it must go (they would open a new one)."""
    pos = await position_for(engine.pool, account.account_id, row["exchange"],
                             row["tradingsymbol"], row["product"])
    if pos is not None:
        return
    leftovers = await engine.pool.fetch(
        "SELECT * FROM gtts WHERE account_id = $1 AND exchange = $2 AND tradingsymbol = $3"
        " AND product = $4 AND status = 'active' AND entry_order_id IS NOT NULL",
        account.account_id, row["exchange"], row["tradingsymbol"], row["product"])
    for g in leftovers:
        try:
            await delete(engine, account.account_id, g["gtt_id"], actor="system")
        except MandiError as exc:
            log.warning("could not delete GTT %s after exit: %s", g["gtt_id"], exc)
