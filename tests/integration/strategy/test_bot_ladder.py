"""A momentum-ladder bot against a real execution service (paper broker, real PostgreSQL and
Redis, gRPC): its legs get GTTs placed after their real fills, trail by ModifyGtt, close by
stop and by target, a restart in the middle keeps the GTT ids and places none twice, and the
MIS square-off deletes the last leg's GTT before selling.

The test plays the market bar by bar (the stack of test_bot_account_stops: candles appended to
marketdata's log): for each bar it sets the paper quote to the bar's open and runs execution's
sync pass (orders sent after the previous bar fill there; GTTs whose trigger the price crossed
fire and their orders fill), then sets the quote to the close and hands the candle to the bot.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest
from google.protobuf import struct_pb2

from mandi.core.clock import IST
from mandi.v1 import common_pb2, strategy_pb2
from services.execution.sync import sync_account
from services.marketdata.candles import Bar
from services.strategy.bot_runner import BotRunner
from services.strategy.bot_store import BotRow, new_bot_id
from tests.integration.execution.kit import MARKET_OPEN
from tests.integration.strategy.test_bot_account_stops import TOKENS, Stack, _streams, _until, stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

SYMBOL = "NSE:SBIN"
T0 = datetime.combine(MARKET_OPEN.date(), datetime.min.time().replace(hour=15, minute=10),
                      tzinfo=IST)
PARAMS = {"entry": "immediate", "qty": 0, "p1_stop_pct": 1.0, "p1_target_pct": 2.0,
          "p2_trigger_pct": 0.25, "p2_stop_pct": 1.0, "p3_trigger_pct": 50.0,
          "p3_stop_pct": 1.0}


def _ns(k: int) -> int:
    return int((T0 + timedelta(minutes=k)).timestamp()) * 10**9


class Market:
    def __init__(self, s: Stack, bot: str) -> None:
        self.s, self.bot = s, bot

    async def sync(self, price: float) -> None:
        self.s.env.price(SYMBOL, price, spread=0.05)
        account, _ = await self.s.env.engine.account(self.s.env.account_id)
        for _ in range(2):  # fills and GTT triggers; then the GTTs' orders adopted and filled
            await sync_account(self.s.env.engine, account)

    async def bar(self, k: int, o: float, h: float, lo: float, c: float) -> None:
        """Bar k (15:10 + k): the open fills what was sent, the close is handed to the bot."""
        await self.sync(o)
        if lo < o:  # the price travels to the low, then to the high: GTTs fire on the way
            await self.sync(lo)
        if h > o:
            await self.sync(h)
        self.s.env.price(SYMBOL, c, spread=0.05)
        start = int((T0 + timedelta(minutes=k)).timestamp())
        p = [round(x * 100) for x in (o, h, lo, c)]
        assert await self.s.md.bus.append_candle(
            Bar(TOKENS["SBIN"], "minute", start, *p, 100, 0, "ticks"))

        async def done() -> bool:
            st = (await self.s.store.get(self.bot)).state
            return int(st.get("last_bar", {}).get(SYMBOL, 0)) >= _ns(k)
        await _until(done, f"the bot did not process bar {k}")
        await self.settled()

    async def settled(self) -> None:
        """The bar's orders sent, its GTT moves made, its state saved again: nothing changes
        for a while (the runner saves the bar before it sends the orders)."""
        async def snapshot() -> tuple[str, bool]:
            orders = await self.s.store.orders(self.bot)
            return json.dumps([await self.state(), [o.status for o in orders],
                               [g["legs"] for g in await self.gtts()]], default=str), \
                all(o.status for o in orders)

        before, _ = await snapshot()
        for _ in range(100):
            await asyncio.sleep(0.15)
            now, sent = await snapshot()
            if now == before and sent:
                return
            before = now
        raise AssertionError("the bot did not settle after its bar")

    async def state(self) -> dict:
        return (await self.s.store.get(self.bot)).state

    async def gtts(self) -> list:
        rows = await self.s.env.pool.fetch(
            "SELECT g.*, o.client_order_id AS entry_coid FROM gtts g JOIN orders o"
            " ON o.order_id = g.entry_order_id WHERE g.account_id = $1", self.s.env.account_id)
        out = [dict(r) | {"legs": json.loads(r["legs"])} for r in rows]
        # in the order of their entries' bars (the test clock stands still)
        return sorted(out, key=lambda g: (int(g["entry_coid"].split(":")[1]), g["entry_coid"]))


async def _ladder_bot(s: Stack) -> str:
    params = struct_pb2.Struct()
    params.update(PARAMS)
    spec = strategy_pb2.BacktestSpec(
        strategy=strategy_pb2.StrategyDef(type="momentum_ladder", params=params),
        symbols=[common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol="SBIN")],
        interval="minute", capital_paise=10**7,  # ₹1 lakh: 10 % a leg is 100 shares at ₹100
        sizing=strategy_pb2.Sizing(type="pct_equity", pct=10),
        costs=strategy_pb2.Costs(product=strategy_pb2.PRODUCT_MIS)).SerializeToString()
    row = await s.store.create(BotRow(id=new_bot_id(), owner="u", name="ladder", spec=spec,
                                      account_id=s.env.account_id, mode="paper",
                                      product="MIS"), actor="u")
    await s.store.set_status(row.id, "running", "u")
    s.runner.wake()
    return row.id


def _sl_tp(g: dict) -> tuple[int | None, int | None]:
    by = {leg["role"]: leg["trigger_price_paise"] for leg in g["legs"]}
    return by.get("sl"), by.get("tp")


async def test_ladder_bot_legs_get_gtts_trail_stop_target_survive_a_restart_square_off(
) -> None:
    async with stack() as s:
        bot = await _ladder_bot(s)
        await _streams(s, 1)
        m = Market(s, bot)
        await m.bar(0, 100.0, 100.0, 100.0, 100.0)  # flat: P1 (immediate)
        (entry,) = await s.store.orders(bot)
        assert (entry.reason, entry.tag, entry.quantity) == ("entry", "P1", 100)  # 10 % sizing

        # bar 1: P1 fills at the ask 100.05 → GTT sl 99.05, tp 102.05 (1 %/2 % of the fill);
        # the high 101 trails the stop to 100.00; P1 is up 0.95 % at the close → P2
        await m.bar(1, 100.0, 101.0, 100.0, 101.0)
        st = await m.state()
        p1 = st["legs"][SYMBOL]["P1"]
        assert p1["entry_price_paise"] == 10005, "the real fill, not the bar's close"
        assert p1["filled"] and p1["order_id"] == entry.order_id
        (g1,) = await m.gtts()
        assert p1["gtt_id"] == g1["gtt_id"] and g1["entry_coid"] == entry.client_order_id
        assert _sl_tp(g1) == (10000, 10205), "placed at 99.05/102.05, trailed to 100.00"
        assert st["strategy"][SYMBOL]["highest"]["P1"] == 10100
        assert [o.tag for o in await s.store.orders(bot) if o.reason == "entry"] == ["P1", "P2"]

        # a restart: a new runner resumes from the saved state and the candle log
        await s.runner.stop()
        runner = BotRunner(s.store, s.runner.redis, replica_id="B", prefix=s.runner.prefix,
                           lease_s=2.0, poll_s=0.1, now=s.env.clock.now)
        runner.history, runner.marketdata, runner.execution = \
            s.runner.history, s.runner.marketdata, s.runner.execution
        s.runner = runner
        await runner.start()
        try:
            await _after_restart(s, m, bot, runner)
        finally:
            await runner.stop()


async def _after_restart(s: Stack, m: Market, bot: str, runner: BotRunner) -> None:

    async def resumed() -> bool:
        return runner.held() == [bot]
    await _until(resumed, "the second runner did not take the bot")
    await asyncio.sleep(0.5)  # it replays bars 0-1 with orders suppressed

    # bar 2: P2 fills at 101.05 (its GTT: a single stop at 100.05); the price falls to
    # 99.90 through both stops; their GTTs sell at the bid 99.85
    await m.bar(2, 101.0, 101.0, 99.9, 99.9)
    gtts = await m.gtts()
    assert len(gtts) == 2, "one GTT per entry: the restart placed none again"
    assert [g["status"] for g in gtts] == ["triggered", "triggered"]
    assert _sl_tp(gtts[1]) == (10005, None)
    st = await m.state()
    assert set(st["legs"].get(SYMBOL, {})) == {"P1"}, "closed by the GTTs, P1 again"
    rows = {o.client_order_id: o for o in await s.store.orders(bot)}
    stops = [o for o in rows.values() if o.reason == "stop"]
    assert sorted(o.tag for o in stops) == ["P1", "P2"]
    assert sorted(o.filled_quantity for o in stops) == [99, 100]
    assert all(o.average_price_paise == 9985 and o.order_id and o.status == "COMPLETE"
               and o.client_order_id == f"gtt:{o.gtt_id}:sl" for o in stops)
    entries = [o for o in rows.values() if o.reason == "entry"]
    assert [(o.average_price_paise, o.filled_quantity) for o in entries[:2]] == \
        [(10005, 100), (10105, 99)]
    # P2 was sized with P1 open: 10 % of ₹1,00,095 (P1 marked at the close) at ₹101 → 99.
    # Realized P&L at the real fills sizes the next leg: (99.85 − 100.05) × 100 +
    # (99.85 − 101.05) × 99 = −₹138.80 → 10 % of ₹99,861.20 at ₹99.90 → 99 shares
    assert st["realized_paise"] == -13_880
    assert entries[2].quantity == 99

    # bar 3: P1 fills at 99.95 → tp 101.95; the high 102 reaches it
    await m.bar(3, 99.9, 102.0, 99.9, 102.0)
    gtts = await m.gtts()
    assert _sl_tp(gtts[2]) == (9895, 10195) and gtts[2]["status"] == "triggered"
    (target,) = [o for o in await s.store.orders(bot) if o.reason == "target"]
    assert target.tag == "P1" and target.client_order_id.endswith(":tp")
    assert target.average_price_paise >= 10195

    # bars 4-8: P1 again, flat; the 15:18 bar squares it off: its GTT deleted first
    for k in range(4, 9):
        await m.bar(k, 102.0, 102.0, 102.0, 102.0)
    gtts = await m.gtts()
    assert len(gtts) == 4 and gtts[3]["status"] == "deleted"
    await m.bar(9, 102.0, 102.0, 102.0, 102.0)  # the square-off's fill is learnt
    st = await m.state()
    assert not st["legs"] and not st["awaiting"]
    (sq,) = [o for o in await s.store.orders(bot) if o.reason == "squareoff"]
    assert sq.quantity > 0 and sq.tag == "P1"
    assert (sq.filled_quantity, sq.average_price_paise) == (sq.quantity, 10195)  # the bid
    assert (await s.store.get(bot)).status == "running"
    pos = await s.env.pool.fetchval(
        "SELECT coalesce(sum(quantity), 0) FROM positions WHERE account_id = $1"
        " AND status = 'open'", s.env.account_id)
    assert pos == 0


async def test_an_exit_deletes_its_legs_gtt_and_is_not_sent_when_the_gtt_fired_first() -> None:
    """The race of a signal exit with the leg's GTT: the runner deletes the GTT before sending
    the exit; when the GTT has fired meanwhile, the exit is not sent (it would open a short),
    the leg is booked as closed by the GTT at its fill and both show in the bot's record."""
    from mandi.core.backtest.engine import BacktestConfig
    from mandi.core.backtest.sizing import FixedQty
    from mandi.core.strategies.base import Bar as StrategyBar
    from mandi.v1 import execution_pb2
    from services.strategy import library
    from services.strategy.bot_engine import BotEngine
    from services.strategy.bot_fills import Reconciler

    async with stack() as s:
        aid = s.env.account_id
        row = await s.store.create(BotRow(id=new_bot_id(), owner="u", name="race", spec=b"",
                                          account_id=aid, mode="paper", product="MIS"),
                                   actor="u")
        m = Market(s, row.id)
        await m.sync(100.0)
        legs = {}
        for tag in ("P1", "P2"):
            coid = f"{row.id}:1:0.{tag}.in"
            resp = await s.exec_stub.PlaceOrder(execution_pb2.PlaceOrderRequest(
                account_id=aid, order=execution_pb2.OrderRequest(
                    client_order_id=coid, symbol=common_pb2.SymbolRef(
                        exchange=common_pb2.EXCHANGE_NSE, tradingsymbol="SBIN"),
                    side=execution_pb2.SIDE_BUY, quantity=10,
                    order_type=execution_pb2.ORDER_TYPE_MARKET,
                    product=strategy_pb2.PRODUCT_MIS, strategy_id=row.id,
                    stop_loss_pct=1.0 if tag == "P1" else 3.0, allow_duplicate=True)),
                timeout=10)
            legs[tag] = {"side": "BUY", "qty": 10, "entry_price_paise": 10005, "entry_ts": 0,
                         "coid": coid, "order_id": resp.order.order_id, "filled": True,
                         "gtt_id": "", "stop_pct": 1.0 if tag == "P1" else 3.0,
                         "target_pct": 0.0}
            await m.sync(100.0)  # fills at the ask 100.05; its GTT is placed
        await m.sync(98.9)  # through P1's stop (99.05), not P2's (97.05)
        g1, g2 = await m.gtts()
        assert (g1["status"], g2["status"]) == ("triggered", "active")

        eng = BotEngine(row.id, [SYMBOL], lambda _s: library.build("momentum_ladder", {}, None),
                        BacktestConfig(sizer=FixedQty(10), charges=False), 60 * 10**9, 0)
        eng.resume_from({"legs": {SYMBOL: legs}})
        eng.feeds[SYMBOL].ctx.exit(reason="signal")  # the strategy's reverse cross
        bar = StrategyBar(SYMBOL, _ns(0), 99.0, 99.0, 99.0, 99.0, 100)
        exits = eng._process(eng.feeds[SYMBOL], bar)
        assert [(o.tag, o.gtt_id, o.entry_order_id) for o in exits] == \
            [("P1", "", legs["P1"]["order_id"]), ("P2", "", legs["P2"]["order_id"])]
        await s.store.save_bar(row.id, eng.state(), exits, live_bar=True)
        rec = Reconciler(row.id, aid, s.exec_stub, s.store)
        assert await rec.before_exit(eng, exits[0]) is False, "P1's GTT fired: no exit"
        assert await rec.before_exit(eng, exits[1]) is True, "P2's GTT deleted: exit"
        assert [g["status"] for g in await m.gtts()] == ["triggered", "deleted"]

        rows = {o.client_order_id: o for o in await s.store.orders(row.id)}
        assert rows[exits[0].client_order_id].status.startswith("SKIPPED: GTT")
        stop = rows[f"gtt:{g1['gtt_id']}:sl"]
        assert (stop.reason, stop.tag, stop.quantity, stop.filled_quantity) == \
            ("stop", "P1", 10, 10)
        assert stop.average_price_paise == 9885  # the bid when the GTT's LIMIT sell arrived
        # P1 is booked at the GTT's fill; P2 waits for its exit's fill
        assert set(eng.awaiting) == {exits[1].client_order_id}
        assert eng.realized_paise == (9885 - 10005) * 10 + (9900 - 10005) * 10
