"""Acceptance: a replayed two-day run on kitesim (real kiteconnect, PostgreSQL, Redis, the
engine and its worker), the sim clock driven by the test through `/sim/clock`.

Day 1 is Tuesday 2025-11-25, an expiry day. Mandi buys 5 SBIN MIS, 10 INFY CNC and one lot of
the deepest out-of-the-money NIFTY call expiring that day; 3 TCS MIS are bought "in the Kite
app". At 15:20 the broker squares off both MIS positions with its own orders (₹59 each); at
15:30 the call expires worthless. Day 2 the INFY buy is a T1 holding. The ledger, positions and
reconciliation agree with kitesim to the paisa, with no difference reported on either day."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from mandi.core.clock import IST
from mandi.testing.kitesim import start_kitesim
from services.execution.orders import OrderSpec
from services.execution.reconcile import reconcile
from services.execution.worker import Worker
from tests.integration.execution.kitesim_kit import KiteRig, kite_rig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DAY1 = datetime(2025, 11, 25, 10, 0, tzinfo=IST)


def _paise(rupees: float) -> int:
    return round(rupees * 100)


async def _rows(rig: KiteRig, sql: str) -> list[Any]:
    return await rig.engine.pool.fetch(sql, rig.account_id)


def _kite_fills(kite: Any) -> dict[str, list[tuple[str, int, int]]]:
    """kitesim's trade book per symbol: (side, quantity, price in paise)."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    for t in kite.trades():
        out.setdefault(t["tradingsymbol"], []).append(
            (t["transaction_type"], t["quantity"], _paise(t["average_price"])))
    return out


async def test_two_days_mis_squareoff_cnc_holding_and_worthless_expiry_agree_to_the_paisa(
        ledger_dsn: str) -> None:
    sim = start_kitesim(start=DAY1, rate_limits=False)
    sim.login()
    try:
        async with kite_rig(ledger_dsn, sim, DAY1) as rig:
            await _run(rig)
    finally:
        sim.stop()


