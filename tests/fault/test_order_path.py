"""Scenarios 10, 11 and 12 of the plan.

* The daily loss latch survives a restart: the account hits its limit (marked to market), a
  new engine (new pools, new Redis connections, the same database) still refuses entries while
  an exit that reduces the position passes.
* Orders at 09:14:59, 15:30:01 and on an NSE holiday are refused (rule `market_hours`) and
  never reach the broker; an AMO is taken only in its window (a holiday: yes; 15:30:01 equity:
  no, its window opens at 16:00); 09:15:00 is open.
* A 40 % fill (kitesim `fill_limit_pct`) whose postback is replayed three times, then a cancel
  (and the stale postbacks replayed again): the order ends CANCELLED with exactly the filled
  quantity, one ledger fill per broker trade, the position and the protective GTT equal to the
  filled quantity, the broker's position the same.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
import pytest_asyncio

from mandi.core.calendar import is_trading_day
from mandi.core.clock import IST
from mandi.core.errors import MandiError
from mandi.platform.db import create_pool
from mandi.testing.kitesim import DEFAULT_START, KitesimServer
from mandi.testing.redis import redis_namespace
from services.execution.accounts import AccountStore, CredentialBox, RiskLimits
from services.execution.brokers.paper import PaperBroker
from services.execution.engine import BrokerRegistry, Engine
from services.execution.events import EventBus
from services.execution.sync import apply_update, sync_account
from tests.integration.execution.kit import Env, spec
from tests.integration.execution.kitesim_kit import kite_rig, limit_above

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def restarted(env: Env, ledger_dsn: str) -> AsyncIterator[Engine]:
    """A second engine over the same database, as after a process restart: its own pool,
    Redis connection and broker objects; only the database and the quotes are shared."""
    pool = await create_pool(ledger_dsn, schema="execution")
    async with redis_namespace() as ns:
        def factory(account: Any) -> PaperBroker:
            return PaperBroker(pool, account.account_id, env.data, env.clock)

        eng = Engine(pool, ns.client, env.clock, AccountStore(pool, CredentialBox("test-secret")),
                     BrokerRegistry(factory), EventBus(ns.client, ns.prefix + "ev"),
                     redis_prefix=ns.prefix.rstrip(":"))
        eng.ltp_ttl_s = 0.0
        try:
            yield eng
        finally:
            await eng.brokers.close()
            await pool.close()


async def _rule(eng: Engine, aid: str, s: Any) -> str:
    try:
        row, _ = await eng.place(aid, s)
    except MandiError as exc:
        return exc.field or exc.message
    return row["status"]


async def test_loss_latch_when_restarted_still_blocks_entries_exits_pass(
        env: Env, restarted: Engine) -> None:
    aid = await env.add_account(RiskLimits(daily_loss_limit_paise=100_000))
    account = await env.engine.accounts.get(aid)
    env.price("NSE:SBIN", 812.35)
    await env.engine.place(aid, spec("ll-1", quantity=100, price_paise=81245, product="MIS"))
    await sync_account(env.engine, account)
    env.price("NSE:SBIN", 790.00)  # 100 × ₹22.35 down: over the ₹1,000 limit
    await sync_account(env.engine, account)
    blocked = await env.pool.fetchrow("SELECT trading_blocked, blocked_reason FROM daily_stats"
                                      " WHERE account_id = $1", aid)
    assert blocked["trading_blocked"] and blocked["blocked_reason"] == "daily_loss_limit"
    # the restart: nothing in memory survives, the latch does
    entry = await _rule(restarted, aid, spec("ll-2", quantity=1, price_paise=79000,
                                             product="MIS"))
    assert entry == "daily_loss_limit"
    exit_ = await _rule(restarted, aid, spec("ll-3", side="SELL", quantity=100,
                                             price_paise=78990, product="MIS"))
    assert exit_ in ("OPEN", "COMPLETE")
    hits = await env.pool.fetchval("SELECT count(*) FROM audit_logs WHERE account_id = $1"
                                   " AND action = 'daily_loss_limit_hit'", aid)
    assert hits == 1
    print(f"\n[fault] loss latch: restarted=1 entry={entry} exit={exit_} latch_audits={hits}")


@pytest.mark.parametrize("when, variety, want", [
    (datetime(2026, 3, 10, 9, 14, 59, tzinfo=IST), "regular", "market_hours"),
    (datetime(2026, 3, 10, 9, 15, 0, tzinfo=IST), "regular", "OPEN"),
    (datetime(2026, 3, 10, 15, 30, 1, tzinfo=IST), "regular", "market_hours"),
    (datetime(2026, 3, 10, 15, 30, 1, tzinfo=IST), "amo", "amo_window"),
    (datetime(2026, 3, 3, 11, 0, tzinfo=IST), "regular", "market_hours"),
    (datetime(2026, 3, 3, 11, 0, tzinfo=IST), "amo", "taken"),
])
async def test_session_edges_when_outside_hours_refused_before_broker(
        env: Env, when: datetime, variety: str, want: str) -> None:
    assert is_trading_day(datetime(2026, 3, 10).date())
    assert not is_trading_day(datetime(2026, 3, 3).date())  # Holi, an NSE holiday
    aid = await env.add_account()
    env.clock.set(when)
    env.price("NSE:SBIN", 812.35)
    got = await _rule(env.engine, aid, spec(f"w-{variety}", quantity=1, price_paise=81000,
                                            variety=variety))
    at_broker = await env.pool.fetchval("SELECT count(*) FROM paper_orders"
                                        " WHERE account_id = $1", aid)
    if want == "taken":
        assert got not in ("market_hours", "amo_window", "REJECTED"), got
    else:
        assert got == want
    assert at_broker == (0 if want in ("market_hours", "amo_window") else 1)
    print(f"\n[fault] session edge: {when:%Y-%m-%d %H:%M:%S} {variety} → {got}")


async def test_partial_fill_when_postback_replayed_then_cancelled_quantities_exact(
        ledger_dsn: str, sim: KitesimServer) -> None:
    postbacks: list[dict] = []
    sim.sim.oms.listeners.append(postbacks.append)
    sim.admin("faults", {"fill_limit_pct": 40})
    try:
        async with kite_rig(ledger_dsn, sim, DEFAULT_START) as rig:
            eng, aid = rig.engine, rig.account_id
            account = await eng.accounts.get(aid)
            broker = eng.brokers.get(account)
            row, _ = await eng.place(aid, spec("pf1", quantity=10, product="MIS",
                                               price_paise=limit_above(sim),
                                               stop_loss_pct=2.0, allow_duplicate=True))
            boid = row["broker_order_id"]
            for _ in range(50):  # the 40 % fill's postback
                mine = [p for p in postbacks if p["order_id"] == boid and p["filled_quantity"]]
                if mine:
                    break
                await asyncio.sleep(0.1)
            assert mine and mine[-1]["filled_quantity"] == 4, postbacks
            for _ in range(3):  # the same postback, three times
                for p in mine:
                    bo = broker._postback_order(p)  # the socket's parser
                    assert bo is not None
                    await apply_update(eng, account, broker, bo)
            await rig.sync()  # and the polling pass sees the same snapshot
            mid = await eng.pool.fetchrow("SELECT status, filled_quantity FROM orders"
                                          " WHERE account_id = $1 AND order_id = $2",
                                          aid, row["order_id"])
            assert (mid["status"], mid["filled_quantity"]) == ("PARTIALLY_FILLED", 4)
            cancelled = await eng.cancel(aid, row["order_id"])
            assert (cancelled["status"], cancelled["filled_quantity"]) == ("CANCELLED", 4)
            for p in mine * 3:  # stale postbacks arriving after the cancel change nothing
                await apply_update(eng, account, broker, broker._postback_order(p))
            await rig.sync()
            final = await eng.pool.fetchrow("SELECT status, filled_quantity FROM orders"
                                            " WHERE account_id = $1 AND order_id = $2",
                                            aid, row["order_id"])
            trades = [t for t in sim.kite().trades() if t["order_id"] == boid]
            fills = await eng.pool.fetchval("SELECT count(*) FROM fills WHERE account_id = $1",
                                            aid)
            pos = await eng.pool.fetchval("SELECT quantity FROM positions WHERE account_id = $1"
                                          " AND status = 'open'", aid)
            gtt_qty = await eng.pool.fetch("SELECT legs FROM gtts WHERE account_id = $1", aid)
            broker_pos = sum(p["quantity"] for p in sim.kite().positions()["net"]
                             if p["tradingsymbol"] == "SBIN" and p["product"] == "MIS")
    finally:
        sim.sim.oms.listeners.remove(postbacks.append)
        sim.admin("faults", {"enabled": False})
    legs = [leg for g in gtt_qty for leg in json.loads(g["legs"])]
    assert (final["status"], final["filled_quantity"]) == ("CANCELLED", 4)
    assert fills == len(trades) and sum(t["quantity"] for t in trades) == 4
    assert pos == 4 == broker_pos
    assert len(gtt_qty) == 1 and [leg["quantity"] for leg in legs] == [4]
    print(f"\n[fault] partial fill: filled=4/10 replays=3+3 fills={fills} trades={len(trades)} "
          f"position={pos} broker={broker_pos} gtt_qty={legs[0]['quantity']} "
          f"status={final['status']}")
