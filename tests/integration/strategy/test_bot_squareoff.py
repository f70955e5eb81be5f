"""A bot's MIS exit that reaches the broker after its auto square-off (bot_squareoff.py), on a
real kitesim (kiteconnect, PostgreSQL, Redis) with execution served over gRPC: the bot's long
leg is bought at 15:10; at 15:21 kitesim has squared the position off with its own order and
execution has adopted it; the bot's late exit is then refused, and `broker_squareoff` finds
the square-off that closed the leg — and nothing while the position is still open, or for
another symbol or side. The bot books its exit at the square-off's price instead of stopping
with "the position needs a human" (BotTask._refused)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import grpc
import pytest
import pytest_asyncio

from mandi.core.backtest.data import NS_PER_MIN
from mandi.core.backtest.engine import BacktestConfig
from mandi.core.backtest.sizing import FixedQty
from mandi.core.charges import Segment, Side
from mandi.core.clock import IST
from mandi.core.errors import PreconditionFailed
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.kitesim import start_kitesim
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import common_pb2, execution_pb2, execution_pb2_grpc, strategy_pb2
from services.execution.orders import OrderSpec
from services.execution.worker import Worker
from services.strategy import library
from services.strategy.bot_engine import BotEngine, OrderIntent
from services.strategy.bot_runner import BotRunner, BotTask
from services.strategy.bot_squareoff import SQUARED_OFF, broker_squareoff
from services.strategy.bot_store import BotRow, BotStore, new_bot_id
from services.strategy.server import MIGRATIONS as STRATEGY_MIGRATIONS
from tests.integration.execution.kit import MIGRATIONS, served_execution
from tests.integration.execution.kitesim_kit import kite_rig, order_request

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DAY = datetime(2025, 11, 25, 15, 10, tzinfo=IST)
BAR = int(datetime(2025, 11, 25, 15, 18, tzinfo=IST).timestamp()) * 10**9  # the exit's bar
ENTRY_PAISE = 80_000  # the leg's entry price as the bot holds it


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ledger_dsn():
    async with fresh_database() as dsn:
        await run_migrations(dsn, "execution", MIGRATIONS)
        yield dsn


def _exit(symbol: str = "NSE:SBIN", side: Side = Side.SELL) -> OrderIntent:
    return OrderIntent("b1:1764064080:0.main.out", symbol, side, 5, "main", "squareoff", BAR)


async def test_a_late_exit_finds_the_broker_squareoff_that_closed_its_leg(ledger_dsn) -> None:
    sim = start_kitesim(start=DAY, rate_limits=False)
    sim.login()
    try:
        async with kite_rig(ledger_dsn, sim, DAY) as rig:
            engine, aid = rig.engine, rig.account_id
            worker = Worker(engine)
            await worker.run_once()
            row, _ = await engine.place(aid, OrderSpec(
                "b1:1764063600:0.main.in", "NSE", "SBIN", "BUY", 5, "MARKET", "MIS",
                strategy_id="b1"))
            assert row["status"] in ("OPEN", "COMPLETE"), row["status_message"]

            async def bought() -> bool:
                return await engine.pool.fetchval(
                    "SELECT coalesce(sum(quantity), 0) FROM positions WHERE account_id = $1"
                    " AND status = 'open'", aid) == 5

            await rig.until(bought, worker=worker)
            async with served_execution(SimpleNamespace(engine=engine)) as port, \
                    signed_aio_channel(f"127.0.0.1:{port}") as ch:
                stub = execution_pb2_grpc.ExecutionServiceStub(ch)
                assert await broker_squareoff(stub, aid, _exit()) is None, "still open"

                rig.move(datetime(2025, 11, 25, 15, 21, tzinfo=IST))

                async def squared() -> bool:
                    return await engine.pool.fetchval(
                        "SELECT count(*) FROM positions WHERE account_id = $1"
                        " AND product = 'MIS' AND status = 'closed'", aid) == 1

                await rig.until(squared, worker=worker)
                # the bot's exit, 40 s late: refused, the position it would reduce is gone
                late = order_request(sim, "b1:1764064080:0.main.out", 5, account_id=aid,
                                     product=strategy_pb2.PRODUCT_MIS)
                late.order.side = execution_pb2.SIDE_SELL
                late.order.order_type = execution_pb2.ORDER_TYPE_MARKET
                late.order.price_paise = 0
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.PlaceOrder(late, timeout=10)
                assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, \
                    refused.value.details()

                eo = await broker_squareoff(stub, aid, _exit())
                assert eo is not None, "the square-off was not found"
                [trade] = [t for t in sim.kite().trades()
                           if t["transaction_type"] == "SELL" and not t.get("tag")]
                assert eo.request.client_order_id.startswith("asqf:")
                assert (eo.filled_quantity, eo.average_price_paise) == (
                    5, round(trade["average_price"] * 100))
                assert eo.HasField("filled_at")
                # nothing for another symbol, or for an exit of a short leg
                assert await broker_squareoff(stub, aid, _exit("NSE:INFY")) is None
                assert await broker_squareoff(stub, aid, _exit(side=Side.BUY)) is None
                await _booked(stub, aid, eo)
    finally:
        sim.stop()


def _awaiting(bot_id: str, o: OrderIntent) -> BotEngine:
    """A bot whose long leg's exit `o` is awaiting its fill, as a resumed bot holds it."""
    eng = BotEngine(bot_id, ["NSE:SBIN"],
                    lambda _s: library.build("ema_crossover", {"fast": 5, "slow": 20}, None),
                    BacktestConfig(segment=Segment.EQUITY_INTRADAY, sizer=FixedQty(5),
                                   charges=False), NS_PER_MIN, BAR)
    eng.resume_from({"realized_paise": 0, "awaiting": {o.client_order_id: {
        "symbol": o.symbol, "tag": o.tag, "side": "SELL", "qty": 5, "reason": o.reason,
        "est_paise": ENTRY_PAISE, "long": True, "bar_ts": o.bar_ts}}})
    return eng


