"""Scenario 18 and a PostgreSQL restart: the stores go away under a running engine (private
servers on free ports; the shared ones are never touched) and come back; no process restarts.

* Redis (the per-account orders/s limit and the SEBI governor live there) is killed for
  REDIS_DOWN_S (3 s in `make test`, 60 s under `make chaos`) while a client keeps sending
  orders: every order is refused while the limits cannot be checked (fail closed, UNAVAILABLE,
  fast), none is accepted, and once Redis is back orders are taken again by the same engine —
  a burst right after recovery is held to the governor (9 in its 1.25 s window), as before.
* PostgreSQL is stopped for PG_DOWN_S and started again under the same engine: orders fail
  while it is down (nothing half-written: no order without its event, none at the broker
  without a row), and the engine's pool serves again without a restart.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from mandi.core.errors import MandiError, RateLimited, TemporaryError
from mandi.platform.migrations import run_migrations
from mandi.platform.status import status_of
from mandi.testing.pg import fresh_database
from mandi.testing.private_servers import (
    PrivatePostgres,
    PrivateRedis,
    pg_available,
    private_postgres,
    private_redis,
)
from mandi.testing.redis import redis_namespace
from tests.integration.execution.kit import MIGRATIONS, Env, make_env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
REPEAT = max(1, int(os.environ.get("MANDI_CHAOS_REPEAT", "1") or 1))
REDIS_DOWN_S = 3.0 if REPEAT == 1 else 60.0
PG_DOWN_S = 2.0 if REPEAT == 1 else 30.0
GOVERNOR = 9  # SEBI governor: orders per 1.25 s per account and exchange


@pytest.fixture(scope="module")
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module")
async def renv(ledger_dsn: str, redis_server: PrivateRedis) -> AsyncIterator[Env]:
    """A paper engine whose Redis is the private server."""
    async with redis_namespace(redis_server.url) as ns:
        e = await make_env(ledger_dsn, ns)
        try:
            yield e
        finally:
            await e.engine.brokers.close()
            await e.pool.close()


async def _try(env: Env, aid: str, coid: str, out: Counter[str]) -> float:
    """One order; counts its outcome; returns how long the answer took."""
    t = time.monotonic()
    try:
        await env.engine.place(aid, spec(coid, quantity=1, price_paise=81235,
                                         allow_duplicate=True))
        out["accepted"] += 1
    except RateLimited:
        out["throttled"] += 1
    except TemporaryError:
        out["unavailable"] += 1
    except MandiError as exc:
        out[f"refused:{exc.field}"] += 1
    return time.monotonic() - t


async def _burst(env: Env, aid: str, tag: str, n: int = 30) -> tuple[Counter[str], float]:
    out: Counter[str] = Counter()
    t = time.monotonic()
    await asyncio.gather(*(_try(env, aid, f"{tag}{i}", out) for i in range(n)))
    return out, time.monotonic() - t


async def test_redis_down_when_orders_keep_coming_refused_then_recovered(
        renv: Env, redis_server: PrivateRedis) -> None:
    aid = renv.account_id
    before, spent = await _burst(renv, aid, "b")
    if spent < 1.25:
        assert before["accepted"] == GOVERNOR, before
    await asyncio.sleep(1.3)  # the governor's window empties
    redis_server.stop()
    down: Counter[str] = Counter()
    slowest = 0.0
    t_down = time.monotonic()
    i = 0
    while time.monotonic() - t_down < REDIS_DOWN_S:
        slowest = max(slowest, await _try(renv, aid, f"d{i}", down))
        i += 1
        await asyncio.sleep(0.05)
    redis_server.start()
    t_back = time.monotonic()
    recovered: Counter[str] = Counter()
    while not recovered["accepted"]:
        await _try(renv, aid, f"r{len(recovered)}{recovered.total()}", recovered)
        assert time.monotonic() - t_back < 15, recovered
        await asyncio.sleep(0.05)
    recover_s = time.monotonic() - t_back
    await asyncio.sleep(1.3)
    after, spent_after = await _burst(renv, aid, "a")
    if spent_after < 1.25:
        assert after["accepted"] == GOVERNOR, after
    rows = await renv.pool.fetchval("SELECT count(*) FROM orders WHERE account_id = $1"
                                    " AND client_order_id LIKE 'd%'", aid)
    assert down["accepted"] == 0 and rows == 0, down
    assert down["unavailable"] == sum(down.values()), down  # retryable, not an internal error
    assert slowest < 2.0
    print(f"\n[fault] redis down: down_s={REDIS_DOWN_S:.0f} attempts={sum(down.values())} "
          f"accepted_while_down=0 breaches=0 slowest_refusal_s={slowest:.2f} "
          f"recover_s={recover_s:.2f} burst_after={after['accepted']}/{after.total()}")


@pytest.mark.skipif(not pg_available(), reason="no PostgreSQL server binaries (initdb)")
async def test_postgres_restarted_when_engine_running_pool_recovers(tmp_path) -> None:
    with private_postgres() as pg:
        await _pg_scenario(pg)


async def _pg_scenario(pg: PrivatePostgres) -> None:
    async with fresh_database(pg.dsn) as dsn, redis_namespace() as ns:
        await run_migrations(dsn, "execution", MIGRATIONS)
        env = await make_env(dsn, ns)
        aid = env.account_id
        try:
            ok: Counter[str] = Counter()
            for i in range(3):
                await _try(env, aid, f"p{i}", ok)
                await asyncio.sleep(0.15)
            assert ok["accepted"] == 3
            pg.stop()
            down: Counter[str] = Counter()
            t = time.monotonic()
            i = 0
            while time.monotonic() - t < PG_DOWN_S:
                try:
                    await _try(env, aid, f"q{i}", down)
                except Exception as exc:  # what a gRPC caller gets for it
                    down[status_of(exc).name] += 1
                i += 1
                await asyncio.sleep(0.15)
            pg.start()
            t_back = time.monotonic()
            back: Counter[str] = Counter()
            j = 0
            while not back["accepted"]:
                try:
                    await _try(env, aid, f"s{j}", back)
                except Exception:  # still coming up: the next attempt tells
                    pass
                j += 1
                assert time.monotonic() - t_back < 20, back
                await asyncio.sleep(0.15)
            recover_s = time.monotonic() - t_back
            orphans = await env.pool.fetchval(
                "SELECT count(*) FROM orders o WHERE account_id = $1 AND NOT EXISTS"
                " (SELECT 1 FROM order_events e WHERE e.order_id = o.order_id)", aid)
            at_broker = await env.pool.fetchval(
                "SELECT count(*) FROM paper_orders p WHERE account_id = $1", aid)
            rows = await env.pool.fetchval(
                "SELECT count(*) FROM orders WHERE account_id = $1", aid)
        finally:
            await env.engine.brokers.close()
            await env.pool.close()
    assert down["accepted"] == 0 and down.total() > 0
    assert set(down) <= {"UNAVAILABLE", "unavailable"}, down  # retryable, never INTERNAL
    assert orphans == 0 and at_broker <= rows
    print(f"\n[fault] postgres restart: down_s={PG_DOWN_S:.0f} refused_while_down="
          f"{down.total()} (all UNAVAILABLE) recover_s={recover_s:.2f} orphans=0 "
          "engine_restarts=0")
