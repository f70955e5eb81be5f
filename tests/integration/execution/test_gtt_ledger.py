"""Entry → OCO GTT → stop → exit → trade row exact to the paisa, through the PaperBroker; the
ladder's legs each with their own stops; trailing stops that only tighten."""

from __future__ import annotations

import json

import pytest

from mandi.core.errors import PreconditionFailed
from services.execution import gtt
from services.execution.sync import sync_account
from tests.integration.execution.kit import Env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def _sync(env: Env, aid: str | None = None) -> None:
    account, _ = await env.engine.account(aid or env.account_id)
    await sync_account(env.engine, account)


async def test_entry_when_filled_places_oco_and_stop_closes_trade_exact(env: Env) -> None:
    env.price("NSE:SBIN", 815.00, spread=0.05)
    _row, _ = await env.engine.place(env.account_id, spec(
        quantity=37, price_paise=81235, stop_loss_paise=80000, target_paise=84000))
    await _sync(env)
    assert await env.count("gtts") == 0  # not filled yet: no protection needed
    env.price("NSE:SBIN", 812.20, spread=0.05)  # ask 812.25 ≤ 812.35: resting buy trades at 812.35
    await _sync(env)
    g = await env.pool.fetchrow("SELECT * FROM gtts WHERE account_id = $1", env.account_id)
    assert g["status"] == "active" and g["type"] == "two-leg" and g["broker_gtt_id"]
    legs = json.loads(g["legs"])
    assert [(leg["role"], leg["trigger_price_paise"], leg["side"], leg["quantity"])
            for leg in legs] == [("sl", 80000, "SELL", 37), ("tp", 84000, "SELL", 37)]
    assert legs[0]["price_paise"] == 79200  # 1 % below the trigger, on the tick
    env.price("NSE:SBIN", 799.50, spread=0.05)  # through the stop: bid 799.45
    await _sync(env)  # the GTT fires and places its LIMIT sell
    await _sync(env)  # the exit order is adopted and its fill applied
    trade = await env.pool.fetchrow("SELECT * FROM trades WHERE account_id = $1",
                                    env.account_id)
    assert trade is not None, "the stop did not close the position"
    entry, exit_ = 81235, 79945
    # CNC bought and sold the same day: intraday rates (2024-10-01 table, NSE txn with IPFT).
    # buy 37 × 812.35 = 30,056.95; sell 37 × 799.45 = 29,579.65; turnover 59,636.60.
    # brokerage 0.03 %: 9.017 → 9.02 + 8.874 → 8.87 = 17.89; STT 0.025 % × 29,579.65 = 7.395
    # → 7.39; txn 0.00307 % × 59,636.60 = 1.8308 → 1.83; SEBI 0.0596 → 0.06; stamp 0.003 % ×
    # 30,056.95 = 0.9017 → 0.90; GST 18 % × (17.89 + 1.83 + 0.06) = 3.5604 → 3.56; total ₹31.63
    fee = 3163
    assert (trade["entry_price_paise"], trade["exit_price_paise"]) == (entry, exit_)
    assert trade["realized_pnl_paise"] == (exit_ - entry) * 37
    assert trade["charges_paise"] == fee
    assert trade["net_pnl_paise"] == (exit_ - entry) * 37 - fee
    assert trade["exit_reason"] == "stop_loss"
    pos = await env.pool.fetchrow("SELECT * FROM positions WHERE account_id = $1",
                                  env.account_id)
    assert pos["status"] == "closed" and pos["quantity"] == 0
    assert (await env.pool.fetchval("SELECT status FROM gtts WHERE account_id = $1",
                                    env.account_id)) == "triggered"
    stats = await env.pool.fetchrow("SELECT * FROM daily_stats WHERE account_id = $1",
                                    env.account_id)
    assert stats["realized_pnl_paise"] == trade["net_pnl_paise"] and stats["trades"] == 1


