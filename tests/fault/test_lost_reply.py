"""Scenario 2: the broker places the order but its reply is lost (kitesim `lose_order_replies`:
the order is in the book, the connection closes before the answer). The engine must not guess:
the order stays PENDING ("outcome unknown"), a retry of the same client_order_id is answered
from the ledger without a second broker call, and the next sync pass finds the order at the
broker by its tag and adopts it — within 10 s, one broker order per client_order_id, the
ledger's position equal to the broker's."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from mandi.testing.kitesim import DEFAULT_START, KitesimServer
from services.execution.orders import tag_for
from tests.integration.execution.kit import spec
from tests.integration.execution.kitesim_kit import kite_rig, limit_above

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
LOST = 3


async def test_lost_reply_when_order_placed_then_adopted_by_tag_no_duplicate(
        ledger_dsn: str, sim: KitesimServer) -> None:
    async with kite_rig(ledger_dsn, sim, DEFAULT_START) as rig:
        eng, aid = rig.engine, rig.account_id
        sim.admin("faults", {"lose_order_replies": LOST})
        specs = [spec(f"lost{i}", tradingsymbol="SBIN", quantity=i + 1, product="MIS",
                      price_paise=limit_above(sim, "SBIN"), allow_duplicate=True)
                 for i in range(LOST)]
        started = time.monotonic()
        for s in specs:
            row, dup = await eng.place(aid, s)
            assert not dup and row["status"] == "PENDING" and row["broker_order_id"] is None
        assert sim.admin("faults")["lost_replies"] == LOST
        # a client retrying each one gets the stored order back; nothing goes to the broker
        for s in specs:
            row, dup = await eng.place(aid, s)
            assert dup and row["status"] == "PENDING"

        async def adopted() -> bool:
            rows = await eng.pool.fetch(
                "SELECT status, broker_order_id FROM orders WHERE account_id = $1", aid)
            return all(r["broker_order_id"] and r["status"] == "COMPLETE" for r in rows)

        await rig.until(adopted, timeout_s=10)
        resolve_s = time.monotonic() - started
        tags = Counter(o["tag"] for o in sim.kite().orders())
        per_coid = [tags[tag_for(s.client_order_id)] for s in specs]
        assert per_coid == [1] * LOST
        ledger = await eng.pool.fetchval(
            "SELECT quantity FROM positions WHERE account_id = $1 AND status = 'open'"
            " AND tradingsymbol = 'SBIN'", aid)
        broker = sum(p["quantity"] for p in sim.kite().positions()["net"]
                     if p["tradingsymbol"] == "SBIN" and p["product"] == "MIS")
        assert ledger == broker == sum(s.quantity for s in specs)
        assert resolve_s <= 10
        sim.admin("faults", {"enabled": False})
        print(f"\n[fault] lost reply: lost={LOST} dups=0 adopted={LOST} "
              f"resolve_s={resolve_s:.1f} ledger_qty={ledger} broker_qty={broker}")
