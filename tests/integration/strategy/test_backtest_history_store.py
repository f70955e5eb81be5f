"""The history query against real PostgreSQL: the keyset cursor walks runs that share a creation
time without skipping or repeating one, filters use the columns copied out of the spec, and a
cursor that is not one of ours is refused naming the field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from mandi.core.errors import InvalidInput
from mandi.platform.db import create_pool
from mandi.platform.migrations import run_migrations
from services.strategy.server import MIGRATIONS
from services.strategy.store import BacktestStore, HistoryFilter, page_token, parse_page_token

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def store(pg_dsn) -> AsyncIterator[BacktestStore]:
    await run_migrations(pg_dsn, "strategy", MIGRATIONS)
    pool = await create_pool(pg_dsn, schema="strategy")
    try:
        yield BacktestStore(pool)
    finally:
        await pool.close()


async def test_history_when_runs_share_created_at_pages_each_once_newest_first(store):
    ids = [(await store.create("asha", False, b"", strategy_type="rsi", symbols=["NSE:INFY"])).id
           for _ in range(7)]
    await store.create("ravi", False, b"")  # someone else's
    await store.create("asha", False, b"", kind="optimize")  # not a backtest
    same = datetime(2025, 6, 1, tzinfo=UTC)
    await store.pool.execute("UPDATE backtests SET created_at = $1 WHERE id = ANY ($2::uuid[])",
                             same, [uuid.UUID(i) for i in ids[2:6]])
    seen, after = [], None
    while True:
        rows, total, nxt = await store.history("asha", HistoryFilter(), limit=2, after=after)
        assert total == 7
        seen += [r.id for r in rows]
        if not nxt:
            break
        after = parse_page_token(nxt)
    assert sorted(seen) == sorted(ids) and len(seen) == 7
    tied = [i for i in seen if i in ids[2:6]]
    assert tied == sorted(ids[2:6], key=uuid.UUID, reverse=True)  # ties: id descending
    got = await store.history("asha", HistoryFilter(strategy="rsi", symbol="NSE:INFY",
                                                     state="queued"), limit=50)
    assert got[1] == 7
    assert (await store.history("asha", HistoryFilter(symbol="NSE:TCS"), limit=50))[1] == 0


async def test_delete_or_cancel_when_finished_deletes_when_queued_cancels(store):
    row = await store.create("asha", False, b"")
    action, _ = await store.delete_or_cancel(row.id)
    assert action == "cancelled" and (await store.get(row.id)).state == "cancelled"
    action, before = await store.delete_or_cancel(row.id)
    assert action == "deleted" and before.state == "cancelled"
    assert await store.pool.fetchval("SELECT count(*) FROM backtests") == 0


@pytest.mark.parametrize("token", [
    "", "!!!", "bm90IGEgdG9rZW4",  # "not a token"
    page_token(datetime(2025, 1, 1, tzinfo=UTC), "nope"),
    "MjAyNS0wMS0wMVQwMDowMDowMHwwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA",  # naive ts
])
def test_parse_page_token_when_not_ours_names_field(token):
    with pytest.raises(InvalidInput) as err:
        parse_page_token(token)
    assert err.value.field == "page.page_token"