async def _booked(stub, aid: str, eo) -> None:
    """The bot's side: a refused exit (`BotTask._refused`) whose leg the square-off closed is
    recorded as made by it (its order id, price and fill) and the leg closes at its price; the
    same exit on an account with no square-off stops the bot as before."""
    spec = strategy_pb2.BacktestSpec(
        symbols=[common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol="SBIN")],
        interval="minute", costs=strategy_pb2.Costs(product=strategy_pb2.PRODUCT_MIS))
    async with fresh_database() as dsn, redis_namespace() as ns:
        await run_migrations(dsn, "strategy", STRATEGY_MIGRATIONS)
        pool = await create_pool(dsn, schema="strategy")
        try:
            store = BotStore(pool)
            runner = BotRunner(store, ns.client, replica_id="T", prefix=ns.prefix.rstrip(":"))
            runner.execution = stub
            o = _exit()
            for account in (aid, "NOSUCH"):
                bot = await store.create(BotRow(
                    id=new_bot_id(), owner="u", name=f"sq-{account}",
                    spec=spec.SerializeToString(), account_id=account, mode="live",
                    product="MIS"), "u")
                eng = _awaiting(bot.id, o)
                await store.save_bar(bot.id, eng.state(), [o], live_bar=True)
                task = BotTask(bot, runner)
                if account == "NOSUCH":
                    with pytest.raises(PreconditionFailed, match="needs a human"):
                        await task._refused(eng, [o])
                    continue
                await task._refused(eng, [o])
                [rec] = await store.orders(bot.id, o.client_order_id)
                assert rec.status.startswith(SQUARED_OFF) and rec.order_id == eo.order_id
                assert (rec.filled_quantity, rec.average_price_paise) == (
                    5, eo.average_price_paise)
                assert o.client_order_id not in eng.awaiting
                assert eng.realized_paise == 5 * (eo.average_price_paise - ENTRY_PAISE)
        finally:
            await pool.close()
