"""Kite's and the exchanges' order rules through the real order path (PostgreSQL, Redis, the
PaperBroker): stock options never go out as MARKET, order windows by IST time, TTL validity,
disclosed quantity, GTT trigger distance and the 250 cap, the freeze table as data, the
aggregate exposure cap and the daily loss limit with open losses."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput, PreconditionFailed
from services.execution import gtt, instruments
from services.execution.accounts import RiskLimits
from services.execution.risk import RiskRejected
from services.execution.sync import sync_account
from tests.integration.execution.kit import Env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

STOCK_OPT = dict(exchange="NFO", tradingsymbol="SBIN26MAR820CE", product="NRML", quantity=750)


async def _account(env: Env, **kw) -> str:
    return await env.add_account(replace(RiskLimits(), **kw))


async def _sync(env: Env, aid: str) -> None:
    await sync_account(env.engine, (await env.engine.account(aid))[0])


# --- stock options: no MARKET / SL-M at Zerodha ------------------------------------------------
async def test_stock_option_market_buy_goes_out_as_protected_limit(env: Env) -> None:
    # Choice documented here: Mandi converts (never refuses) a MARKET order on a stock option
    # into a LIMIT at LTP + protection, rounded down onto the tick so it never pays more than
    # the protection allows. 12.35 × 1.02 = 12.597 → tick 0.05 → 12.55.
    aid = await _account(env, max_capital_per_position_paise=10**9)
    env.price("NFO:SBIN26MAR820CE", 12.35)
    row, dup = await env.engine.place(aid, spec("so-buy", order_type="MARKET", price_paise=0,
                                                **STOCK_OPT))
    assert not dup
    assert (row["order_type"], row["price_paise"], row["market_protection"]) == ("LIMIT", 1255, 2)
    sent = await env.pool.fetchrow(
        "SELECT order_type, price_paise FROM paper_orders WHERE account_id = $1", aid)
    assert (sent["order_type"], sent["price_paise"]) == ("LIMIT", 1255)
    # a retry of the same MARKET request is the same order, not a conflicting reuse of the key
    again, dup = await env.engine.place(aid, spec("so-buy", order_type="MARKET", price_paise=0,
                                                  **STOCK_OPT))
    assert dup and again["order_id"] == row["order_id"]


async def test_stock_option_market_sell_uses_the_orders_own_protection(env: Env) -> None:
    aid = await _account(env, max_capital_per_position_paise=10**9)
    env.price("NFO:SBIN26MAR820CE", 12.35)
    # 12.35 × 0.95 = 11.7325 → rounded up onto the tick (never sells for less) → 11.75
    row, _ = await env.engine.place(aid, spec("so-sell", side="SELL", order_type="MARKET",
                                              price_paise=0, market_protection=5, **STOCK_OPT))
    assert (row["order_type"], row["price_paise"], row["market_protection"]) == ("LIMIT", 1175, 5)


async def test_stock_option_sl_m_goes_out_as_sl(env: Env) -> None:
    aid = await _account(env, max_capital_per_position_paise=10**9)
    env.price("NFO:SBIN26MAR820CE", 12.35)
    # trigger 12.60 × 1.02 = 12.852 → tick → 12.85
    row, _ = await env.engine.place(aid, spec("so-slm", order_type="SL-M", price_paise=0,
                                              trigger_price_paise=1260, **STOCK_OPT))
    assert (row["order_type"], row["price_paise"], row["trigger_price_paise"]) == \
        ("SL", 1285, 1260)


async def test_index_option_market_stays_market(env: Env) -> None:
    aid = await _account(env, max_capital_per_position_paise=10**9)
    row, _ = await env.engine.place(aid, spec(exchange="NFO", tradingsymbol="NIFTY26MAR24000CE",
                                              product="NRML", quantity=65, order_type="MARKET",
                                              price_paise=0))
    assert row["order_type"] == "MARKET" and row["price_paise"] == 0


async def test_stock_option_modify_to_market_becomes_protected_limit(env: Env) -> None:
    aid = await _account(env, max_capital_per_position_paise=10**9)
    env.price("NFO:SBIN26MAR820CE", 12.35)  # ask 12.40: a 12.00 bid rests
    row, _ = await env.engine.place(aid, spec("so-mod", price_paise=1200, **STOCK_OPT))
    got = await env.engine.modify(aid, row["order_id"], order_type="MARKET")
    # 12.35 × 1.02 → 12.55, as on place
    assert (got["order_type"], got["price_paise"]) == ("LIMIT", 1255)
    sent = await env.pool.fetchrow(
        "SELECT order_type, price_paise FROM paper_orders WHERE account_id = $1", aid)
    assert (sent["order_type"], sent["price_paise"]) == ("LIMIT", 1255)


async def test_emergency_square_off_of_a_stock_option_goes_out_as_protected_limit(
        env: Env) -> None:
    from services.execution.emergency import emergency_stop

    aid = await _account(env, max_capital_per_position_paise=10**9)
    env.price("NFO:SBIN26MAR820CE", 12.35)  # bid 12.30, ask 12.40
    await env.engine.place(aid, spec("so-long", price_paise=1245, **STOCK_OPT))
    await _sync(env, aid)
    result = await emergency_stop(env.engine, aid, reason="drill", actor="test")
    assert result.positions_squared_off == 1
    out = await env.pool.fetchrow("SELECT * FROM orders WHERE account_id = $1"
                                  " AND purpose = 'squareoff'", aid)
    # a sell: 12.35 × 0.98 = 12.103 → rounded up onto the tick → 12.15
    assert (out["order_type"], out["price_paise"], out["side"]) == ("LIMIT", 1215, "SELL")
    assert await env.pool.fetchval("SELECT count(*) FROM positions WHERE account_id = $1"
                                   " AND status = 'open'", aid) == 0


# --- order windows (IST) ---------------------------------------------------------------------
TUE = datetime(2026, 3, 10, tzinfo=IST)   # a trading day
SAT = datetime(2026, 3, 14, tzinfo=IST)
MUHURAT = datetime(2024, 11, 1, tzinfo=IST)  # Diwali: closed but for 18:00-19:00
FUT = dict(exchange="NFO", tradingsymbol="NIFTY26MARFUT", product="NRML", quantity=65,
           price_paise=2400000)


@pytest.mark.parametrize("when,kw,rule", [
    (TUE.replace(hour=9, minute=3), {}, None),                              # equity pre-open
    (TUE.replace(hour=9, minute=3), FUT, "market_hours"),                   # no F&O pre-open
    (TUE.replace(hour=9, minute=10), {}, "market_hours"),                   # pre-open buffer
    (TUE.replace(hour=11), {"variety": "amo"}, "amo_window"),               # AMO in session
    (TUE.replace(hour=15, minute=50), {"variety": "amo"}, "amo_window"),    # equity from 16:00
    (TUE.replace(hour=15, minute=50), {**FUT, "variety": "amo"}, None),     # F&O from 15:45
    (TUE.replace(hour=16, minute=1), {"variety": "amo"}, None),
    (TUE.replace(hour=8, minute=59), {"variety": "amo"}, "amo_window"),     # equity to 08:58
    (TUE.replace(hour=9, minute=5), {**FUT, "variety": "amo"}, None),       # F&O to 09:10
    (TUE.replace(hour=2), {"variety": "amo"}, "amo_window"),                # 01:00-05:30 none
    (SAT.replace(hour=11), {"variety": "amo"}, None),                       # weekend: AMO
    (TUE.replace(hour=15, minute=21), {"product": "MIS"}, "mis_cutoff"),    # equity 15:20
    (TUE.replace(hour=15, minute=21), {**FUT, "product": "MIS"}, None),     # F&O 15:25
    (TUE.replace(hour=15, minute=26), {**FUT, "product": "MIS"}, "mis_cutoff"),
    (TUE.replace(hour=15, minute=21), {"product": "CNC"}, None),
    (MUHURAT.replace(hour=18, minute=30), {}, None),                        # Muhurat hour
    (MUHURAT.replace(hour=11), {}, "market_hours"),                         # a holiday's morning
])
async def test_order_windows_by_ist_time(env: Env, when: datetime, kw: dict,
                                         rule: str | None) -> None:
    aid = await _account(env, max_order_value_paise=10**10, max_capital_per_position_paise=10**10)
    env.clock.set(when)
    if rule is None:
        row, _ = await env.engine.place(aid, spec(**kw))
        assert row["status"] in ("OPEN", "COMPLETE")
        return
    with pytest.raises(RiskRejected) as exc:
        await env.engine.place(aid, spec(**kw))
    assert exc.value.rule == rule and exc.value.message  # a reason in words
    assert await env.count("orders", aid) == 0


async def test_mis_exit_after_cutoff_is_still_taken(env: Env) -> None:
    aid = await env.add_account()
    env.price("NSE:SBIN", 812.00)  # the 812.35 buy fills at the ask 812.05
    env.clock.set(TUE.replace(hour=14))
    await env.engine.place(aid, spec("mis-in", product="MIS"))
    await _sync(env, aid)
    env.clock.set(TUE.replace(hour=15, minute=22))
    with pytest.raises(RiskRejected) as exc:  # adding to it is a fresh MIS order
        await env.engine.place(aid, spec("mis-add", product="MIS", quantity=5))
    assert exc.value.rule == "mis_cutoff" and "15:20" in exc.value.message
    row, _ = await env.engine.place(aid, spec("mis-out", product="MIS", side="SELL",
                                              price_paise=81200))
    assert row["status"] in ("OPEN", "COMPLETE")


# --- TTL validity and Kite's other order fields ----------------------------------------------
async def test_ttl_order_is_sent_with_its_minutes_and_expires(env: Env) -> None:
    aid = await env.add_account()
    env.price("NSE:SBIN", 820.00)  # a 812.35 bid rests
    row, _ = await env.engine.place(aid, spec("ttl-1", validity="TTL", validity_ttl=5))
    assert (row["validity"], row["validity_ttl"]) == ("TTL", 5)
    sent = await env.pool.fetchrow("SELECT * FROM paper_orders WHERE account_id = $1", aid)
    # placed at 10:00:00 IST with 5 minutes to live
    assert sent["validity"] == "TTL" and sent["expires_at"] == env.clock.now() + \
        timedelta(minutes=5)
    env.clock.set(env.clock.now() + timedelta(minutes=4))
    await _sync(env, aid)
    assert await env.pool.fetchval("SELECT status FROM orders WHERE order_id = $1",
                                   row["order_id"]) == "OPEN"
    env.clock.set(env.clock.now() + timedelta(minutes=2))
    await _sync(env, aid)
    got = await env.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1", row["order_id"])
    assert got["status"] == "CANCELLED" and "TTL" in got["status_message"]


async def test_paper_amo_waits_for_the_next_session_then_fills(env: Env) -> None:
    """Kite holds an AMO until the exchange opens; the paper broker must not fill it at once."""
    aid = await _account(env, max_order_value_paise=10**10, max_capital_per_position_paise=10**10)
    env.clock.set(TUE.replace(hour=16, minute=1))      # Tue 16:01 IST: the equity AMO window
    env.price("NSE:SBIN", 812.00)  # the 812.35 buy would fill on arrival at the ask, 812.05
    row, _ = await env.engine.place(aid, spec("amo-1", variety="amo"))
    held = await env.pool.fetchrow("SELECT * FROM paper_orders WHERE account_id = $1", aid)
    assert (held["status"], held["filled_quantity"]) == ("AMO REQ RECEIVED", 0)
    env.clock.set(TUE.replace(hour=23))                # still closed: nothing trades
    await _sync(env, aid)
    assert await env.count("fills", aid) == 0
    assert await env.pool.fetchval("SELECT status FROM orders WHERE order_id = $1",
                                   row["order_id"]) == "OPEN"  # AMO REQ RECEIVED folds to OPEN
    env.clock.set((TUE + timedelta(days=1)).replace(hour=9, minute=15, second=30))  # Wed open
    await _sync(env, aid)
    got = await env.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1", row["order_id"])
    assert (got["status"], got["filled_quantity"], got["average_price_paise"]) == \
        ("COMPLETE", 10, 81235)  # a resting LIMIT trades at its own price at the open


@pytest.mark.parametrize("kw,field", [
    ({"validity": "TTL"}, "validity_ttl"),                     # TTL needs its minutes
    ({"validity": "DAY", "validity_ttl": 5}, "validity_ttl"),  # minutes only with TTL
    ({"order_type": "MARKET", "price_paise": 0, "market_protection": -0.5}, "market_protection"),
    ({"market_protection": 2}, "market_protection"),           # LIMIT takes none
    ({"disclosed_quantity": 11}, "disclosed_quantity"),        # above the quantity 10
    ({"quantity": 100, "disclosed_quantity": 9}, "disclosed_quantity"),  # < 10% of 100
    ({**FUT, "disclosed_quantity": 65}, "disclosed_quantity"),  # not in F&O
])
async def test_kite_order_fields_when_bad_name_the_field(env: Env, kw: dict, field: str) -> None:
    aid = await _account(env, max_order_value_paise=10**10, max_capital_per_position_paise=10**10)
    with pytest.raises(InvalidInput) as exc:
        await env.engine.place(aid, spec(**kw))
    assert exc.value.field == field
    assert await env.count("orders", aid) == 0


async def test_disclosed_quantity_and_protection_are_stored(env: Env) -> None:
    aid = await env.add_account()
    row, _ = await env.engine.place(aid, spec(quantity=10, disclosed_quantity=1))  # 10 % of 10
    assert row["disclosed_quantity"] == 1
    row, _ = await env.engine.place(aid, spec(order_type="MARKET", price_paise=0,
                                              market_protection=3, tradingsymbol="INFY"))
    assert (row["order_type"], row["market_protection"]) == ("MARKET", 3)


# --- GTT rules --------------------------------------------------------------------------------
def _leg(trigger: int, price: int | None = None, side: str = "SELL", qty: int = 5) -> dict:
    return {"trigger_price_paise": trigger, "side": side, "quantity": qty,
            "price_paise": price or trigger}


async def test_gtt_trigger_closer_than_quarter_percent_is_refused(env: Env) -> None:
    aid = await env.add_account()
    env.price("NSE:SBIN", 812.00)
    # 0.25 % of 812.00 = 2.03 → a trigger at 814.00 (2.00 away) is refused, 814.05 is taken
    with pytest.raises(InvalidInput) as exc:
        await gtt.create(env.engine, aid, exchange="NSE", symbol="SBIN", product="CNC",
                         legs=[_leg(81400)])
    assert exc.value.field == "trigger_price" and "0.25%" in exc.value.message
    row = await gtt.create(env.engine, aid, exchange="NSE", symbol="SBIN", product="CNC",
                           legs=[_leg(81405)])
    assert row["status"] == "active"
    with pytest.raises(InvalidInput):  # a modify is held to the same rule
        await gtt.modify(env.engine, aid, row["gtt_id"], [_leg(81000)])


async def test_gtt_trigger_rule_below_50_rupees_is_nine_paise(env: Env) -> None:
    aid = await _account(env, max_capital_per_position_paise=10**9)
    env.price("NFO:SBIN26MAR820CE", 12.35)
    # below ₹50 the gap is 9 paise: 12.40 (5 paise away) refused, 12.45 (10 away) taken
    with pytest.raises(InvalidInput):
        await gtt.create(env.engine, aid, exchange="NFO", symbol="SBIN26MAR820CE",
                         product="NRML", legs=[_leg(1240, qty=750)])
    row = await gtt.create(env.engine, aid, exchange="NFO", symbol="SBIN26MAR820CE",
                           product="NRML", legs=[_leg(1245, qty=750)])
    assert row["status"] == "active"


async def test_gtt_when_250_active_the_next_is_refused(env: Env) -> None:
    aid = await env.add_account()
    env.price("NSE:SBIN", 812.00)
    now = env.clock.now()
    await env.pool.executemany(  # 249 GTTs already active on the account
        "INSERT INTO gtts (gtt_id, account_id, broker_gtt_id, exchange, tradingsymbol, product,"
        " type, legs, status, created_at, updated_at)"
        " VALUES ($1, $2, $3, 'NSE', 'SBIN', 'CNC', 'single', '[]', 'active', $4, $4)",
        [(f"gtt_fill{i}_{aid}", aid, f"b{i}_{aid}", now) for i in range(249)])
    row = await gtt.create(env.engine, aid, exchange="NSE", symbol="SBIN", product="CNC",
                           legs=[_leg(84000)])
    assert row["status"] == "active"  # the 250th
    with pytest.raises(PreconditionFailed) as exc:
        await gtt.create(env.engine, aid, exchange="NSE", symbol="SBIN", product="CNC",
                         legs=[_leg(84500)])
    assert exc.value.field == "gtt_limit" and "250" in exc.value.message
    assert await env.count("paper_gtts", aid) == 1


# --- freeze quantities as data ---------------------------------------------------------------
async def test_freeze_table_when_file_updated_slicing_follows(env: Env, tmp_path,
                                                              monkeypatch) -> None:
    aid = await _account(env, max_order_value_paise=10**11, max_capital_per_position_paise=10**11)
    env.price("NFO:NIFTY26MARFUT", 24000.00)
    big = dict(exchange="NFO", tradingsymbol="NIFTY26MARFUT", quantity=1950, product="NRML",
               price_paise=2390000, allow_duplicate=True)
    # shipped table: NIFTY 1800 → slices of 1755 (27 lots of 65) and 1950 − 1755 = 195
    row, _ = await env.engine.place(aid, spec("fz-1", **big))
    kids = await env.pool.fetch("SELECT quantity FROM orders WHERE parent_order_id = $1"
                                " ORDER BY client_order_id", row["order_id"])
    assert [k["quantity"] for k in kids] == [1755, 195]
    table = tmp_path / "freeze.csv"
    table.write_text("underlying,kind,freeze_qty\nNIFTY,index,900\n")
    monkeypatch.setenv("MANDI_EXECUTION_FREEZE_QTY_FILE", str(table))
    try:
        instruments.reload_freeze_table()
        # NIFTY 900 → 13 lots = 845 per slice: 845 + 845 + 260 = 1950
        row, _ = await env.engine.place(aid, spec("fz-2", **big))
        kids = await env.pool.fetch("SELECT quantity FROM orders WHERE parent_order_id = $1"
                                    " ORDER BY client_order_id", row["order_id"])
        assert [k["quantity"] for k in kids] == [845, 845, 260]
    finally:
        monkeypatch.delenv("MANDI_EXECUTION_FREEZE_QTY_FILE")
        instruments.reload_freeze_table()


async def test_freeze_table_when_file_malformed_names_file_and_line(tmp_path) -> None:
    from mandi.core.errors import ConfigError

    bad = tmp_path / "freeze.csv"
    bad.write_text("underlying,kind,freeze_qty\nNIFTY,index,1800\nBANKNIFTY,idx,600\n")
    with pytest.raises(ConfigError) as exc:
        instruments.FreezeTable.from_file(bad)
    assert f"{bad}:3" in exc.value.message


# --- aggregate exposure (seed 003: ₹3,000 per position, ₹2,40,000 in all) --------------------
async def test_total_exposure_cap_refuses_the_order_that_crosses_it(env: Env) -> None:
    aid = await _account(env, max_capital_per_position_paise=300_000,
                         max_total_exposure_paise=500_000)  # ₹3,000 each, ₹5,000 in all
    env.price("NSE:SBIN", 812.00)    # ask 812.05
    env.price("NSE:INFY", 1500.00)   # ask 1500.05
    await env.engine.place(aid, spec("x-1", quantity=3))  # LIMIT 812.35 fills at 812.05
    await env.engine.place(aid, spec("x-2", tradingsymbol="INFY", quantity=1,
                                     price_paise=150010))  # fills at 1500.05
    await _sync(env, aid)
    # deployed: 3 × 812.05 + 1 × 1500.05 = 2436.15 + 1500.05 = ₹3,936.20
    assert await env.pool.fetchval("SELECT sum(cost_paise) FROM positions WHERE account_id = $1"
                                   " AND status = 'open'", aid) == 393_620
    env.price("NFO:SBIN26MAR820CE", 3.00)
    # 750 × 3.00 = ₹2,250 fits the per-position ₹3,000, but 3,936.20 + 2,250 = ₹6,186.20 > ₹5,000
    with pytest.raises(RiskRejected) as exc:
        await env.engine.place(aid, spec("x-3", price_paise=300, **STOCK_OPT))
    assert exc.value.rule == "max_total_exposure" and "5000.00" in exc.value.message
    env.price("NFO:SBIN26MAR820CE", 1.40)
    # 750 × 1.40 = ₹1,050: 3,936.20 + 1,050 = ₹4,986.20 ≤ ₹5,000 → taken
    row, _ = await env.engine.place(aid, spec("x-4", price_paise=140, **STOCK_OPT))
    assert row["status"] in ("OPEN", "COMPLETE")
