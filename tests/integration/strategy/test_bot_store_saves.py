"""BotStore's group commit over real PostgreSQL: many bots saving the same bar at once share
transactions, and every save still lands (state, bar count, its orders); a save that cannot be
written fails alone, the others in its batch are written; execution's answers recorded together
each land on their own order; a bot's saves in a row keep their order."""

from __future__ import annotations

import asyncio

import pytest

from mandi.core.charges import Side
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from mandi.testing.pg import fresh_database
from services.strategy.bot_engine import OrderIntent, client_order_id
from services.strategy.bot_store import BotRow, BotStore, new_bot_id
from services.strategy.server import MIGRATIONS

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
BAR_NS = 1_772_422_500 * 10**9  # 2026-03-02 09:05 IST


def _order(bot_id: str, symbol: str | None) -> OrderIntent:
    return OrderIntent(client_order_id(bot_id, BAR_NS, "0.long.in"), symbol,  # type: ignore
                       Side.BUY, 3, "long", "entry", BAR_NS)


async def test_concurrent_saves_all_land_and_a_bad_one_fails_alone() -> None:
    async with fresh_database() as dsn:
        await run_migrations(dsn, "strategy", MIGRATIONS)
        pool = await create_pool(dsn, schema="strategy", min_size=2, max_size=4)
        store = BotStore(pool)
        try:
            ids = []
            for k in range(30):
                row = await store.create(BotRow(id=new_bot_id(), owner="u", name=f"b{k}",
                                                spec=b"", account_id="P", mode="paper",
                                                product="MIS"), actor="u")
                ids.append(row.id)
            bad = ids[7]
            results = await asyncio.gather(*(
                store.save_bar(i, {"last_bar": {"NSE:INFY": BAR_NS}, "k": k},
                               [_order(i, None if i == bad else "NSE:INFY")], live_bar=True)
                for k, i in enumerate(ids)), return_exceptions=True)
            failed = [i for i, r in zip(ids, results, strict=True) if isinstance(r, Exception)]
            assert failed == [bad]
            rows = {r.id: r for r in await store.list("u")}
            for k, i in enumerate(ids):
                if i == bad:
                    assert rows[i].bars == 0 and rows[i].state == {}
                    assert await store.orders(i) == []
                    continue
                assert rows[i].bars == 1 and rows[i].orders == 1
                assert rows[i].state == {"last_bar": {"NSE:INFY": BAR_NS}, "k": k}
                [o] = await store.orders(i)
                assert (o.client_order_id, o.symbol, o.quantity) == \
                    (client_order_id(i, BAR_NS, "0.long.in"), "NSE:INFY", 3)
            # execution's answers, arriving together, are recorded together, each on its row
            good = [i for i in ids if i != bad]
            await asyncio.gather(*(store.order_sent(i, client_order_id(i, BAR_NS, "0.long.in"),
                                                    f"X{k}", "COMPLETE")
                                   for k, i in enumerate(good)))
            for k, i in enumerate(good):
                [o] = await store.orders(i)
                assert (o.order_id, o.status) == (f"X{k}", "COMPLETE")
            # one bot's saves queued together are written in order: the last one wins
            await asyncio.gather(*(store.save_bar(ids[0], {"n": n}, [], live_bar=False)
                                   for n in range(5)))
            assert (await store.get(ids[0])).state == {"n": 4}
        finally:
            await pool.close()
