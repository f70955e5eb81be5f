"""Emergency stop, reconciliation after a crash in PlaceOrder, admin-only limits."""

from __future__ import annotations

import pytest

from mandi.core.errors import PermissionDenied
from services.execution import emergency
from services.execution.reconcile import reconcile
from services.execution.risk import RiskRejected
from services.execution.sync import sync_account
from tests.integration.execution.kit import Env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


class Crash(BaseException):
    """Stands in for the process dying (BaseException: nothing may catch it)."""


async def _sync(env: Env) -> None:
    account, _ = await env.engine.account(env.account_id)
    await sync_account(env.engine, account)


async def test_emergency_stop_when_active_leaves_nothing_open_and_blocks(env: Env) -> None:
    aid = env.account_id
    env.price("NSE:SBIN", 812.00)
    await env.engine.place(aid, spec(quantity=10, price_paise=81300, stop_loss_paise=80000,
                                     target_paise=84000))
    env.price("NSE:INFY", 1500.00)
    await env.engine.place(aid, spec(tradingsymbol="INFY", side="SELL", product="MIS",
                                     quantity=4, price_paise=149500))
    await env.engine.place(aid, spec(tradingsymbol="INFY", quantity=1, price_paise=145000))
    await _sync(env)
    assert await env.pool.fetchval(
        "SELECT count(*) FROM positions WHERE account_id = $1 AND status = 'open'", aid) == 2
    result = await emergency.emergency_stop(env.engine, aid, reason="test", actor="ops")
    assert (result.orders_cancelled, result.gtts_deleted, result.positions_squared_off) == \
        (1, 1, 2)
    assert await env.pool.fetchval(
        "SELECT count(*) FROM paper_orders WHERE account_id = $1"
        " AND status IN ('OPEN', 'TRIGGER PENDING')", aid) == 0
    assert await env.pool.fetchval(
        "SELECT count(*) FROM paper_gtts WHERE account_id = $1 AND status = 'active'", aid) == 0
    assert await env.pool.fetchval(
        "SELECT count(*) FROM positions WHERE account_id = $1 AND status = 'open'", aid) == 0
    broker = env.engine.brokers.get((await env.engine.account(aid))[0])
    held = await broker.positions()
    assert held and all(p.quantity == 0 for p in held)  # listed, and flat (L2: not vacuous)
    with pytest.raises(RiskRejected):
        await env.engine.place(aid, spec("after", price_paise=81200, allow_duplicate=True))
    actions = [r["action"] for r in await env.pool.fetch(
        "SELECT action FROM audit_logs WHERE account_id = $1 ORDER BY id", aid)]
    assert actions[:1] == ["emergency_stop"] and "emergency_stop_done" in actions
    with pytest.raises(PermissionDenied):
        await emergency.reset(env.engine, aid, actor="user", is_admin=False)
    await emergency.reset(env.engine, aid, actor="admin", is_admin=True)
    row, _ = await env.engine.place(aid, spec("after", price_paise=81200,
                                                allow_duplicate=True))
    assert row["status"] in ("OPEN", "COMPLETE")


async def test_reconcile_when_crash_after_broker_ack_adopts_order_by_tag(env: Env) -> None:
    aid = env.account_id
    env.price("NSE:SBIN", 812.00)

    def crash(point: str) -> None:
        if point == "after_broker_ack":
            raise Crash

    env.engine._fault = crash
    with pytest.raises(Crash):
        await env.engine.place(aid, spec("crash1", quantity=10, price_paise=81300))
    env.engine._fault = lambda point: None
    row = await env.pool.fetchrow("SELECT * FROM orders WHERE account_id = $1", aid)
    assert row["status"] == "PENDING" and row["broker_order_id"] is None
    again, dup = await env.engine.place(aid, spec("crash1", quantity=10, price_paise=81300))
    assert dup and again["order_id"] == row["order_id"]
    diffs = await reconcile(env.engine, aid)
    assert [(d.kind, d.action) for d in diffs] == [("order", "adopted")]
    row = await env.pool.fetchrow("SELECT * FROM orders WHERE account_id = $1", aid)
    assert row["status"] == "COMPLETE" and row["broker_order_id"]
    assert await env.count("paper_orders") == 1
    pos = await env.pool.fetchrow("SELECT * FROM positions WHERE account_id = $1", aid)
    assert pos["quantity"] == 10
    assert await reconcile(env.engine, aid) == []


async def test_reconcile_when_pending_order_never_reached_broker_marks_it(env: Env) -> None:
    aid = env.account_id
    env.price("NSE:SBIN", 812.00)

    class Boom(Exception):
        pass

    broker = env.engine.brokers.get((await env.engine.account(aid))[0])
    real = broker.place_order

    async def dies(req):
        raise Crash

    broker.place_order = dies
    with pytest.raises(Crash):
        await env.engine.place(aid, spec("lost1", price_paise=81300))
    broker.place_order = real
    diffs = await reconcile(env.engine, aid, grace_s=0)
    assert [(d.kind, d.action) for d in diffs] == [("order", "marked_missing")]
    assert (await env.pool.fetchval("SELECT status FROM orders WHERE account_id = $1",
                                    aid)) == "REJECTED"


async def test_reconcile_when_broker_position_unknown_reports_mismatch(env: Env) -> None:
    aid = env.account_id
    env.price("NSE:SBIN", 812.00)
    await env.engine.place(aid, spec(price_paise=81300))
    await _sync(env)
    await env.pool.execute("UPDATE positions SET quantity = 7 WHERE account_id = $1", aid)
    diffs = await reconcile(env.engine, aid)
    assert [(d.kind, d.action, d.detail) for d in diffs] == [
        ("position", "mismatch", "ledger 7, broker 10")]
