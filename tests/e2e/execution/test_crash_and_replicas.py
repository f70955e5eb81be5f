"""The execution service as real processes against kitesim (real kiteconnect), PostgreSQL and
Redis: a crash between the broker's ack and storing it is healed by reconciliation at restart
(adopted by tag, no duplicate, ledger right), and the same client_order_id sent concurrently to
two replicas yields exactly one order at the broker. The processes' Redis keys live under a
`mandi.testing.redis` namespace (MANDI_REDIS_PREFIX), deleted afterwards; nothing is flushed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from mandi.testing.exec_process import ExecutionProcess as Proc
from mandi.testing.kitesim import KitesimServer
from mandi.testing.redis import RedisNamespace
from mandi.v1 import execution_pb2 as pb
from services.execution.orders import tag_for
from tests.integration.execution.kitesim_kit import order_request

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]
ACCOUNT = "SIM001"


def tagged(sim: KitesimServer, coid: str) -> list[dict]:
    return [o for o in sim.kite().orders() if o["tag"] == tag_for(coid)]


async def test_crash_when_after_broker_ack_restart_adopts_by_tag_no_duplicate(
        dsn: str, ns: RedisNamespace, sim: KitesimServer, tmp_path: Path) -> None:
    a = Proc(dsn, ns, sim, tmp_path / "a.log", fault="after_broker_ack")
    await a.ready()
    # Built once: the resend after the restart must be the *identical* request (kitesim's LTP
    # moves about once a second, so pricing it again would make it a different order).
    req = order_request(sim, "crash-1", 3)
    with pytest.raises(grpc.aio.AioRpcError):
        await a.stub.PlaceOrder(req, timeout=20)
    assert a.proc.wait(10) == 137
    await a.stop()
    assert len(tagged(sim, "crash-1")) == 1
    b = Proc(dsn, ns, sim, tmp_path / "b.log")
    try:
        await b.ready()
        listed = await b.stub.ListOrders(pb.ListOrdersRequest(account_id=ACCOUNT))
        assert len(listed.orders) == 1
        o = listed.orders[0]
        assert o.broker_order_id == tagged(sim, "crash-1")[0]["order_id"]
        for _ in range(50):
            o = (await b.stub.GetOrder(pb.GetOrderRequest(account_id=ACCOUNT,
                                                          order_id=o.order_id))).order
            if o.status == pb.ORDER_STATUS_COMPLETE:
                break
            await asyncio.sleep(0.2)
        assert o.status == pb.ORDER_STATUS_COMPLETE
        again = await b.stub.PlaceOrder(req)
        assert again.duplicate and again.order.order_id == o.order_id
        assert len(tagged(sim, "crash-1")) == 1
        # The same client_order_id for a different order (one rupee higher) is refused, not
        # taken as a duplicate, and reaches no broker.
        changed = pb.PlaceOrderRequest()
        changed.CopyFrom(req)
        changed.order.price_paise = req.order.price_paise + 100
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await b.stub.PlaceOrder(changed)
        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "price_paise" in (refused.value.details() or "")
        assert len(tagged(sim, "crash-1")) == 1
        pos = await b.stub.Positions(pb.PositionsRequest(account_id=ACCOUNT))
        assert [(p.symbol.tradingsymbol, p.quantity) for p in pos.positions] == [("SBIN", 3)]
        assert pos.positions[0].average_price_paise == o.average_price_paise
    finally:
        await b.stop()


async def test_replicas_when_same_client_order_id_concurrently_one_broker_order(
        dsn: str, ns: RedisNamespace, sim: KitesimServer, tmp_path: Path) -> None:
    b, c = Proc(dsn, ns, sim, tmp_path / "b.log"), Proc(dsn, ns, sim, tmp_path / "c.log")
    try:
        await asyncio.gather(b.ready(), c.ready())
        req = order_request(sim, "twin-1", 5)
        rb, rc = await asyncio.gather(b.stub.PlaceOrder(req), c.stub.PlaceOrder(req))
        assert rb.order.order_id == rc.order.order_id
        assert sorted([rb.duplicate, rc.duplicate]) == [False, True]
        assert len(tagged(sim, "twin-1")) == 1
    finally:
        await asyncio.gather(b.stop(), c.stop())