async def test_partial_exits_when_summed_book_every_paisa_of_cost_once(env: Env) -> None:
    aid = env.account_id
    env.price("NSE:SBIN", 812.00, spread=0.05)  # buys at ask 812.05
    await env.engine.place(aid, spec(quantity=3, price_paise=81300))
    await _sync(env)
    env.price("NSE:SBIN", 812.50, spread=0.05)  # buys at 812.55
    await env.engine.place(aid, spec(quantity=4, price_paise=81300, allow_duplicate=True))
    await _sync(env)
    pos = await env.pool.fetchrow("SELECT * FROM positions WHERE account_id = $1", aid)
    assert pos["cost_paise"] == 3 * 81205 + 4 * 81255 and pos["quantity"] == 7
    env.price("NSE:SBIN", 820.00, spread=0.05)  # sells at bid 819.95
    for q in (2, 2, 3):
        await env.engine.place(aid, spec(side="SELL", quantity=q, price_paise=81900,
                                         allow_duplicate=True))
        await _sync(env)
    trades = await env.pool.fetch("SELECT * FROM trades WHERE account_id = $1", aid)
    assert len(trades) == 3
    fills = await env.pool.fetch("SELECT * FROM fills WHERE account_id = $1", aid)
    assert sum(t["realized_pnl_paise"] for t in trades) == 7 * 81995 - (3 * 81205 + 4 * 81255)
    assert sum(t["charges_paise"] for t in trades) == sum(f["charges_paise"] for f in fills)


async def test_short_when_covered_books_profit_on_fall(env: Env) -> None:
    aid = env.account_id
    env.price("NSE:SBIN", 812.00, spread=0.05)
    await env.engine.place(aid, spec(side="SELL", product="MIS", quantity=5, price_paise=81150))
    await _sync(env)  # sells at bid 811.95
    env.price("NSE:SBIN", 805.00, spread=0.05)
    await env.engine.place(aid, spec(side="BUY", product="MIS", quantity=5, price_paise=80600))
    await _sync(env)  # buys at ask 805.05
    t = await env.pool.fetchrow("SELECT * FROM trades WHERE account_id = $1", aid)
    assert t["side"] == "SELL" and t["realized_pnl_paise"] == (81195 - 80505) * 5


async def test_ladder_when_three_entries_each_gets_its_own_stop(env: Env) -> None:
    aid = env.account_id
    for i, (stop, target) in enumerate([(80000, 84000), (80500, 83000), (81000, 82500)]):
        env.price("NSE:SBIN", 812.00 - i * 0.5, spread=0.05)
        await env.engine.place(aid, spec(f"leg{i}", quantity=10 + i, price_paise=81300,
                                         stop_loss_paise=stop, target_paise=target,
                                         allow_duplicate=True))
        await _sync(env)
    gtts = await env.pool.fetch(
        "SELECT legs FROM gtts WHERE account_id = $1 AND status = 'active' ORDER BY created_at",
        aid)
    stops = [next((leg["trigger_price_paise"], leg["quantity"]) for leg in json.loads(g["legs"])
              if leg["role"] == "sl") for g in gtts]
    assert stops == [(80000, 10), (80500, 11), (81000, 12)]
    env.price("NSE:SBIN", 809.00, spread=0.05)  # only the tightest stop (810.00) is hit
    await _sync(env)
    await _sync(env)
    pos = await env.pool.fetchrow(
        "SELECT quantity FROM positions WHERE account_id = $1 AND status = 'open'", aid)
    assert pos["quantity"] == 21
    assert await env.pool.fetchval(
        "SELECT count(*) FROM gtts WHERE account_id = $1 AND status = 'active'", aid) == 2


async def test_trailing_stop_when_price_rises_moves_up_never_down(env: Env) -> None:
    aid = env.account_id
    env.price("NSE:SBIN", 812.00, spread=0.05)
    await env.engine.place(aid, spec(quantity=10, price_paise=81300, stop_loss_paise=79600,
                                     trailing_stop_pct=2.0))
    await _sync(env)

    async def stop() -> int:
        g = await env.pool.fetchrow("SELECT legs FROM gtts WHERE account_id = $1", aid)
        return next(leg["trigger_price_paise"] for leg in json.loads(g["legs"])
                    if leg["role"] == "sl")

    async def broker_stop() -> int:
        g = await env.pool.fetchrow("SELECT trigger_values FROM paper_gtts"
                                    " WHERE account_id = $1", aid)
        return json.loads(g["trigger_values"])["triggers"][0]

    assert await stop() == 79600
    env.price("NSE:SBIN", 830.00)
    await _sync(env)
    assert await stop() == 81340 == await broker_stop()  # 830 × 0.98
    env.price("NSE:SBIN", 830.40)  # < the minimum step: no modification
    await _sync(env)
    assert await stop() == 81340
    env.price("NSE:SBIN", 820.00)  # falls back: the stop stays
    await _sync(env)
    assert await stop() == 81340 == await broker_stop()


