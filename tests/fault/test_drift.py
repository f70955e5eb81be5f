"""Scenario 3: restart with broker drift. The execution process books an order (SBIN MIS 5), is
stopped; meanwhile a fill no order explains appears at the broker (kitesim
`/sim/positions/drift`, BUY 3). The restarted process's start-up reconciliation — one cycle —
must find the difference (ledger 5, broker 8), halt the account (new orders refused), audit the
halt and raise an `emergency_stop` notification naming the drift."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from mandi.platform.db import create_pool
from mandi.platform.notify_events import decode, stream_key
from mandi.testing.exec_process import ExecutionProcess
from mandi.testing.kitesim import KitesimServer
from mandi.testing.redis import RedisNamespace
from mandi.v1 import execution_pb2 as pb
from mandi.v1 import strategy_pb2
from tests.integration.execution.kitesim_kit import order_request

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]
ACCOUNT = "SIM001"
MIS = strategy_pb2.PRODUCT_MIS


async def test_drift_when_restarted_detected_in_one_cycle_halted_and_alerted(
        dsn: str, ns: RedisNamespace, sim: KitesimServer, tmp_path: Path) -> None:
    a = ExecutionProcess(dsn, ns, sim, tmp_path / "a.log")
    try:
        await a.ready()
        placed = await a.stub.PlaceOrder(order_request(sim, "drift1", 5, product=MIS))
        for _ in range(50):
            o = (await a.stub.GetOrder(pb.GetOrderRequest(
                account_id=ACCOUNT, order_id=placed.order.order_id))).order
            if o.status == pb.ORDER_STATUS_COMPLETE:
                break
            await asyncio.sleep(0.2)
        assert o.status == pb.ORDER_STATUS_COMPLETE
    finally:
        await a.stop()
    sim.admin("positions/drift", {"exchange": "NSE", "tradingsymbol": "SBIN", "product": "MIS",
                                  "transaction_type": "BUY", "quantity": 3, "price": 800})
    stream = stream_key(ns.prefix.rstrip(":"))
    before = await ns.client.xlen(stream)
    started = time.monotonic()
    b = ExecutionProcess(dsn, ns, sim, tmp_path / "b.log")
    try:
        await b.ready()  # start-up reconciliation has run by the time it serves
        detect_s = time.monotonic() - started
        pool = await create_pool(dsn, schema="execution", min_size=1, max_size=1)
        try:
            acct = await pool.fetchrow("SELECT emergency_stop, emergency_reason FROM accounts"
                                       " WHERE account_id = $1", ACCOUNT)
            halts = await pool.fetch("SELECT detail FROM audit_logs WHERE account_id = $1"
                                     " AND action = 'drift_halt'", ACCOUNT)
        finally:
            await pool.close()
        assert acct["emergency_stop"] is True
        assert "NSE:SBIN:MIS ledger 5, broker 8" in acct["emergency_reason"]
        assert len(halts) == 1
        entries = await ns.client.xrange(stream, min="-", max="+")
        alerts = [decode(f) for _, f in entries[before:]]
        alerts = [e for e in alerts if e["kind"] == "emergency_stop"
                  and e["data"].get("account_id") == ACCOUNT]
        assert len(alerts) == 1 and "broker drift" in alerts[0]["data"]["reason"]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await b.stub.PlaceOrder(order_request(sim, "drift2", 1, product=MIS))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "emergency_stop" in (refused.value.details() or "")
        # a second reconcile cycle does not halt or alert again
        await b.stub.Reconcile(pb.ReconcileRequest(account_id=ACCOUNT))
        again = [decode(f) for _, f in (await ns.client.xrange(stream, "-", "+"))[before:]]
        assert sum(e["kind"] == "emergency_stop" for e in again) == 1
    finally:
        await b.stop()
    print(f"\n[fault] drift: cycles=1 halted=1 alerts=1 detect_s={detect_s:.1f} "
          "ledger=5 broker=8 refused_after=1")
