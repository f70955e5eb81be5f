"""Scenario 9: the kill switch with working orders and GTTs at the broker (10 orders + 4 GTTs in
`make test`, 50 + 20 under `make chaos`), through KiteBroker against kitesim: every order is
cancelled and every GTT deleted at the broker within 10 s, new orders and GTTs are refused
afterwards, and the stop is audited (start and result) in an intact audit chain."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from mandi.core.errors import MandiError, RateLimited
from mandi.testing.kitesim import DEFAULT_START, KitesimServer
from services.execution import audit_chain, emergency, gtt
from services.execution.orders import tag_for
from tests.integration.execution.kit import spec
from tests.integration.execution.kitesim_kit import kite_rig

REPEAT = max(1, int(os.environ.get("MANDI_CHAOS_REPEAT", "1") or 1))
pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
ORDERS, GTTS = (10, 4) if REPEAT == 1 else (50, 20)
WORKING = ("OPEN", "TRIGGER PENDING", "AMO REQ RECEIVED", "PUT ORDER REQ RECEIVED",
           "VALIDATION PENDING", "OPEN PENDING", "MODIFY PENDING")


async def test_kill_switch_when_orders_and_gtts_working_all_gone_then_refused(
        ledger_dsn: str, sim: KitesimServer) -> None:
    async with kite_rig(ledger_dsn, sim, DEFAULT_START) as rig:
        eng, aid = rig.engine, rig.account_id
        ltp = round(sim.kite().quote(["NSE:SBIN"])["NSE:SBIN"]["last_price"] * 100)
        below = ltp * 97 // 100 // 5 * 5  # resting buys
        for i in range(ORDERS):
            while True:  # the SEBI governor paces the set-up (9 per 1.25 s)
                try:
                    await eng.place(aid, spec(f"ks{i}", quantity=1, product="CNC",
                                              price_paise=below, allow_duplicate=True))
                    break
                except RateLimited:
                    await asyncio.sleep(0.2)
        above = ltp * 105 // 100 // 5 * 5
        for i in range(GTTS):
            await gtt.create(eng, aid, exchange="NSE", symbol="SBIN", product="CNC", legs=[
                {"trigger_price_paise": above + 5 * i, "side": "BUY", "quantity": 1,
                 "price_paise": above + 5 * i}], last_price=ltp)
        ours = {tag_for(f"ks{i}") for i in range(ORDERS)}
        working = [o for o in sim.kite().orders() if o["tag"] in ours
                   and o["status"] in WORKING]
        active = [g for g in sim.kite().get_gtts() if g["status"] == "active"]
        assert (len(working), len(active)) == (ORDERS, GTTS)

        started = time.monotonic()
        result = await emergency.emergency_stop(eng, aid, reason="drill", actor="ops")
        took = time.monotonic() - started
        left = [o for o in sim.kite().orders() if o["tag"] in ours and o["status"] in WORKING]
        still = [g for g in sim.kite().get_gtts() if g["status"] == "active"]
        assert result.failures == []
        assert (result.orders_cancelled, result.gtts_deleted) == (ORDERS, GTTS)
        assert left == [] and still == []
        assert took <= 10
        refused = 0
        with pytest.raises(MandiError) as order_refused:
            await eng.place(aid, spec("ks-after", quantity=1, product="CNC",
                                      price_paise=below, allow_duplicate=True))
        refused += order_refused.value.field == "emergency_stop"
        with pytest.raises(MandiError):
            await gtt.create(eng, aid, exchange="NSE", symbol="SBIN", product="CNC", legs=[
                {"trigger_price_paise": above, "side": "BUY", "quantity": 1,
                 "price_paise": above}], last_price=ltp)
        refused += 1
        actions = [r["action"] for r in await eng.pool.fetch(
            "SELECT action FROM audit_logs WHERE account_id = $1 ORDER BY chain_seq", aid)]
        assert "emergency_stop" in actions and "emergency_stop_done" in actions
        rows, breaks = await audit_chain.verify(eng.pool, aid)
        assert breaks == []
    print(f"\n[fault] kill switch: orders={ORDERS} gtts={GTTS} cancelled={result.orders_cancelled}"
          f" deleted={result.gtts_deleted} took_s={took:.1f} refused_after={refused} "
          f"audit_rows={rows} chain_ok=1")