async def test_levels_given_as_percents_are_set_from_the_fill_and_the_exit_is_listed(
        env: Env) -> None:
    """A strategy's "2.5 % below the fill": the GTT's triggers come from the average fill
    price (pct_level, to the tick); once it fires, the GTT names its exit order and fill."""
    from services.execution import gtt as gtt_mod

    aid = env.account_id
    env.price("NSE:SBIN", 800.00, spread=0.05)
    row, _ = await env.engine.place(aid, spec("pct", quantity=4, order_type="MARKET",
                                              price_paise=0, stop_loss_pct=2.5, target_pct=5.0,
                                              product="MIS"))
    await _sync(env)
    order = await env.pool.fetchrow("SELECT * FROM orders WHERE order_id = $1",
                                    row["order_id"])
    avg = order["average_price_paise"]
    assert avg == 80005  # bought at the ask
    (g,) = await gtt_mod.list_gtts(env.engine, aid, [row["order_id"]])
    legs = json.loads(g["legs"])
    # 800.05 × 0.975 = 780.04875 → 780.05; 800.05 × 1.05 = 840.0525 → 840.05
    assert [(leg["role"], leg["trigger_price_paise"]) for leg in legs] == \
        [("sl", 78005), ("tp", 84005)]
    assert g["exit_order_id"] is None
    # a modify with price 0 derives the stop's limit price, keeps the target
    moved = await gtt_mod.modify(env.engine, aid, g["gtt_id"], [
        {"trigger_price_paise": 79000, "side": "SELL", "quantity": 4, "price_paise": 0},
        {"trigger_price_paise": 84005, "side": "SELL", "quantity": 4, "price_paise": 0}])
    assert [(leg["role"], leg["trigger_price_paise"], leg["price_paise"])
            for leg in json.loads(moved["legs"])] == [("sl", 79000, 78210), ("tp", 84005, 84005)]
    env.price("NSE:SBIN", 785.00, spread=0.05)
    await _sync(env)
    await _sync(env)
    g = await gtt_mod.get(env.engine, aid, g["gtt_id"])
    assert g["status"] == "triggered" and g["exit_leg"] == "sl"
    assert g["exit_filled_quantity"] == 4 and g["exit_average_price_paise"] == 78495
    assert await gtt_mod.list_gtts(env.engine, aid, ["ord_none"]) == []


async def test_a_stop_given_both_as_price_and_percent_is_refused(env: Env) -> None:
    from mandi.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        await env.engine.place(env.account_id, spec(stop_loss_paise=80000, stop_loss_pct=2.0))
    assert err.value.field == "stop_loss_pct"


async def test_a_gtt_that_fired_before_our_sync_is_refused_as_triggered_not_as_bad_input(
        env: Env) -> None:
    """The bot deletes a leg's GTT before its exit; the broker fired it a moment earlier and our
    table still says active. The refusal must say "triggered" (FAILED_PRECONDITION), so the bot
    skips its exit instead of erroring, and the table learns the broker's status."""
    aid = await env.add_account()
    env.price("NSE:SBIN", 815.00, spread=0.05)
    await env.engine.place(aid, spec(quantity=5, price_paise=81600, stop_loss_paise=80000,
                                     target_paise=84000))
    await _sync(env, aid)  # filled at once (ask 815.05 ≤ 816): the OCO GTT is placed
    await _sync(env, aid)
    row = await env.pool.fetchrow("SELECT * FROM gtts WHERE account_id = $1", aid)
    assert row is not None and row["status"] == "active"
    env.price("NSE:SBIN", 799.50, spread=0.05)
    _, broker = await env.engine.account(aid)
    await broker.step()  # the broker fires the GTT; our sync has not run
    for attempt in (lambda: gtt.delete(env.engine, aid, row["gtt_id"]),
                    lambda: gtt.modify(env.engine, aid, row["gtt_id"], json.loads(row["legs"]))):
        with pytest.raises(PreconditionFailed, match="triggered") as err:
            await attempt()
        assert err.value.field == "gtt_id"
    assert await env.pool.fetchval("SELECT status FROM gtts WHERE gtt_id = $1",
                                   row["gtt_id"]) == "triggered"
