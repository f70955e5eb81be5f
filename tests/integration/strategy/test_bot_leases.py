"""Two runner replicas over real Redis and PostgreSQL: every running bot is held by exactly one
of them, and when one dies (its tasks stop without releasing anything) the other takes its bots
once their leases expire. The bots' peers (history, marketdata, execution) are unreachable ports
here, so each bot task keeps retrying: holding a bot, not trading, is what is tested.

Twenty bots on two replicas (issue #12's acceptance): each held exactly once — by one replica's
task and by that replica's Redis lease — and killing one replica moves its bots to the other
within the lease."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import struct_pb2

from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.platform.tasks import task_stacks
from mandi.testing.kitesim import free_port
from mandi.testing.pg import fresh_database
from mandi.testing.redis import redis_namespace
from mandi.testing.signed_channel import signed_aio_channel
from mandi.v1 import (
    common_pb2,
    execution_pb2_grpc,
    history_pb2_grpc,
    marketdata_pb2_grpc,
    strategy_pb2,
)
from services.strategy.bot_runner import BotRunner
from services.strategy.bot_store import BotRow, BotStore, new_bot_id
from services.strategy.server import MIGRATIONS

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
LEASE_S = 1.0
BOTS = 20


def _runner(store: BotStore, redis, prefix: str, replica: str,
            channels: list[grpc.aio.Channel]) -> BotRunner:
    r = BotRunner(store, redis, replica_id=replica, prefix=prefix, lease_s=LEASE_S, poll_s=0.1)
    ch = signed_aio_channel(f"127.0.0.1:{free_port()}")  # nobody listens
    channels.append(ch)
    r.history = history_pb2_grpc.HistoryServiceStub(ch)
    r.marketdata = marketdata_pb2_grpc.MarketdataServiceStub(ch)
    r.execution = execution_pb2_grpc.ExecutionServiceStub(ch)
    return r


def _spec() -> bytes:
    params = struct_pb2.Struct()
    params.update({"fast": 5, "slow": 20})
    return strategy_pb2.BacktestSpec(
        strategy=strategy_pb2.StrategyDef(type="ema_crossover", params=params),
        symbols=[common_pb2.SymbolRef(exchange=common_pb2.EXCHANGE_NSE, tradingsymbol="INFY")],
        interval="minute", capital_paise=10**8,
        sizing=strategy_pb2.Sizing(type="fixed_qty", qty=1),
        costs=strategy_pb2.Costs(product=strategy_pb2.PRODUCT_MIS)).SerializeToString()


async def _until(cond, what: str, timeout_s: float) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not cond():
        assert loop.time() - start < timeout_s, what
        await asyncio.sleep(0.05)
    return loop.time() - start


async def _holders(redis, prefix: str, ids: list[str]) -> dict[str, str]:
    """Who holds each bot's lease in Redis."""
    vals = await redis.mget([f"{prefix}:strategy:bot:{i}" for i in ids])
    return {i: (v.decode() if isinstance(v, bytes) else v) for i, v in zip(ids, vals, strict=True)}


async def _bounded(aw, what: str, seconds: float = 20.0):
    """`aw` within `seconds`, else fail naming where every task is (not a 300 s hang)."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait([task], timeout=seconds)
    assert done, f"{what} did not finish in {seconds:g} s; tasks:\n" + "\n".join(task_stacks())
    return task.result()


async def _die(r: BotRunner) -> None:
    """A replica's process dying: its tasks end, its Redis keys stay until they expire."""
    tasks = [r._loop_task, *(t for _, t in r._leases.values()), *r._tasks.values()]
    for t in tasks:
        if t is not None:
            t.cancel()
    for t in tasks:
        if t is not None:
            await _bounded(asyncio.wait([t]), f"task {t.get_name()} after its cancel")
    r._leases.clear()
    r._tasks.clear()


async def test_each_bot_runs_on_one_replica_and_a_dead_replicas_bots_move() -> None:
    async with fresh_database() as dsn, redis_namespace() as ns:
        await run_migrations(dsn, "strategy", MIGRATIONS)
        pool = await create_pool(dsn, schema="strategy")
        store = BotStore(pool)
        spec = _spec()
        ids = []
        for k in range(BOTS):
            row = await store.create(BotRow(id=new_bot_id(), owner="u", name=f"bot{k}",
                                            spec=spec, account_id="PAPER1", mode="paper",
                                            product="MIS"), actor="u")
            await store.set_status(row.id, "running", "u")
            ids.append(row.id)
        channels: list[grpc.aio.Channel] = []
        prefix = ns.prefix.rstrip(":")
        a = _runner(store, ns.client, prefix, "A", channels)
        b = _runner(store, ns.client, prefix, "B", channels)
        try:
            await asyncio.gather(a.start(), b.start())
            await _until(lambda: len(a.held()) + len(b.held()) == BOTS,
                         "the bots were not all taken", 10)
            await asyncio.sleep(3 * LEASE_S)  # several renewals: nothing changes hands
            assert not set(a.held()) & set(b.held())
            assert sorted(a.held() + b.held()) == sorted(ids)
            holders = await _holders(ns.client, prefix, ids)
            assert {i: "A" for i in a.held()} | {i: "B" for i in b.held()} == holders
            if not a.held():  # B won every race: let A be the one that dies instead
                a, b = b, a
            moved = a.held()
            await _die(a)
            took = await _until(lambda: sorted(b.held()) == sorted(ids),
                                "the dead replica's bots did not move", 10)
            assert took < LEASE_S + 2.0, took
            assert moved and set(moved) <= set(b.held())
            assert set((await _holders(ns.client, prefix, ids)).values()) == {b.replica_id}
            # nothing marked a bot as failed along the way
            assert {r.status for r in await store.list(None)} == {"running"}
        finally:  # bounded: a replica that cannot stop is a failure now, not a hung suite
            await _bounded(asyncio.gather(a.stop(), b.stop()), "stopping the replicas", 30)
            for ch in channels:
                await ch.close()
            await pool.close()
