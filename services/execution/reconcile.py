"""Reconciliation (at start and on demand): compare our orders, positions and GTTs with the
broker's, adopt what the broker knows (our orders found by tag), mark what it does not, and
report every difference.

A PENDING order without a broker id is the crash window of PlaceOrder (broker acked, ack not
stored): found by tag it is adopted; not found after `grace_s` it never reached the broker and
is marked REJECTED, so a retry with a new client_order_id is safe.

Drift — a position that still differs from the broker's once every broker order has been
applied (a fill no order explains), with the same gap over two more syncs, each read while
none of that position's fills moved, so that fills in flight on a trading account are not
taken for it — halts the account in the same cycle:
`emergency_stop` is set (new orders refused; nothing is cancelled or squared off, a human
decides), the halt is audited (`drift_halt`) and an `emergency_stop` notification raised. An
admin reset lifts it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mandi.core.clock import to_ist
from services.execution.external import is_external_row
from services.execution.ledger import audit
from services.execution.orders import CANCELLED, PENDING, REJECTED, WORKING, OrderRepo
from services.execution.sync import apply_update, find_ours, sync_account

log = logging.getLogger(__name__)

GRACE_S = 30
DRIFT_CHECKS = 2  # a position difference must hold through this many more syncs to halt
DRIFT_ATTEMPTS = 8  # readings tried for those, skipping any taken while its fills moved
DRIFT_RECHECK_S = 0.5
PENDING_GRACE_S = 15  # > the Kite client's 7 s timeout: a placement still in flight is older


@dataclass(frozen=True)
class Difference:
    kind: str     # order | position | gtt
    key: str
    action: str   # adopted | marked_missing | updated | mismatch | unknown
    detail: str
    gap: int = field(default=0, compare=False, repr=False)  # position: ledger − broker qty


async def reconcile(engine: Any, account_id: str, *, grace_s: float = GRACE_S,
                    actor: str = "system") -> list[Difference]:
    account, broker = await engine.account(account_id)
    pool = engine.pool
    diffs: list[Difference] = []
    broker_orders = await broker.orders()
    by_tag = {o.tag: o for o in broker_orders if o.tag}
    by_id = {o.broker_order_id: o for o in broker_orders}
    for o in broker_orders:
        ours = await find_ours(pool, account_id, o)
        if ours is not None and ours["broker_order_id"] is None:
            await apply_update(engine, account, broker, o)
            diffs.append(Difference("order", ours["order_id"], "adopted",
                                    f"found at the broker by tag {o.tag} as "
                                    f"{o.broker_order_id} ({o.status})"))
            continue
        if ours is None:
            if await apply_update(engine, account, broker, o):  # our GTT's, or external
                adopted = await find_ours(pool, account_id, o)
                why = ("not placed by Mandi, booked as external" if adopted is not None
                       and is_external_row(adopted) else "placed by a GTT of ours")
                diffs.append(Difference("order", o.broker_order_id, "adopted",
                                        f"{why} ({o.tradingsymbol} {o.side} {o.quantity}, "
                                        f"{o.status})"))
            else:
                diffs.append(Difference("order", o.broker_order_id, "unknown",
                                        f"not placed by Mandi ({o.tradingsymbol} {o.side} "
                                        f"{o.quantity}, {o.status})"))
            continue
        before = (ours["status"], ours["filled_quantity"])
        if await apply_update(engine, account, broker, o):
            after = await OrderRepo.get(pool, account_id, ours["order_id"])
            diffs.append(Difference("order", ours["order_id"], "updated",
                                    f"{before[0]}/{before[1]} → {after['status']}/"
                                    f"{after['filled_quantity']}"))
    cutoff = engine.clock.now() - timedelta(seconds=grace_s)
    stale = await pool.fetch(
        "SELECT * FROM orders WHERE account_id = $1 AND status = ANY($2::text[])"
        " AND created_at <= $3",
        account_id, list(WORKING), cutoff)
    for row in stale:
        if row["broker_order_id"] in by_id or row["tag"] in by_tag:
            continue
        if row["broker_order_id"] is None and row["status"] == PENDING:
            if await OrderRepo.children(pool, account_id, row["order_id"]):
                continue
            if not await _reject_unplaced(engine, account_id, row["order_id"],
                                          "not found at the broker (reconciliation)"):
                continue
            diffs.append(Difference("order", row["order_id"], "marked_missing",
                                    "PENDING order never reached the broker"))
        elif row["broker_order_id"] is not None and \
                to_ist(row["created_at"]).date() < to_ist(engine.clock.now()).date():
            # Kite's book starts empty every day: a DAY order still working here expired at
            # the close of its day (the sync would have seen it had the worker been running)
            async with pool.acquire() as conn, conn.transaction():
                locked = await OrderRepo.get(conn, account_id, row["order_id"], lock=True)
                if locked["status"] not in WORKING:
                    continue
                await OrderRepo.transition(conn, locked, CANCELLED, now=engine.clock.now(),
                                           message="expired at the end of its trading day")
            diffs.append(Difference("order", row["order_id"], "updated",
                                    f"{row['status']} → CANCELLED: expired with its day "
                                    f"({to_ist(row['created_at']).date()})"))
        elif row["broker_order_id"] is not None:
            diffs.append(Difference("order", row["order_id"], "mismatch",
                                    f"{row['status']} here, absent from the broker's order "
                                    "book"))
    await sync_account(engine, account)
    diffs += await _positions(engine, account_id, broker)
    diffs += await _gtts(engine, account_id, broker)
    await audit(pool, account_id, actor, "reconcile", engine.clock.now(),
                differences=[d.__dict__ for d in diffs])
    drift = [d for d in diffs if d.kind == "position"]
    if drift:
        drift = await _confirmed(engine, account, broker, drift)
    await _halt_on_drift(engine, account_id, drift)
    return diffs


async def _confirmed(engine: Any, account: Any, broker: Any,
                     found: list[Difference]) -> list[Difference]:
    """The position differences that are drift, not fills in flight. While the account trades
    (another replica's orders filling), a fill can land between the order listing a sync
    applies and the position listing it is compared with — reading after reading, with the
    same gap. So a reading counts only for a position whose filled quantities at the broker
    (bought, sold) were the same in a listing before the sync and in one after the positions
    were read: nothing filled in between, and the ledger, the orders and the position describe
    one moment. A difference is drift when it holds with the same ledger − broker gap through
    DRIFT_CHECKS such readings. One the account's trading leaves unjudged after DRIFT_ATTEMPTS
    readings is audited (`drift_unjudged`) and logged, not halted: the next reconcile judges
    it again."""
    gaps = {d.key: d.gap for d in found}
    held = dict.fromkeys(gaps, 0)
    for _ in range(DRIFT_ATTEMPTS):
        await asyncio.sleep(DRIFT_RECHECK_S)
        before = _filled(await broker.orders())
        await sync_account(engine, account)
        again = {d.key: d.gap for d in await _positions(engine, account.account_id, broker)}
        after = _filled(await broker.orders())
        for key in [k for k in gaps if before.get(k) == after.get(k)]:
            if again.get(key) != gaps[key]:
                del gaps[key], held[key]
            else:
                held[key] += 1
        if all(n >= DRIFT_CHECKS for n in held.values()):
            break
    drift = [d for d in found if held.get(d.key, 0) >= DRIFT_CHECKS]
    unjudged = [d for d in found if d.key in held and held[d.key] < DRIFT_CHECKS]
    if unjudged:
        await audit(engine.pool, account.account_id, "reconcile", "drift_unjudged",
                    engine.clock.now(), differences=[d.__dict__ for d in unjudged],
                    reason="fills kept landing while the positions were read")
        log.warning("account %s: position difference not judged, the account kept filling: %s",
                    account.account_id, "; ".join(f"{d.key} {d.detail}" for d in unjudged))
    return drift


def _filled(orders: list[Any]) -> dict[str, tuple[int, int]]:
    """Filled quantity bought and sold per position key ("NSE:SBIN:MIS") over a broker's
    order listing."""
    out: dict[str, tuple[int, int]] = {}
    for o in orders:
        key = f"{o.exchange}:{o.tradingsymbol}:{o.product}"
        bought, sold = out.get(key, (0, 0))
        out[key] = ((bought + o.filled_quantity, sold) if o.side == "BUY"
                    else (bought, sold + o.filled_quantity))
    return out


async def _halt_on_drift(engine: Any, account_id: str, drift: list[Difference]) -> bool:
    """Halt the account (once) when its positions drifted from the broker's; True if now."""
    if not drift:
        return False
    reason = "broker drift: " + "; ".join(f"{d.key} {d.detail}" for d in drift)
    async with engine.pool.acquire() as conn, conn.transaction():
        halted = await conn.fetchval(
            "UPDATE accounts SET emergency_stop = true, emergency_reason = $2"
            " WHERE account_id = $1 AND NOT emergency_stop RETURNING 1", account_id, reason)
        if not halted:
            return False
        await audit(conn, account_id, "reconcile", "drift_halt", engine.clock.now(),
                    reason=reason, differences=[d.__dict__ for d in drift])
    log.error("account %s halted: %s", account_id, reason)
    engine.events.notify("emergency_stop", {"account_id": account_id, "actor": "reconcile",
                                            "reason": reason})
    return True


async def _reject_unplaced(engine: Any, account_id: str, order_id: str, message: str) -> bool:
    """REJECT a PENDING order that never reached the broker; False when, under the row lock, it
    turned out to have moved on (placed meanwhile) and was left alone."""
    async with engine.pool.acquire() as conn, conn.transaction():
        locked = await OrderRepo.get(conn, account_id, order_id, lock=True)
        if locked["status"] != PENDING or locked["broker_order_id"]:
            return False
        await OrderRepo.transition(conn, locked, REJECTED, now=engine.clock.now(),
                                   message=message)
    return True


async def resolve_pending(engine: Any, account: Any, *,
                          grace_s: float = PENDING_GRACE_S) -> list[Difference]:
    """Settle every PENDING order whose broker outcome is unknown (security review S6): a crash
    between the PENDING insert and the broker call, or a 5xx/timeout on place_order. Found at
    the broker by its tag, it is adopted (broker id, status, fills); not found `grace_s` after
    it was created, it never reached the broker and is REJECTED, so a retry is safe. The worker
    runs this every pass; without stale PENDING rows it costs one indexed query."""
    aid = account.account_id
    pool = engine.pool
    cutoff = engine.clock.now() - timedelta(seconds=grace_s)
    stale = await pool.fetch(
        "SELECT * FROM orders o WHERE account_id = $1 AND status = $2"
        " AND broker_order_id IS NULL AND created_at <= $3 AND NOT EXISTS"
        " (SELECT 1 FROM orders c WHERE c.account_id = o.account_id"
        " AND c.parent_order_id = o.order_id)", aid, PENDING, cutoff)
    if not stale:
        return []
    broker = engine.brokers.get(account)
    by_tag = {o.tag: o for o in await broker.orders() if o.tag}
    out = []
    for row in stale:
        found = by_tag.get(row["tag"])
        if found is not None:
            await apply_update(engine, account, broker, found)
            out.append(Difference("order", row["order_id"], "adopted",
                                  f"found at the broker by tag {row['tag']} as "
                                  f"{found.broker_order_id} ({found.status})"))
            continue
        if not await _reject_unplaced(engine, aid, row["order_id"],
                                      "not found at the broker: never placed"):
            continue
        await engine.events.publish(aid, row["order_id"], REJECTED,
                                    message="not found at the broker: never placed")
        engine.events.notify_order(row, REJECTED, message="not found at the broker: never placed")
        out.append(Difference("order", row["order_id"], "marked_missing",
                              "PENDING order never reached the broker"))
    if out:
        await audit(pool, aid, "system", "pending_resolved", engine.clock.now(),
                    differences=[d.__dict__ for d in out])
    return out


def _holding_qty(h: dict[str, Any]) -> int:
    return int(h.get("quantity") or 0) + int(h.get("t1_quantity") or 0)


async def _positions(engine: Any, account_id: str, broker: Any) -> list[Difference]:
    """Ledger positions against the broker's. At Kite an overnight CNC position leaves
    `positions` and appears in `holdings` (T1, then settled), so a CNC position is compared
    with the broker's CNC day position plus its holdings: a difference only when the ledger
    holds more than that, or less than what the broker shows bought today. Holdings the
    account had before Mandi (more at the broker) are not a difference."""
    rows = await engine.pool.fetch(
        "SELECT exchange, tradingsymbol, product, quantity FROM positions"
        " WHERE account_id = $1 AND status = 'open'", account_id)
    ours = {(r["exchange"], r["tradingsymbol"], r["product"]): r["quantity"] for r in rows}
    theirs = {(p.exchange, p.tradingsymbol, p.product): p.quantity
              for p in await broker.positions() if p.quantity}
    held: dict[tuple[str, str, str], int] = {}
    if any(k[2] == "CNC" for k in ours) or any(k[2] == "CNC" for k in theirs):
        for h in await broker.holdings():
            key = (h.get("exchange", ""), h.get("tradingsymbol", ""), "CNC")
            held[key] = held.get(key, 0) + _holding_qty(h)
    out = []
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key, 0), theirs.get(key, 0)
        if key[2] == "CNC":
            h = held.get(key, 0)
            if a > b + h or a < b:
                more = f" + {h} in holdings" if h else ""
                out.append(Difference("position", ":".join(key), "mismatch",
                                      f"ledger {a}, broker {b}{more}", gap=a - b))
        elif a != b:
            out.append(Difference("position", ":".join(key), "mismatch",
                                  f"ledger {a}, broker {b}", gap=a - b))
    return out