async def _run(rig: KiteRig) -> None:
    sim, engine, aid = rig.sim, rig.engine, rig.account_id
    kite = sim.kite()
    calls = sorted((i for i in kite.instruments("NFO") if i["name"] == "NIFTY"
                    and i["instrument_type"] == "CE" and str(i["expiry"]) == "2025-11-25"),
                   key=lambda i: i["strike"])
    otm = calls[-1]
    lot = otm["lot_size"]
    worker = Worker(engine)
    await worker.run_once()  # first sight of the session (token issued today)
    for spec in (
        OrderSpec("mis1", "NSE", "SBIN", "BUY", 5, "MARKET", "MIS"),
        OrderSpec("cnc1", "NSE", "INFY", "BUY", 10, "MARKET", "CNC"),
        OrderSpec("opt1", "NFO", otm["tradingsymbol"], "BUY", lot, "MARKET", "NRML"),
    ):
        row, _ = await engine.place(aid, spec)
        assert row["status"] in ("OPEN", "COMPLETE"), row["status_message"]
    sim.admin("orders/external", {"exchange": "NSE", "tradingsymbol": "TCS",
                                  "transaction_type": "BUY", "quantity": 3, "product": "MIS"})

    async def all_booked() -> bool:
        n = await engine.pool.fetchval("SELECT coalesce(sum(quantity), 0) FROM fills"
                                       " WHERE account_id = $1", aid)
        return n == 5 + 10 + lot + 3

    await rig.until(all_booked, worker=worker)
    tcs = await _rows(rig, "SELECT * FROM orders WHERE account_id = $1"
                           " AND tradingsymbol = 'TCS'")
    assert [(r["external"], r["purpose"], r["status"]) for r in tcs] == \
        [(True, "adopted", "COMPLETE")]  # the Kite-app order, booked as external

    # --- 15:21: the broker's MIS square-off ---------------------------------------------------
    rig.move(datetime(2025, 11, 25, 15, 21, tzinfo=IST))

    async def squared() -> bool:
        n = await engine.pool.fetchval(
            "SELECT count(*) FROM positions WHERE account_id = $1 AND product = 'MIS'"
            " AND status = 'closed'", aid)
        return n == 2

    await rig.until(squared, worker=worker)
    kfills = _kite_fills(kite)
    for sym, qty in (("SBIN", 5), ("TCS", 3)):
        (bs, bq, bp), (ss, sq, sp) = sorted(kfills[sym], key=lambda f: f[0])
        assert (bs, bq, ss, sq) == ("BUY", qty, "SELL", qty)
        trade = (await _rows(rig, "SELECT * FROM trades WHERE account_id = $1 AND"
                                  f" tradingsymbol = '{sym}' AND quantity > 0"))[0]
        # realized = (square-off price − buy price) × quantity, both from kitesim's trade book
        assert trade["realized_pnl_paise"] == (sp - bp) * qty
        assert (trade["exit_reason"], trade["external"]) == ("auto_squareoff", True)
        kpos = next(p for p in kite.positions()["net"] if p["tradingsymbol"] == sym)
        assert kpos["quantity"] == 0 and _paise(kpos["pnl"]) == trade["realized_pnl_paise"]
    fees = await _rows(rig, "SELECT * FROM trades WHERE account_id = $1"
                            " AND exit_reason = 'auto_squareoff_charge'")
    # two broker square-off orders × (₹50 + 18 % GST = ₹59) = ₹118 = 11,800 paise
    assert sorted(f["charges_paise"] for f in fees) == [5900, 5900]
    assert sim.admin("dayroll")["charges"] == 118.0  # what kitesim debited

    # --- 15:31: the call expires worthless -----------------------------------------------------
    rig.move(datetime(2025, 11, 25, 15, 31, tzinfo=IST))

    async def expired() -> Any:
        return await engine.pool.fetchrow(
            "SELECT * FROM trades WHERE account_id = $1 AND exit_reason LIKE 'expiry%'", aid)

    exp = await rig.until(expired, worker=worker)
    (_, oq, op), = kfills[otm["tradingsymbol"]]
    assert (exp["exit_reason"], exp["exit_price_paise"], exp["quantity"]) == \
        ("expiry_worthless", 0, lot)
    assert exp["realized_pnl_paise"] == -op * oq  # the whole premium paid, lost
    kopt = next(p for p in kite.positions()["net"]
                if p["tradingsymbol"] == otm["tradingsymbol"])
    assert kopt["quantity"] == 0 and _paise(kopt["pnl"]) == exp["realized_pnl_paise"]
    assert await reconcile(engine, aid) == []

    # --- day 2: the INFY buy is a T1 holding ----------------------------------------------------
    (_, iq, ip), = kfills["INFY"]
    rig.move(datetime(2025, 11, 26, 9, 30, tzinfo=IST))
    await worker.run_once()  # the token died at 06:00: the worker renews it first
    assert (await engine.accounts.get(aid)).session_state == "ok"
    kite = rig.sim.kite(await rig.login())
    assert kite.orders() == [] and [p for p in kite.positions()["net"] if p["quantity"]] == []
    infy = next(h for h in kite.holdings() if h["tradingsymbol"] == "INFY")
    assert (infy["quantity"], infy["t1_quantity"]) == (10, iq)  # seeded 10 + T1 10
    pos = (await _rows(rig, "SELECT * FROM positions WHERE account_id = $1"
                            " AND status = 'open'"))
    assert [(p["tradingsymbol"], p["product"], p["quantity"], p["average_price_paise"])
            for p in pos] == [("INFY", "CNC", iq, ip)]
    assert await reconcile(engine, aid) == []
    # the day's net: realized of the three closed trades less every charge booked
    net = await engine.pool.fetchval("SELECT sum(net_pnl_paise) FROM trades"
                                     " WHERE account_id = $1", aid)
    gross = await engine.pool.fetchval("SELECT sum(realized_pnl_paise) FROM trades"
                                       " WHERE account_id = $1", aid)
    charged = await engine.pool.fetchval("SELECT sum(charges_paise) FROM trades"
                                         " WHERE account_id = $1", aid)
    assert net == gross - charged
    stats = await engine.pool.fetchval("SELECT realized_pnl_paise FROM daily_stats"
                                       " WHERE account_id = $1 AND date = '2025-11-25'", aid)
    assert stats == net


