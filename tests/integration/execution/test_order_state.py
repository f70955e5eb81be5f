"""Orders whose broker answer was lost (security review S5 and S6), against a real kitesim:
the worker resolves PENDING orders by their tag on its own, and a broker order id that an
older order already holds (a kitesim restart on the same day) neither fails the placement nor
touches the older order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from mandi.core.clock import IST
from mandi.core.errors import TemporaryError
from mandi.testing.kitesim import start_kitesim
from services.execution.orders import OrderSpec
from services.execution.worker import Worker
from tests.integration.execution.kitesim_kit import KiteRig, kite_rig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

START = datetime(2025, 11, 20, 10, 0, tzinfo=IST)  # a Thursday, market open


def _spec(coid: str, **kw: Any) -> OrderSpec:
    base = dict(client_order_id=coid, exchange="NSE", tradingsymbol="SBIN", side="BUY",
                quantity=1, order_type="MARKET", product="MIS")
    base.update(kw)
    return OrderSpec(**base)


async def _order(rig: KiteRig, order_id: str) -> Any:
    return await rig.engine.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1", order_id)


async def test_worker_when_placement_never_reached_broker_rejects_it_after_grace(
        ledger_dsn: str) -> None:
    sim = start_kitesim(start=START, rate_limits=False)
    sim.login()
    try:
        async with kite_rig(ledger_dsn, sim, START) as rig:
            account = await rig.engine.accounts.get(rig.account_id)
            rig.engine.ltp_ttl_s = 60.0  # the risk check's quote is taken before the outage
            await rig.engine.last_price(account, "NSE", "SBIN")
            await rig.engine.instrument(account, "NSE", "SBIN")  # and the instrument list
            sim.admin("faults", {"error_rate": 1.0})  # every Kite call answers 5xx
            row, _ = await rig.engine.place(rig.account_id, _spec("lost1"))
            assert row["status"] == "PENDING" and row["broker_order_id"] is None
            sim.admin("faults", {"enabled": False})
            worker = Worker(rig.engine)  # PENDING_GRACE_S = 15 s
            await worker.run_once()  # inside the grace: it may still be in flight
            assert (await _order(rig, row["order_id"]))["status"] == "PENDING"
            rig.clock.advance(timedelta(seconds=16))
            await worker.run_once()  # not at the broker by its tag: it never got there
            got = await _order(rig, row["order_id"])
            assert got["status"] == "REJECTED" and "never placed" in got["status_message"]
            assert [o for o in sim.kite().orders() if o["tag"] == row["tag"]] == []
    finally:
        sim.stop()


async def test_worker_when_reply_lost_after_broker_accepted_adopts_order_by_tag(
        ledger_dsn: str) -> None:
    sim = start_kitesim(start=START, rate_limits=False)
    sim.login()
    try:
        async with kite_rig(ledger_dsn, sim, START) as rig:
            account = await rig.engine.accounts.get(rig.account_id)
            broker = rig.engine.brokers.get(account)
            real = broker.place_order

            async def lost_reply(req: Any) -> str:  # Kite took it; the answer never came
                await real(req)
                raise TemporaryError("kite unreachable: ReadTimeout")

            broker.place_order = lost_reply  # type: ignore[method-assign]
            row, _ = await rig.engine.place(rig.account_id, _spec("lost2", quantity=3))
            assert row["status"] == "PENDING" and row["broker_order_id"] is None
            worker = Worker(rig.engine)

            async def adopted() -> Any:
                got = await _order(rig, row["order_id"])
                return got if got["status"] == "COMPLETE" else None

            got = await rig.until(adopted, worker=worker)
            at_broker = [o for o in sim.kite().orders() if o["tag"] == row["tag"]]
            assert [o["order_id"] for o in at_broker] == [got["broker_order_id"]]
            fills = await rig.engine.pool.fetchval(
                "SELECT sum(quantity) FROM fills WHERE order_id = $1", row["order_id"])
            assert fills == 3
    finally:
        sim.stop()


async def test_broker_id_reused_after_kitesim_restart_never_touches_the_older_order(
        ledger_dsn: str) -> None:
    """S5 as the review reproduced it: trade, restart kitesim on the same day, trade again and
    get an id the older (cancelled) order holds. kitesim no longer reuses ids, so the reuse is
    injected by setting the new instance's sequence back to where the first one started."""
    first = start_kitesim(start=START, rate_limits=False)
    first.login()
    seq0 = first.sim.oms._seq
    async with kite_rig(ledger_dsn, first, START) as rig:
        try:
            ltp = first.kite().ltp(["NSE:SBIN"])["NSE:SBIN"]["last_price"]
            far = round(round(ltp * 0.96 * 20) / 20 * 100)  # inside the 5 % collar
            old, _ = await rig.engine.place(rig.account_id, _spec(
                "fz", order_type="LIMIT", price_paise=far))
            assert old["status"] == "OPEN"
            old = await rig.engine.cancel(rig.account_id, old["order_id"])
            assert (old["status"], old["filled_quantity"]) == ("CANCELLED", 0)
        finally:
            first.stop()
        events = await rig.engine.pool.fetchval(
            "SELECT count(*) FROM order_events WHERE order_id = $1", old["order_id"])
        second = start_kitesim(start=START, rate_limits=False)
        second.login()
        try:
            second.sim.oms._seq = seq0  # the restart hands out the first run's ids again
            rig.swap(second)
            new, _ = await rig.engine.place(  # no 500
                rig.account_id, _spec("dbg1", allow_duplicate=True))
            assert new["broker_order_id"] == old["broker_order_id"]  # the collision is real
            worker = Worker(rig.engine)

            async def done() -> Any:
                got = await _order(rig, new["order_id"])
                return got if got["status"] == "COMPLETE" else None

            got = await rig.until(done, worker=worker)
            assert got["filled_quantity"] == 1
            again = await _order(rig, old["order_id"])
            assert (again["status"], again["filled_quantity"], again["broker_status"]) == \
                (old["status"], 0, old["broker_status"])
            assert await rig.engine.pool.fetchval(
                "SELECT count(*) FROM order_events WHERE order_id = $1",
                old["order_id"]) == events
            assert await rig.engine.pool.fetchval(
                "SELECT count(*) FROM fills WHERE order_id = $1", old["order_id"]) == 0
            pos = await rig.engine.pool.fetchval(
                "SELECT quantity FROM positions WHERE account_id = $1 AND status = 'open'",
                rig.account_id)
            assert pos == 1  # one share bought, once
        finally:
            second.stop()
