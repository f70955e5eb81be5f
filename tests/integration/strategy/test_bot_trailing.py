"""A ladder leg's trailing stop against a real execution service (paper broker, PostgreSQL,
Redis, gRPC): the `Reconciler` keeps the GTT on the leg's wanted stop (issue #12).

* a stop wanted before the bot has learnt the leg's GTT is applied once the GTT is seen;
* a stop Kite would refuse (within 0.25 % of the last price) — by the bot's own check of the
  bar's close, or by execution against its last price — stays the bot's to enforce, said once
  (log and audit), and goes to the GTT on a later bar when the price has moved away; the GTT
  meanwhile takes the nearest stop Kite allows when that is tighter than its own.
"""

from __future__ import annotations

import pytest

from mandi.core.backtest.engine import BacktestConfig
from mandi.core.backtest.sizing import FixedQty
from mandi.v1 import common_pb2, execution_pb2, strategy_pb2
from services.strategy import library
from services.strategy.bot_engine import BotEngine
from services.strategy.bot_fills import Reconciler
from services.strategy.bot_store import BotRow, new_bot_id
from tests.integration.strategy.test_bot_account_stops import stack
from tests.integration.strategy.test_bot_ladder import SYMBOL, Market, _sl_tp

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

NOTE = "stop_enforced_by_bot"


async def test_a_trailing_stop_reaches_the_gtt_when_it_appears_and_when_the_price_allows(
) -> None:
    async with stack() as s:
        aid = s.env.account_id
        row = await s.store.create(BotRow(id=new_bot_id(), owner="u", name="trail", spec=b"",
                                          account_id=aid, mode="paper", product="MIS"),
                                   actor="u")
        m = Market(s, row.id)
        await m.sync(100.0)
        coid = f"{row.id}:1:0.P1.in"
        resp = await s.exec_stub.PlaceOrder(execution_pb2.PlaceOrderRequest(
            account_id=aid, order=execution_pb2.OrderRequest(
                client_order_id=coid, symbol=common_pb2.SymbolRef(
                    exchange=common_pb2.EXCHANGE_NSE, tradingsymbol="SBIN"),
                side=execution_pb2.SIDE_BUY, quantity=10,
                order_type=execution_pb2.ORDER_TYPE_MARKET, product=strategy_pb2.PRODUCT_MIS,
                strategy_id=row.id, stop_loss_pct=1.0, allow_duplicate=True)), timeout=10)
        # the bot knows the fill at 100.05 (its GTT: 99.05) and trails the stop to 99.70
        # before execution has placed the GTT
        eng = BotEngine(row.id, [SYMBOL], lambda _s: library.build("momentum_ladder", {}, None),
                        BacktestConfig(sizer=FixedQty(10), charges=False), 60 * 10**9, 0)
        eng.resume_from({"legs": {SYMBOL: {"P1": {
            "side": "BUY", "qty": 10, "entry_price_paise": 10005, "entry_ts": 0,
            "stop_paise": 9970, "coid": coid, "order_id": resp.order.order_id,
            "filled": True, "gtt_id": "", "stop_pct": 1.0, "target_pct": 0.0,
            "gtt_stop": 9905}}}})
        rec = Reconciler(row.id, aid, s.exec_stub, s.store)
        await rec.sync_stops(eng, SYMBOL, 10000)
        assert await m.gtts() == [] and eng.stops_pending(SYMBOL)
        notes = [a for a in await s.store.audit(row.id) if a[1] == NOTE]
        assert len(notes) == 1 and "not active yet" in notes[0][2]

        await m.sync(100.0)  # the entry fills at 100.05; its GTT is placed at 99.05
        (g,) = await m.gtts()
        assert _sl_tp(g)[0] == 9905
        await rec.reconcile(eng, SYMBOL, 2 * 60 * 10**9)  # the next bar: the GTT is learnt
        assert eng.feeds[SYMBOL].info["P1"]["gtt_id"] == g["gtt_id"]
        await rec.sync_stops(eng, SYMBOL, 10000)  # 99.70 is 0.30 % below 100.00: allowed
        (g,) = await m.gtts()
        assert _sl_tp(g)[0] == 9970, "the stop wanted before the GTT was known"
        assert not eng.stops_pending(SYMBOL)
        assert eng.feeds[SYMBOL].info["P1"]["stop_enforced"] is False

        # the trail to 99.85: 0.15 % below the bar's close — not a GTT yet, said once
        eng.feeds[SYMBOL].ctx.legs["P1"].stop_paise = 9985
        for _ in range(3):
            await rec.sync_stops(eng, SYMBOL, 10000)
        (g,) = await m.gtts()
        assert _sl_tp(g)[0] == 9970 and eng.stops_pending(SYMBOL)
        notes = [a for a in await s.store.audit(row.id) if a[1] == NOTE]
        assert len(notes) == 2 and "within 0.25% of the last price 100.00" in notes[1][2]

        # the bar closes at 100.15 but execution's last price is still 100.05: refused there
        await rec.sync_stops(eng, SYMBOL, 10015)
        (g,) = await m.gtts()
        assert _sl_tp(g)[0] == 9970
        assert len([a for a in await s.store.audit(row.id) if a[1] == NOTE]) == 2, "once"

        # the price moves away: the GTT takes the stop
        await m.sync(100.5)
        await rec.sync_stops(eng, SYMBOL, 10050)
        (g,) = await m.gtts()
        assert _sl_tp(g)[0] == 9985 and g["status"] == "active"
        assert not eng.stops_pending(SYMBOL)
        assert eng.feeds[SYMBOL].info["P1"]["stop_enforced"] is False

        # the trail to 100.35, 0.15 % below the price 100.50: the bot enforces it, and the GTT
        # meanwhile takes the nearest stop Kite allows (100.50 − 0.26, a tick further: 100.15)
        eng.feeds[SYMBOL].ctx.legs["P1"].stop_paise = 10035
        await rec.sync_stops(eng, SYMBOL, 10050)
        (g,) = await m.gtts()
        assert _sl_tp(g)[0] == 10015
        assert eng.stops_pending(SYMBOL) and eng.feeds[SYMBOL].info["P1"]["gtt_stop"] == 10015
        notes = [a for a in await s.store.audit(row.id) if a[1] == NOTE]
        assert len(notes) == 3 and "trailing stop 10035" in notes[2][2]

