"""Each pre-trade risk rule tripped through the real order path; rejections are audited and
write no order."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime

import pytest

from mandi.core.clock import IST
from mandi.core.errors import RateLimited
from services.execution import dashboards
from services.execution.accounts import RiskLimits
from services.execution.risk import RiskRejected
from services.execution.sync import sync_account
from tests.integration.execution.kit import Env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def _limits(env: Env, **kw) -> str:
    return await env.add_account(replace(RiskLimits(), **kw))


async def _rejected(env: Env, aid: str, rule: str, **kw) -> None:
    before = await env.count("orders", aid)
    with pytest.raises(RiskRejected) as exc:
        await env.engine.place(aid, spec(**kw))
    assert exc.value.rule == rule
    assert await env.count("orders", aid) == before
    audited = await env.pool.fetchval(
        "SELECT count(*) FROM audit_logs WHERE account_id = $1 AND action = 'order_rejected'"
        " AND detail->>'rule' = $2", aid, rule)
    assert audited == 1


async def test_risk_when_quantity_over_limit_rejects(env: Env) -> None:
    aid = await _limits(env, max_order_quantity=5)
    await _rejected(env, aid, "max_order_quantity", quantity=6)


async def test_risk_when_value_over_limit_rejects(env: Env) -> None:
    aid = await _limits(env, max_order_value_paise=800_000)  # ₹8,000 < 10 × 812.35
    await _rejected(env, aid, "max_order_value")


async def test_risk_when_price_outside_collar_rejects(env: Env) -> None:
    aid = await _limits(env, price_collar_pct=2.0)
    await _rejected(env, aid, "price_collar", price_paise=85000)  # +4.6 % from 812.35


async def test_risk_when_max_open_positions_reached_rejects_new_symbol(env: Env) -> None:
    aid = await _limits(env, max_open_positions=1)
    env.price("NSE:SBIN", 812.00)
    await env.engine.place(aid, spec())
    await sync_account(env.engine, (await env.engine.account(aid))[0])
    assert await env.count("positions", aid) == 1
    await _rejected(env, aid, "max_open_positions", tradingsymbol="INFY", price_paise=150000)


async def test_risk_when_capital_per_position_exceeded_rejects(env: Env) -> None:
    aid = await _limits(env, max_capital_per_position_paise=1_000_000)  # ₹10,000
    await _rejected(env, aid, "max_capital_per_position", quantity=13)


async def test_risk_when_market_closed_rejects_unless_amo(env: Env) -> None:
    aid = await env.add_account()
    env.clock.set(datetime(2026, 3, 10, 8, 0, tzinfo=IST))
    await _rejected(env, aid, "market_hours")
    row, _ = await env.engine.place(aid, spec(variety="amo"))
    assert row["status"] in ("OPEN", "COMPLETE")


async def test_risk_when_duplicate_within_window_rejects_unless_allowed(env: Env) -> None:
    aid = await env.add_account()
    env.price("NSE:SBIN", 820.00)  # rests
    await env.engine.place(aid, spec("first"))
    with pytest.raises(RiskRejected) as exc:
        await env.engine.place(aid, spec("second"))
    assert exc.value.rule == "duplicate_order"
    row, dup = await env.engine.place(aid, spec("third", allow_duplicate=True))
    assert not dup and row["status"] == "OPEN"


async def _redis_now(env: Env) -> float:
    sec, usec = await env.engine.redis.time()
    return sec + usec / 1e6


async def _submit_for(env: Env, aid: str, seconds: float, tasks: int = 2,
                      **kw) -> tuple[list[tuple[float, float]], list[RateLimited]]:
    """Place orders continuously from `tasks` tasks for `seconds` (Redis' clock). For each
    accepted order, the Redis instants just before and just after its place(): the throttle
    granted it somewhere in between. Every order has its own quantity (no duplicate guard)."""
    accepted: list[tuple[float, float]] = []
    limited: list[RateLimited] = []
    qty = iter(range(1, 10_000))
    end = await _redis_now(env) + seconds

    async def loop() -> None:
        while (before := await _redis_now(env)) < end:
            try:
                await env.engine.place(aid, spec(quantity=next(qty), **kw))
            except RateLimited as exc:
                limited.append(exc)
            else:
                accepted.append((before, await _redis_now(env)))
            await asyncio.sleep(0.01)

    await asyncio.gather(*(loop() for _ in range(tasks)))
    return accepted, limited


def _tightest_span(accepted: list[tuple[float, float]], k: int) -> float:
    """The shortest interval that surely contains the grants of some k accepted orders:
    min over k orders (consecutive by start) of latest after − earliest before. If a limiter
    let k grants into one second, the k orders holding them give a span below 1 s only when
    the calls were quick; a correct limiter can never give one below 1 s."""
    acc = sorted(accepted)
    return min(max(a for _, a in acc[i:i + k]) - acc[i][0] for i in range(len(acc) - k + 1))


async def test_risk_when_orders_submitted_for_two_seconds_no_sliding_second_exceeds_limit(
        env: Env) -> None:
    aid = await _limits(env, max_orders_per_second=3)
    env.price("NSE:SBIN", 820.00)  # every order rests
    accepted, limited = await _submit_for(env, aid, 2.2)
    assert len(accepted) >= 4  # at least 3 in the first second and 1 after it
    # any 4 accepted orders: their grants are ≥ 1 s apart (≤ 3 in any rolling second)
    assert _tightest_span(accepted, 4) >= 1.0
    assert limited and all(r.field == "max_orders_per_second" for r in limited)
    assert await env.count("orders", aid) == len(accepted)
    audited = await env.pool.fetchval(
        "SELECT count(*) FROM audit_logs WHERE account_id = $1 AND action = 'order_rejected'"
        " AND detail->>'rule' = 'max_orders_per_second'", aid)
    assert audited == len(limited)


async def test_risk_when_segment_rate_continuous_sebi_governor_keeps_below_ten(
        env: Env) -> None:
    aid = await _limits(env, max_orders_per_second=50)
    env.price("NSE:SBIN", 820.00)
    accepted, limited = await _submit_for(env, aid, 2.2, tasks=3)
    assert len(accepted) >= 10
    assert _tightest_span(accepted, 10) >= 1.0  # ≤ 9 in any rolling second: below SEBI's 10
    assert limited and all(r.field == "sebi_ops" for r in limited)


async def test_risk_when_burst_of_fourteen_governor_admits_nine(env: Env) -> None:
    aid = await _limits(env, max_orders_per_second=50)
    env.price("NSE:SBIN", 820.00)
    before = await _redis_now(env)
    results = await asyncio.gather(*[env.engine.place(aid, spec(quantity=1 + i))
                                     for i in range(14)], return_exceptions=True)
    limited = [r for r in results if isinstance(r, RateLimited)]
    assert all(r.field == "sebi_ops" for r in limited)
    if await _redis_now(env) - before < 1.0:  # all 14 decided inside one second
        assert await env.count("orders", aid) == 9 and len(limited) == 5


async def test_risk_when_cancel_follows_a_full_second_it_waits_for_its_slot(
        env: Env) -> None:
    """Cancellations count as order requests: after 3 placements at 3/s, a cancel is sent
    only once the first placement's grant has left the rolling second."""
    aid = await _limits(env, max_orders_per_second=3)
    env.price("NSE:SBIN", 820.00)
    first = await _redis_now(env)
    rows = [(await env.engine.place(aid, spec(quantity=1 + i)))[0] for i in range(3)]
    sent: list[float] = []
    broker = env.engine.brokers.get((await env.engine.account(aid))[0])
    real_cancel = broker.cancel_order

    async def timed_cancel(broker_order_id: str) -> None:
        sent.append(await _redis_now(env))
        await real_cancel(broker_order_id)

    broker.cancel_order = timed_cancel  # records when the cancel reached the broker
    try:
        row = await env.engine.cancel(aid, rows[0]["order_id"])
    finally:
        del broker.cancel_order
    assert row["status"] == "CANCELLED"
    assert len(sent) == 1 and sent[0] - first >= 1.0  # the 4th request in this account


async def test_risk_when_daily_loss_limit_hit_blocks_next_order(env: Env) -> None:
    aid = await _limits(env, daily_loss_limit_paise=50_000)  # ₹500
    account, _ = await env.engine.account(aid)
    env.price("NSE:SBIN", 812.00)
    await env.engine.place(aid, spec(quantity=10))
    await sync_account(env.engine, account)
    env.price("NSE:SBIN", 750.00)  # a ₹620 loss on the exit
    await env.engine.place(aid, spec(side="SELL", quantity=10, price_paise=74000,
                                     allow_duplicate=True))
    await sync_account(env.engine, account)
    stats = await env.pool.fetchrow("SELECT * FROM daily_stats WHERE account_id = $1", aid)
    assert stats["trading_blocked"] and stats["realized_pnl_paise"] < -50_000
    await _rejected(env, aid, "daily_loss_limit", price_paise=75000)


async def test_risk_when_freeze_quantity_exceeded_slices_into_children(env: Env) -> None:
    aid = await _limits(env, max_order_value_paise=10**11, max_capital_per_position_paise=10**11)
    env.price("NFO:NIFTY26MARFUT", 24000.00)
    row, _ = await env.engine.place(aid, spec(exchange="NFO", tradingsymbol="NIFTY26MARFUT",
                                              quantity=1950, product="NRML",
                                              price_paise=2390000))
    kids = await env.pool.fetch(
        "SELECT quantity FROM orders WHERE account_id = $1 AND parent_order_id = $2"
        " ORDER BY client_order_id", aid, row["order_id"])
    assert [k["quantity"] for k in kids] == [1755, 195]
    assert await env.count("paper_orders", aid) == 2


async def test_risk_when_emergency_stopped_rejects(env: Env) -> None:
    aid = await env.add_account()
    await env.pool.execute("UPDATE accounts SET emergency_stop = true WHERE account_id = $1", aid)
    await _rejected(env, aid, "emergency_stop")


@pytest.mark.parametrize("ltp,blocked", [
    (770.00, False),  # open loss 8,120.50 − 7,700.00 = 420.50 < 500
    (762.05, True),   # 8,120.50 − 7,620.50 = 500.00: reaching the limit is hitting it
    (760.00, True),   # 8,120.50 − 7,600.00 = 520.50
])
async def test_risk_when_open_loss_reaches_limit_blocks_without_an_exit(
        env: Env, ltp: float, blocked: bool) -> None:
    aid = await _limits(env, daily_loss_limit_paise=50_000)  # ₹500
    account, _ = await env.engine.account(aid)
    env.price("NSE:SBIN", 812.00)  # the 812.35 buy fills at the ask 812.05: cost ₹8,120.50
    await env.engine.place(aid, spec(quantity=10))
    await sync_account(env.engine, account)
    env.price("NSE:SBIN", ltp)
    await sync_account(env.engine, account)  # marks the open position to market
    assert await env.count("trades", aid) == 0  # nothing realized
    stats = await env.pool.fetchrow("SELECT * FROM daily_stats WHERE account_id = $1", aid)
    assert bool(stats and stats["trading_blocked"]) is blocked
    hits = await env.pool.fetch("SELECT detail FROM audit_logs WHERE account_id = $1"
                                " AND action = 'daily_loss_limit_hit'", aid)
    assert len(hits) == (1 if blocked else 0)
    # the dashboard's loss card shows the loss the limit enforces: ₹8,120.50 − 10 × ltp
    card = await dashboards.daily(env.pool, env.engine.clock, aid)
    assert card["loss_used_paise"] == 812_050 - 10 * round(ltp * 100)
    assert card["trading_blocked"] is blocked
    if not blocked:
        row, _ = await env.engine.place(aid, spec(tradingsymbol="INFY", price_paise=150000))
        assert row["status"] in ("OPEN", "COMPLETE")
        return
    assert json.loads(hits[0]["detail"])["unrealized_paise"] == 10 * round(ltp * 100) - 812_050
    await _rejected(env, aid, "daily_loss_limit", tradingsymbol="INFY", price_paise=150000)
    # an exit stays allowed
    row, _ = await env.engine.place(aid, spec(side="SELL", price_paise=round(ltp * 100) - 100))
    assert row["status"] in ("OPEN", "COMPLETE")


async def test_risk_when_loss_limit_hit_and_account_says_so_squares_off(env: Env) -> None:
    aid = await _limits(env, daily_loss_limit_paise=50_000, square_off_on_loss_limit=True)
    account, _ = await env.engine.account(aid)
    env.price("NSE:SBIN", 812.00)
    env.price("NSE:INFY", 1510.00)
    await env.engine.place(aid, spec(quantity=10))  # fills at 812.05
    resting, _ = await env.engine.place(aid, spec(tradingsymbol="INFY", quantity=1,
                                                  price_paise=150000))  # below the ask: rests
    await sync_account(env.engine, account)
    env.price("NSE:SBIN", 750.00)  # open loss 8,120.50 − 7,500.00 = 620.50 ≥ 500
    await sync_account(env.engine, account)  # latches and squares off
    await sync_account(env.engine, account)  # books the square-off fill
    trade = await env.pool.fetchrow("SELECT * FROM trades WHERE account_id = $1", aid)
    # sold at the bid 749.95: gross (749.95 − 812.05) × 10 = −621.00
    assert trade["exit_reason"] == "auto_loss_limit" and trade["realized_pnl_paise"] == -62_100
    assert await env.pool.fetchval("SELECT count(*) FROM positions WHERE account_id = $1"
                                   " AND status = 'open'", aid) == 0
    assert await env.pool.fetchval("SELECT status FROM orders WHERE order_id = $1",
                                   resting["order_id"]) == "CANCELLED"
    assert await env.pool.fetchval("SELECT count(*) FROM audit_logs WHERE account_id = $1"
                                   " AND action = 'loss_limit_square_off'", aid) == 1
