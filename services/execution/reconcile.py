"""Reconciliation (at start and on demand): compare our orders, positions and GTTs with the
broker's, adopt what the broker knows (our orders found by tag), mark what it does not, and
report every difference.

A PENDING order without a broker id is the crash window of PlaceOrder (broker acked, ack not
stored): found by tag it is adopted; not found after `grace_s` it never reached the broker and
is marked REJECTED, so a retry with a new client_order_id is safe.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.execution.ledger import audit
from services.execution.orders import PENDING, REJECTED, WORKING, OrderRepo
from services.execution.sync import apply_update, sync_account

GRACE_S = 30


@dataclass(frozen=True)
class Difference:
    kind: str     # order | position | gtt
    key: str
    action: str   # adopted | marked_missing | updated | mismatch | unknown
    detail: str


async def reconcile(engine: Any, account_id: str, *, grace_s: float = GRACE_S,
                    actor: str = "system") -> list[Difference]:
    account, broker = await engine.account(account_id)
    pool = engine.pool
    diffs: list[Difference] = []
    broker_orders = await broker.orders()
    by_tag = {o.tag: o for o in broker_orders if o.tag}
    by_id = {o.broker_order_id: o for o in broker_orders}
    for o in broker_orders:
        ours = await OrderRepo.by_broker_id(pool, account_id, o.broker_order_id)
        if ours is None and o.tag:
            tagged = await OrderRepo.by_tag(pool, account_id, o.tag)
            if tagged is not None and tagged["broker_order_id"] is None:
                await apply_update(engine, account, broker, o)
                diffs.append(Difference("order", tagged["order_id"], "adopted",
                                        f"found at the broker by tag {o.tag} as "
                                        f"{o.broker_order_id} ({o.status})"))
                continue
        if ours is None:
            if await apply_update(engine, account, broker, o):  # e.g. placed by our GTT
                diffs.append(Difference("order", o.broker_order_id, "adopted",
                                        "placed by a GTT of ours"))
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
            async with pool.acquire() as conn, conn.transaction():
                locked = await OrderRepo.get(conn, account_id, row["order_id"], lock=True)
                if locked["status"] != PENDING or locked["broker_order_id"]:
                    continue
                await OrderRepo.transition(conn, locked, REJECTED, now=engine.clock.now(),
                                           message="not found at the broker (reconciliation)")
            diffs.append(Difference("order", row["order_id"], "marked_missing",
                                    "PENDING order never reached the broker"))
        elif row["broker_order_id"] is not None:
            diffs.append(Difference("order", row["order_id"], "mismatch",
                                    f"{row['status']} here, absent from the broker's order "
                                    "book (expired or from an earlier day)"))
    await sync_account(engine, account)
    diffs += await _positions(engine, account_id, broker)
    diffs += await _gtts(engine, account_id, broker)
    await audit(pool, account_id, actor, "reconcile", engine.clock.now(),
                differences=[d.__dict__ for d in diffs])
    return diffs


async def _positions(engine: Any, account_id: str, broker: Any) -> list[Difference]:
    rows = await engine.pool.fetch(
        "SELECT exchange, tradingsymbol, product, quantity FROM positions"
        " WHERE account_id = $1 AND status = 'open'", account_id)
    ours = {(r["exchange"], r["tradingsymbol"], r["product"]): r["quantity"] for r in rows}
    theirs = {(p.exchange, p.tradingsymbol, p.product): p.quantity
              for p in await broker.positions() if p.quantity}
    out = []
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key, 0), theirs.get(key, 0)
        if a != b:
            out.append(Difference("position", ":".join(key), "mismatch",
                                  f"ledger {a}, broker {b}"))
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