async def test_expiry_day_itm_call_cash_settled_and_stock_future_delivered_as_holding(
        ledger_dsn: str) -> None:
    """ITM index call: cash-settled at (index close − strike) per unit, STT 0.125 % on the
    settlement value; RELIANCE future: physical delivery, the shares a CNC position at the
    close. Ledger and kitesim agree, reconciliation is clean before and after the roll."""
    sim = start_kitesim(start=DAY1, rate_limits=False)
    sim.login()
    try:
        async with kite_rig(ledger_dsn, sim, DAY1) as rig:
            engine, aid, kite = rig.engine, rig.account_id, sim.kite()
            nfo = kite.instruments("NFO")
            calls = sorted((i for i in nfo if i["name"] == "NIFTY"
                            and i["instrument_type"] == "CE"
                            and str(i["expiry"]) == "2025-11-25"), key=lambda i: i["strike"])
            itm = calls[len(calls) // 2 - 10]  # ten strikes (₹500) in the money
            fut = next(i for i in nfo if i["tradingsymbol"] == "RELIANCE25NOVFUT")
            worker = Worker(engine)
            for coid, inst in (("itm1", itm), ("fut1", fut)):
                row, _ = await engine.place(aid, OrderSpec(
                    coid, "NFO", inst["tradingsymbol"], "BUY", inst["lot_size"], "MARKET",
                    "NRML"))
                assert row["status"] in ("OPEN", "COMPLETE"), row["status_message"]

            async def booked() -> bool:
                n = await engine.pool.fetchval("SELECT count(*) FROM positions"
                                               " WHERE account_id = $1", aid)
                return n == 2

            await rig.until(booked, worker=worker)
            kfills = _kite_fills(kite)
            rig.move(datetime(2025, 11, 25, 15, 31, tzinfo=IST))

            async def settled() -> bool:
                n = await engine.pool.fetchval(
                    "SELECT count(*) FROM trades WHERE account_id = $1"
                    " AND exit_reason LIKE 'expiry%'", aid)
                return n == 2

            await rig.until(settled, worker=worker)
            nifty = _paise(kite.ltp(["NSE:NIFTY 50"])["NSE:NIFTY 50"]["last_price"])
            rel = _paise(kite.ltp(["NSE:RELIANCE"])["NSE:RELIANCE"]["last_price"])
            strike = _paise(itm["strike"])
            assert nifty > strike
            trades = {t["tradingsymbol"]: t for t in await _rows(
                rig, "SELECT * FROM trades WHERE account_id = $1")}
            (_, cq, cp), = kfills[itm["tradingsymbol"]]
            call = trades[itm["tradingsymbol"]]
            assert (call["exit_reason"], call["exit_price_paise"]) == \
                ("expiry_cash", nifty - strike)
            assert call["realized_pnl_paise"] == (nifty - strike - cp) * cq
            fills = {f["tradingsymbol"]: f for f in await _rows(
                rig, "SELECT * FROM fills WHERE account_id = $1 AND broker_trade_id"
                     " LIKE 'expiry:%'")}
            # STT on exercise: 0.125 % of the settlement value, half-up to the paisa
            value = (nifty - strike) * cq
            assert fills[itm["tradingsymbol"]]["charges_paise"] == (value * 125 + 50_000) \
                // 100_000
            (_, fq, fp), = kfills[fut["tradingsymbol"]]
            ft = trades[fut["tradingsymbol"]]
            assert (ft["exit_reason"], ft["exit_price_paise"]) == ("expiry_delivery", rel)
            assert ft["realized_pnl_paise"] == (rel - fp) * fq
            for sym, t in ((itm["tradingsymbol"], call), (fut["tradingsymbol"], ft)):
                kpos = next(p for p in kite.positions()["net"] if p["tradingsymbol"] == sym)
                assert kpos["quantity"] == 0 and _paise(kpos["pnl"]) == t["realized_pnl_paise"]
            held = await engine.pool.fetchrow(
                "SELECT * FROM positions WHERE account_id = $1 AND status = 'open'", aid)
            assert (held["tradingsymbol"], held["product"], held["quantity"],
                    held["average_price_paise"]) == ("RELIANCE", "CNC", fq, rel)
            assert await reconcile(engine, aid) == []  # kitesim shows it only from tomorrow
            rig.move(datetime(2025, 11, 26, 9, 30, tzinfo=IST))
            await worker.run_once()
            kite = rig.sim.kite(await rig.login())
            h = next(h for h in kite.holdings() if h["tradingsymbol"] == "RELIANCE")
            assert (h["quantity"], h["t1_quantity"]) == (5, fq)  # seeded 5, delivered lot T1
            assert await reconcile(engine, aid) == []
    finally:
        sim.stop()


async def test_day_order_left_working_overnight_expires_in_reconcile_not_a_mismatch(
        ledger_dsn: str) -> None:
    """The worker was not running at the close: the ledger still says OPEN for a DAY order the
    broker expired (its book is empty the next day). Reconcile closes it as CANCELLED."""
    sim = start_kitesim(start=DAY1, rate_limits=False)
    sim.login()
    try:
        async with kite_rig(ledger_dsn, sim, DAY1) as rig:
            engine, aid = rig.engine, rig.account_id
            ltp = sim.kite().ltp(["NSE:SBIN"])["NSE:SBIN"]["last_price"]
            far = round(round(ltp * 0.96 * 20) / 20 * 100)  # 4 % below: rests all day
            worker = Worker(engine)
            await worker.run_once()
            row, _ = await engine.place(aid, OrderSpec("rest1", "NSE", "SBIN", "BUY", 1,
                                                       "LIMIT", "CNC", price_paise=far))
            assert row["status"] == "OPEN"
            rig.move(datetime(2025, 11, 26, 9, 30, tzinfo=IST))  # down across the close
            await worker.run_once()  # renews the session; the broker's book is empty
            assert (await engine.pool.fetchval("SELECT status FROM orders WHERE order_id = $1",
                                               row["order_id"])) == "OPEN"
            diffs = await reconcile(engine, aid)
            assert [(d.key, d.action) for d in diffs] == [(row["order_id"], "updated")]
            got = await engine.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1",
                                             row["order_id"])
            assert (got["status"], got["status_message"]) == \
                ("CANCELLED", "expired at the end of its trading day")
            assert await reconcile(engine, aid) == []  # nothing left to report
    finally:
        sim.stop()
