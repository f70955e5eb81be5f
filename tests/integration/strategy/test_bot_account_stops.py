"""Bots honour execution's account stops, against a real execution service over gRPC (paper
broker, real PostgreSQL ledger, real Redis): the daily loss latch stops a bot's entries for the
day (state and audit say why), and the account's emergency stop moves every running or paused
bot of that account — and no other — to `stopped`, audited by actor "emergency_stop", whether
the runner sees the stop's event or only an order the halt refuses.

Candles come from the real marketdata server (fan-out only, no ingester): the test appends the
bars to its candle log through a second MarketBus, playing the ingester, so it decides which bars
each bot sees; marketdata resolves symbols through a lookup-only history; the bots' own history
is unreachable (a cold start).

The latched bot's day then gets its parity report from the nightly run (an injected clock half an
hour after the close, history serving the day's bars): the refused entry and every entry the
latch held back are listed and explained, nothing is unexplained."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from datetime import time as clock_time

import pytest
from google.protobuf import struct_pb2

from mandi.core.clock import IST, to_ist
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.kitesim import free_port
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import (
    common_pb2,
    execution_pb2,
    execution_pb2_grpc,
    history_pb2,
    history_pb2_grpc,
    marketdata_pb2_grpc,
    strategy_pb2,
)
from services.execution import loss_limit
from services.marketdata.candles import Bar
from services.strategy import parity
from services.strategy.bot_risk import ist_day
from services.strategy.bot_runner import BotRunner
from services.strategy.bot_store import BotRow, BotStore, new_bot_id
from services.strategy.parity_run import ParityRunner
from services.strategy.parity_store import ParityStore
from services.strategy.server import MIGRATIONS
from tests.integration.execution.kit import MARKET_OPEN, Env, make_env, served_execution
from tests.integration.execution.kit import MIGRATIONS as EXEC_MIGRATIONS
from tests.integration.marketdata.fanout_kit import LookupHistory, Served, lookup_history, served
from tests.integration.strategy.fake_history import start_history

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

TOKENS = {"SBIN": 779521, "INFY": 408065}


# fast 2 / slow 3: flat, then a rise crosses up (entry), a fall crosses down (exit)
UP_DOWN_UP = [100.0] * 4 + [101.0, 102.0, 99.0, 97.0, 100.0, 103.0, 105.0]


@dataclasses.dataclass
class Stack:
    env: Env
    store: BotStore
    runner: BotRunner
    md: Served
    exec_stub: execution_pb2_grpc.ExecutionServiceStub

    async def bot(self, account: str, name: str, status: str = "running") -> str:
        params = struct_pb2.Struct()
        params.update({"fast": 2, "slow": 3})
        spec = strategy_pb2.BacktestSpec(
            strategy=strategy_pb2.StrategyDef(type="ema_crossover", params=params),
            symbols=[common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE,
                                          tradingsymbol="SBIN")],
            interval="minute", capital_paise=10**8,
            sizing=strategy_pb2.Sizing(type="fixed_qty", qty=1),
            costs=strategy_pb2.Costs(product=strategy_pb2.PRODUCT_MIS)).SerializeToString()
        row = await self.store.create(BotRow(id=new_bot_id(), owner="u", name=name, spec=spec,
                                             account_id=account, mode="paper", product="MIS"),
                                      actor="u")
        await self.store.set_status(row.id, "running", "u")
        if status == "paused":
            await self.store.set_status(row.id, "paused", "u")
        self.runner.wake()
        return row.id

    async def feed(self, closes: list[float]) -> None:
        for k, c in enumerate(closes):
            p = round(c * 100)
            start = int((MARKET_OPEN + timedelta(minutes=k)).timestamp())
            assert await self.md.bus.append_candle(
                Bar(TOKENS["SBIN"], "minute", start, p, p, p, p, 100, 0, "ticks"))

    async def exec_orders(self, account: str) -> list[str]:
        resp = await self.exec_stub.ListOrders(
            execution_pb2.ListOrdersRequest(account_id=account), timeout=10)
        return sorted(o.client_order_id for o in resp.orders)


async def _until(cond, what: str, timeout_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await cond():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def stack(*, watch: bool = True) -> AsyncIterator[Stack]:
    async with fresh_database() as edsn, fresh_database() as sdsn, redis_namespace() as ns:
        await run_migrations(edsn, "execution", EXEC_MIGRATIONS)
        await run_migrations(sdsn, "strategy", MIGRATIONS)
        env = await make_env(edsn, ns)
        ex_cm = served_execution(env)
        ex_port = await ex_cm.__aenter__()
        lookup_cm = lookup_history(TOKENS)
        md_cm = served(history_addr=await lookup_cm.__aenter__())
        md = await md_cm.__aenter__()
        pool = await create_pool(sdsn, schema="strategy")
        store = BotStore(pool)
        # the runner reads the notification stream execution writes (<prefix>n:notify:events)
        runner = BotRunner(store, ns.client, replica_id="A", prefix=ns.prefix + "n",
                           lease_s=2.0, poll_s=0.1, now=env.clock.now)
        channels = [signed_aio_channel(f"127.0.0.1:{free_port()}"),
                    signed_aio_channel(md.addr),
                    signed_aio_channel(f"127.0.0.1:{ex_port}")]
        runner.history = history_pb2_grpc.HistoryServiceStub(channels[0])
        runner.marketdata = marketdata_pb2_grpc.MarketdataServiceStub(channels[1])
        runner.execution = execution_pb2_grpc.ExecutionServiceStub(channels[2])
        if watch:
            await runner.start()
            await asyncio.wait_for(runner.watch.ready.wait(), 10)
        try:
            yield Stack(env, store, runner, md, runner.execution)
        finally:
            await runner.stop()
            for ch in channels:
                await ch.close()
            await md_cm.__aexit__(None, None, None)
            await lookup_cm.__aexit__(None, None, None)
            await ex_cm.__aexit__(None, None, None)
            await env.engine.brokers.close()
            await env.pool.close()
            await pool.close()


async def _streams(s: Stack, n: int) -> None:
    async def opened() -> bool:
        return len(s.md.app.hub.candle_subs) >= n
    await _until(opened, f"{n} bots did not open their candle streams")


async def test_loss_latch_blocks_a_bots_entries_for_the_day() -> None:
    async with stack() as s:
        aid = s.env.account_id
        bot = await s.bot(aid, "latched")
        await _streams(s, 1)
        # execution's own latch statement: the account is blocked for the IST day
        day = s.env.clock.now()
        await s.env.pool.execute(loss_limit.LATCH, aid, to_ist(day).date())
        await s.feed(UP_DOWN_UP)

        async def all_bars() -> bool:
            return (await s.store.get(bot)).state.get("last_bar", {}).get("NSE:SBIN", 0) >= \
                int((MARKET_OPEN + timedelta(minutes=len(UP_DOWN_UP) - 1)).timestamp()) * 10**9
        await _until(all_bars, "the bot did not process every bar")
        row = await s.store.get(bot)
        assert row.status == "running"  # entries stop, the bot does not
        assert row.state["entries_blocked"] == ist_day(day)
        orders = await s.store.orders(bot)
        # the first cross up was refused by the latch; the second was never sent
        assert [(o.reason, o.status.split(":")[0]) for o in orders] == [("entry", "REFUSED")]
        assert "daily_loss_limit" in orders[0].status
        assert ("risk", "entries_blocked") in [(a, b) for a, b, _ in await s.store.audit(bot)]
        assert await s.exec_orders(aid) == []


class DayHistory(LookupHistory):
    """History serving the bars the test fed, flat minutes from MARKET_OPEN, as stored (its
    LookupInstrument is fanout_kit's)."""

    def __init__(self, closes: list[float]) -> None:
        super().__init__(TOKENS)
        self.ts_ms = [int((MARKET_OPEN + timedelta(minutes=k)).timestamp()) * 1000
                      for k in range(len(closes))]
        self.closes = closes

    async def GetCandles(self, request, context):
        lo, hi = getattr(request, "from").ToMilliseconds(), request.to.ToMilliseconds()
        idx = [k for k, t in enumerate(self.ts_ms) if lo <= t < hi]
        px = [self.closes[k] for k in idx]
        yield history_pb2.GetCandlesResponse(batch=common_pb2.CandleBatch(
            ts_unix_ms=[self.ts_ms[k] for k in idx], open=px, high=px, low=px, close=px,
            volume=[100] * len(idx), oi=[0] * len(idx)))


async def test_the_nightly_parity_of_a_latched_day_explains_every_missing_entry() -> None:
    async with stack() as s:
        aid = s.env.account_id
        bot = await s.bot(aid, "latched")
        await _streams(s, 1)
        day = to_ist(s.env.clock.now()).date()
        await s.env.pool.execute(loss_limit.LATCH, aid, day)
        await s.feed(UP_DOWN_UP)

        async def all_bars() -> bool:
            return (await s.store.get(bot)).state.get("last_bar", {}).get("NSE:SBIN", 0) >= \
                int((MARKET_OPEN + timedelta(minutes=len(UP_DOWN_UP) - 1)).timestamp()) * 10**9
        await _until(all_bars, "the bot did not process every bar")

        server, port = await start_history(DayHistory(UP_DOWN_UP))
        channel = signed_aio_channel(f"127.0.0.1:{port}")
        now = [datetime.combine(day, clock_time(15, 59), IST)]
        store = ParityStore(s.store.pool)
        runner = ParityRunner(s.store, store, now=lambda: now[0])
        runner.history = history_pb2_grpc.HistoryServiceStub(channel)
        runner.execution = s.exec_stub
        runner.marketdata = s.runner.marketdata  # the candle log: what the bot was sent
        try:
            assert await runner.nightly_once() == [], "29 minutes after the close: not yet"
            now[0] = datetime.combine(day, clock_time(16, 0), IST)
            async with s.store.pool.acquire() as other:  # another replica's pass under way
                await other.execute("SELECT pg_advisory_lock(hashtext($1))",
                                    "mandi-strategy:parity-nightly")
                assert await runner.nightly_once() == [], "one replica at a time"
                await other.execute("SELECT pg_advisory_unlock(hashtext($1))",
                                    "mandi-strategy:parity-nightly")
            assert await runner.nightly_once() == [(bot, day.isoformat())]
            assert await runner.nightly_once() == [], "reported once"
            start, end = parity.ist_day_bounds(day)
            spec = strategy_pb2.BacktestSpec.FromString((await s.store.get(bot)).spec)
            seen = await runner._live_candles(spec, {"NSE:SBIN": spec.symbols[0]}, start, end)
        finally:
            await channel.close()
            await server.stop(None)
        got = await store.get(bot, day)
        assert got is not None and got.stored
        rep = got.report
        shown = [(d.category, d.detail) for d in rep.differences]
        # backtest: entry, exit, entry (open at the end); live: the first entry refused by the
        # latch, nothing after it
        assert [(d.kind, d.category, d.explained) for d in rep.differences] == [
            ("signal", parity.REFUSED_BY_RISK, True),
            ("signal", parity.FOLLOWS, True),
            ("signal", parity.ENTRIES_BLOCKED, True)], shown
        assert "daily_loss_limit" in rep.differences[0].detail
        assert rep.unexplained == 0 and rep.backtest_orders == 3 and rep.live_orders == 1
        assert seen is not None and len(seen["NSE:SBIN"]) == len(UP_DOWN_UP), \
            "the day's bars as marketdata sent them, read back from its candle log"
        n = len(UP_DOWN_UP)
        assert rep.candles == {"NSE:SBIN": {"stored": n, "live": n, "missing": 0,
                                            "differing": 0}}
        assert rep.pnl_live_paise == 0
        assert rep.pnl_difference_paise == sum(d.amount_paise for d in rep.differences)
        # pause windows come from the audit: pause → start closes one, a pause left open is open
        assert await store.paused(bot) == ()
        for status in ("paused", "running", "paused"):
            await s.store.set_status(bot, status, "u")
        [(a, b), (c, d)] = await store.paused(bot)
        assert a <= b <= c and d is None


async def test_emergency_stop_stops_every_bot_of_the_account_and_no_other() -> None:
    async with stack() as s:
        aid, other = s.env.account_id, await s.env.add_account()
        mine = [await s.bot(aid, "a1"), await s.bot(aid, "a2", status="paused")]
        theirs = await s.bot(other, "b1")
        await _streams(s, 3)
        resp = await s.exec_stub.EmergencyStop(execution_pb2.EmergencyStopRequest(
            account_id=aid, reason="test", actor="ops"), timeout=30)
        assert resp.blocked

        async def stopped() -> bool:
            return {(await s.store.get(b)).status for b in mine} == {"stopped"}
        await _until(stopped, "the account's bots were not stopped")
        for b in mine:
            assert (await s.store.audit(b))[-1][:2] == ("emergency_stop", "stopped")
        # a second replica seeing the same event stops nothing twice
        assert await s.runner.emergency_stop(aid, "again") == []
        for b in mine:
            assert [a for a in await s.store.audit(b) if a[0] == "emergency_stop"] == \
                [("emergency_stop", "stopped", "test")]
        assert (await s.store.get(theirs)).status == "running"

        async def dropped() -> bool:
            return s.runner.held() == [theirs]
        await _until(dropped, "the runner still holds a stopped bot")


async def test_emergency_stop_missed_by_the_runner_is_learnt_from_a_refused_order() -> None:
    async with stack(watch=False) as s:
        aid = s.env.account_id
        await s.exec_stub.EmergencyStop(execution_pb2.EmergencyStopRequest(
            account_id=aid, reason="while no runner read", actor="ops"), timeout=30)
        await s.runner.start()  # its watch starts after the event: only a refusal can tell
        idle = await s.bot(aid, "idle", status="paused")  # sends no entry itself
        trader = await s.bot(aid, "trader")
        await _streams(s, 2)
        await s.feed(UP_DOWN_UP[:5])

        async def stopped() -> bool:
            return {(await s.store.get(b)).status for b in (trader, idle)} == {"stopped"}
        await _until(stopped, "a refused order did not stop the account's bots")
        for b in (trader, idle):
            actor, action, detail = (await s.store.audit(b))[-1]
            assert (actor, action) == ("emergency_stop", "stopped")
            assert "emergency stop" in detail
        assert await s.exec_orders(aid) == []
