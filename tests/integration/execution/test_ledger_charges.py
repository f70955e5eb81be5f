"""The ledger's charges on a real PostgreSQL ledger, fills booked straight through `record_fill`:
brokerage once per executed order (finding B), CNC bought and sold the same day at intraday
rates and the DP charge on delivery sells (C, J/1.14), position flips splitting the fill's
charges with every paisa booked once (M8). Every figure is worked by hand in the comments at the
2024-10-01 rates (NSE txn with IPFT: equity 0.00307 %, options 0.03553 %; SEBI 0.0001 %; GST
18 %)."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

import pytest

from services.execution.instruments import info_from_row
from services.execution.ledger import Fill, record_fill
from tests.integration.execution.kit import INSTRUMENTS, MARKET_OPEN, Env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

INST = {(r["exchange"], r["tradingsymbol"]): info_from_row(r) for r in INSTRUMENTS}
SECONDS = itertools.count(1)  # fills in booking order, all inside the session


async def _order(env: Env, aid: str, exchange: str, symbol: str, side: str, qty: int,
                 product: str) -> str:
    oid = "ord_" + uuid.uuid4().hex[:12]
    await env.pool.execute(
        "INSERT INTO orders (order_id, account_id, client_order_id, tag, exchange, tradingsymbol,"
        " side, quantity, order_type, product, status, created_at, updated_at)"
        " VALUES ($1,$2,$1,$1,$3,$4,$5,$6,'MARKET',$7,'COMPLETE',$8,$8)",
        oid, aid, exchange, symbol, side, qty, product, MARKET_OPEN)
    return oid


async def _fills(env: Env, aid: str, exchange: str, symbol: str, side: str, product: str,
                 parts: list[tuple[int, int]], *, day: int = 0) -> list[Any]:
    """One order filled in `parts` (qty, price paise) trades; returns what record_fill said."""
    oid = await _order(env, aid, exchange, symbol, side, sum(q for q, _ in parts), product)
    out = []
    for k, (qty, price) in enumerate(parts):
        ts = MARKET_OPEN + timedelta(days=day, seconds=next(SECONDS))
        fill = Fill(f"{oid}-{k}", oid, exchange, symbol, product, side, qty, price, ts)
        async with env.pool.acquire() as conn, conn.transaction():
            out.append(await record_fill(conn, aid, fill, INST[exchange, symbol]))
    return out


async def _fill_charges(env: Env, aid: str) -> list[int]:
    rows = await env.pool.fetch("SELECT charges_paise FROM fills WHERE account_id = $1"
                                " ORDER BY ts, broker_trade_id", aid)
    return [r["charges_paise"] for r in rows]


async def _trades(env: Env, aid: str) -> list[Any]:
    return await env.pool.fetch("SELECT * FROM trades WHERE account_id = $1 ORDER BY exit_ts",
                                aid)


async def _open_position(env: Env, aid: str) -> Any:
    return await env.pool.fetchrow(
        "SELECT * FROM positions WHERE account_id = $1 AND status = 'open'", aid)


async def test_option_order_when_filled_in_three_trades_books_brokerage_once(env: Env) -> None:
    aid = await env.add_account()
    await _fills(env, aid, "NFO", "NIFTY26MAR24000CE", "BUY", "NRML", [(250, 10000)] * 3)
    # Cumulative order charges (buy, premium ₹100):
    #   250 → turnover 25,000: ₹20 flat + txn 8.8825 → 8.88 + SEBI 0.025 → 0.03 + stamp 0.75
    #         + GST 18 % × 28.91 = 5.2038 → 5.20 = 34.86
    #   500 → 50,000: 20 + 17.765 → 17.77 + 0.05 + 1.50 + GST 18 % × 37.82 = 6.8076 → 6.81 = 46.13
    #   750 → 75,000: 20 + 26.6475 → 26.65 + 0.075 → 0.08 + 2.25 + GST 18 % × 46.73 = 8.41 = 57.39
    # Each trade books the difference: 34.86, 11.27, 11.26 — ₹20 brokerage once, not ₹60.
    assert await _fill_charges(env, aid) == [3486, 1127, 1126]


async def test_mis_order_when_filled_in_four_trades_caps_brokerage_once(env: Env) -> None:
    aid = await env.add_account()
    await _fills(env, aid, "NSE", "SBIN", "BUY", "MIS", [(100, 20000)] * 4)
    # 400 sh @ ₹200 = 80,000: brokerage 0.03 % = 24 → ₹20 cap (4 × ₹6 = ₹24 per trade);
    # txn 2.456 → 2.46; SEBI 0.08; stamp 2.40; GST 18 % × 22.54 = 4.0572 → 4.06; total ₹29.00
    assert sum(await _fill_charges(env, aid)) == 2900


async def test_cnc_when_bought_and_sold_same_day_is_charged_as_intraday(env: Env) -> None:
    aid = await env.add_account()
    await _fills(env, aid, "NSE", "INFY", "BUY", "CNC", [(100, 150000)])
    await _fills(env, aid, "NSE", "INFY", "SELL", "CNC", [(100, 151000)])
    # Intraday rates: brokerage 20 + 20 (0.03 % of 1.5 lakh is 45); STT 0.025 % × 1,51,000 =
    # 37.75; txn 0.00307 % × 3,01,000 = 9.2407 → 9.24; SEBI 0.30; stamp 0.003 % × 1,50,000 =
    # 4.50; GST 18 % × 49.54 = 8.9172 → 8.92; no DP. Total ₹100.71 (delivery rates: ₹334+).
    (t,) = await _trades(env, aid)
    assert t["realized_pnl_paise"] == 100_000  # (1,510 − 1,500) × 100
    assert t["charges_paise"] == 10071
    assert t["net_pnl_paise"] == 100_000 - 10071
    # the buy was booked at delivery rates (no sell yet that day) and the sell takes the
    # difference back: STT 150 + txn 4.605 → 4.61 + SEBI 0.15 + stamp 22.50 + GST 18 % × 4.76 =
    # 0.8568 → 0.86 = 178.12; the sell books 100.71 − 178.12 = −77.41
    assert await _fill_charges(env, aid) == [17812, 10071 - 17812]


async def test_cnc_when_sold_next_day_pays_delivery_rates_and_dp(env: Env) -> None:
    aid = await env.add_account()
    await _fills(env, aid, "NSE", "INFY", "BUY", "CNC", [(50, 150000)])
    await _fills(env, aid, "NSE", "INFY", "SELL", "CNC", [(30, 151000), (20, 151000)], day=1)
    # buy 50 @ 1,500 = 75,000: STT 75.00; txn 2.3025 → 2.30; SEBI 0.075 → 0.08; stamp 0.015 % =
    # 11.25; GST 18 % × 2.38 = 0.4284 → 0.43; total 89.06.
    # sell 50 @ 1,510 = 75,500 the next day: STT 75.50; txn 2.31785 → 2.32; SEBI 0.08; DP ₹13
    # once; GST 18 % × 15.40 = 2.772 → 2.77; total 93.67 (DP with its GST: 15.34).
    trades = await _trades(env, aid)
    assert sum(t["charges_paise"] for t in trades) == 8906 + 9367
    assert sum(await _fill_charges(env, aid)) == 8906 + 9367


async def test_fill_when_applied_twice_books_its_charges_once(env: Env) -> None:
    aid = await env.add_account()
    oid = await _order(env, aid, "NSE", "SBIN", "BUY", 10, "MIS")
    fill = Fill("t-dup", oid, "NSE", "SBIN", "MIS", "BUY", 10, 80000, MARKET_OPEN)
    results = []
    for _ in range(2):
        async with env.pool.acquire() as conn, conn.transaction():
            results.append(await record_fill(conn, aid, fill, INST["NSE", "SBIN"]))
    assert results == [[], None]
    assert await _fill_charges(env, aid) == [338]  # ₹3.38, worked in the flip test below


async def test_long_when_sell_exceeds_it_closes_ten_and_opens_short_five(env: Env) -> None:
    aid = await env.add_account()
    await _fills(env, aid, "NSE", "SBIN", "BUY", "MIS", [(10, 80000)])
    closed = await _fills(env, aid, "NSE", "SBIN", "SELL", "MIS", [(15, 81000)])
    # buy 10 @ 800 = 8,000: brokerage 2.40; txn 0.2456 → 0.25; SEBI 0.01; stamp 0.24;
    # GST 18 % × 2.66 = 0.4788 → 0.48 → 3.38.
    # + sell 15 @ 810 = 12,150: brokerage 2.40 + 3.645 → 3.65 = 6.05; STT 3.0375 → 3.04;
    # stamp 0.24; txn 0.00307 % × 20,150 = 0.6186 → 0.62; SEBI 0.02; GST 18 % × 6.69 = 1.2042
    # → 1.20 → day total 11.17, so the sell fill books fee = 11.17 − 3.38 = 7.79.
    fee = 779
    exit_fee = fee * 10 // 15  # 519
    assert await _fill_charges(env, aid) == [338, fee]
    (t,) = await _trades(env, aid)
    assert [c.trade_id for c in closed[0]] == [t["trade_id"]]
    assert closed[0][0].charges_paise == 857 and closed[0][0].net_pnl_paise == 10_000 - 857
    assert (t["side"], t["quantity"], t["realized_pnl_paise"]) == ("BUY", 10, 10_000)
    assert t["charges_paise"] == 338 + exit_fee == 857
    pos = await _open_position(env, aid)
    assert (pos["quantity"], pos["cost_paise"], pos["average_price_paise"]) == (-5, 405_000,
                                                                                81_000)
    assert pos["entry_charges_paise"] == fee - exit_fee == 260
    # cover the short: buy 5 @ 805 = 4,025 → brokerage 1.2075 → 1.21 (7.26 in all); stamp
    # 0.003 % × 12,025 = 0.36; txn 0.00307 % × 24,175 = 0.742 → 0.74; SEBI 0.02;
    # GST 18 % × 8.02 = 1.4436 → 1.44; day total 12.86 → this fill books 12.86 − 11.17 = 1.69
    await _fills(env, aid, "NSE", "SBIN", "BUY", "MIS", [(5, 80500)])
    t1, t2 = await _trades(env, aid)
    assert (t2["side"], t2["quantity"], t2["realized_pnl_paise"]) == ("SELL", 5, 2_500)
    assert t2["charges_paise"] == 260 + 169
    # every paisa of the day's charges booked exactly once, in closed trades
    assert t1["charges_paise"] + t2["charges_paise"] == sum(await _fill_charges(env, aid)) == 1286
    assert await _open_position(env, aid) is None


async def test_short_when_buy_exceeds_it_closes_ten_and_opens_long_five(env: Env) -> None:
    aid = await env.add_account()
    await _fills(env, aid, "NSE", "SBIN", "SELL", "MIS", [(10, 81000)])
    await _fills(env, aid, "NSE", "SBIN", "BUY", "MIS", [(15, 80000)])
    # sell 10 @ 810 = 8,100: brokerage 2.43; STT 2.025 → 2.03; txn 0.24867 → 0.25; SEBI 0.01;
    # GST 18 % × 2.69 = 0.4842 → 0.48 → 5.20.
    # + buy 15 @ 800 = 12,000: brokerage 2.43 + 3.60 = 6.03; STT 2.03; stamp 0.36;
    # txn 0.00307 % × 20,100 = 0.617 → 0.62; SEBI 0.02; GST 18 % × 6.67 = 1.2006 → 1.20
    # → 10.26, so the buy books fee = 10.26 − 5.20 = 5.06.
    fee = 506
    exit_fee = fee * 10 // 15  # 337
    assert await _fill_charges(env, aid) == [520, fee]
    (t,) = await _trades(env, aid)
    assert (t["side"], t["quantity"], t["realized_pnl_paise"]) == ("SELL", 10, 10_000)
    assert t["charges_paise"] == 520 + exit_fee == 857
    pos = await _open_position(env, aid)
    assert (pos["quantity"], pos["cost_paise"], pos["entry_charges_paise"]) == (
        5, 400_000, fee - exit_fee)
    assert t["charges_paise"] + pos["entry_charges_paise"] == 520 + fee


async def test_a_busy_cnc_day_booked_out_of_time_order_adds_up_to_its_contract_note(
        env: Env) -> None:
    """Sixty fills of twenty CNC orders (buys and sells, one to five trades each) reach the
    ledger in shuffled order: whatever each booked, the day's fills add up to day_charges of
    the whole day in time order — each fill prices the day once and takes the earlier fills'
    booked sum as the day's total before it."""
    import random

    from mandi.core.charges import Execution, day_charges

    rng = random.Random(11)
    aid = await env.add_account()
    fills = []
    for n in range(20):
        side = "SELL" if n % 3 else "BUY"  # more sold than bought: a delivery sell too
        oid = await _order(env, aid, "NSE", "INFY", side, 1, "CNC")
        for k in range(rng.randint(1, 5)):
            ts = MARKET_OPEN + timedelta(seconds=rng.randint(1, 20_000))
            fills.append(Fill(f"{oid}-{k}", oid, "NSE", "INFY", "CNC", side,
                              rng.randint(1, 40), rng.randint(140_000, 160_000), ts))
    rng.shuffle(fills)
    for fill in fills:
        async with env.pool.acquire() as conn, conn.transaction():
            assert await record_fill(conn, aid, fill, INST["NSE", "INFY"]) is not None
    ordered = sorted(fills, key=lambda f: (f.ts, f.broker_trade_id))
    note = day_charges("equity_delivery", [Execution(f.order_id, f.side, f.quantity,
                                                     f.price_paise) for f in ordered],
                       MARKET_OPEN.date(), "NSE")
    assert note.dp > 0 and note.brokerage > 0  # delivery sells and an intraday share
    assert sum(await _fill_charges(env, aid)) == note.total