async def _gtts(engine: Any, account_id: str, broker: Any) -> list[Difference]:
    if not broker.capabilities.gtt:
        return []
    theirs = {g.broker_gtt_id: g for g in await broker.gtts()}
    rows = await engine.pool.fetch(
        "SELECT * FROM gtts WHERE account_id = $1 AND status IN ('active', 'creating')",
        account_id)
    out = []
    known = set()
    for row in rows:
        g = theirs.get(row["broker_gtt_id"] or "")
        if g is not None:
            known.add(g.broker_gtt_id)
            if g.status != row["status"]:
                await engine.pool.execute(
                    "UPDATE gtts SET status = $3 WHERE account_id = $1 AND gtt_id = $2",
                    account_id, row["gtt_id"], g.status)
                out.append(Difference("gtt", row["gtt_id"], "updated",
                                      f"{row['status']} → {g.status}"))
            continue
        legs = json.loads(row["legs"])
        match = next((g for g in theirs.values() if g.status == "active"
                      and g.broker_gtt_id not in known and g.tradingsymbol == row["tradingsymbol"]
                      and [leg.trigger_price_paise for leg in g.legs]
                      == [leg["trigger_price_paise"] for leg in legs]), None)
        if row["status"] == "creating" and match is not None:
            known.add(match.broker_gtt_id)
            await engine.pool.execute(
                "UPDATE gtts SET broker_gtt_id = $3, status = 'active' WHERE account_id = $1"
                " AND gtt_id = $2", account_id, row["gtt_id"], match.broker_gtt_id)
            out.append(Difference("gtt", row["gtt_id"], "adopted",
                                  f"found at the broker as {match.broker_gtt_id}"))
            continue
        await engine.pool.execute(
            "UPDATE gtts SET status = 'missing' WHERE account_id = $1 AND gtt_id = $2",
            account_id, row["gtt_id"])
        out.append(Difference("gtt", row["gtt_id"], "marked_missing", "not at the broker"))
    for g in theirs.values():
        if g.status == "active" and g.broker_gtt_id not in known:
            ours = await engine.pool.fetchval(
                "SELECT 1 FROM gtts WHERE account_id = $1 AND broker_gtt_id = $2",
                account_id, g.broker_gtt_id)
            if not ours:
                out.append(Difference("gtt", g.broker_gtt_id, "unknown",
                                      f"active at the broker, not created by Mandi "
                                      f"({g.tradingsymbol})"))
    return out
