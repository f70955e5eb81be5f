"""One fresh database per test module (migrated once); each test gets its own account(s), so
tests never see each other's rows — the same tenant isolation production relies on.

The fixtures of the tests against kitesim live here too, and tests/fault and tests/e2e/execution
re-export them: `sim` (an in-process kitesim, logged in, limits off) and, for the execution
service run as processes (mandi.testing.exec_process), `ns` (a Redis namespace) and `dsn` (an
empty database the processes migrate themselves), all one per module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from mandi.platform.migrations import run_migrations
from mandi.testing.kitesim import KitesimServer, logged_in_kitesim
from mandi.testing.pg import fresh_database
from mandi.testing.redis import RedisNamespace, redis_namespace
from tests.integration.execution.api_kit import api as api_fixture
from tests.integration.execution.kit import MIGRATIONS, Env, make_env


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ledger_dsn() -> AsyncIterator[str]:
    async with fresh_database() as dsn:
        await run_migrations(dsn, "execution", MIGRATIONS)
        yield dsn


@pytest_asyncio.fixture(loop_scope="module")
async def env(ledger_dsn: str) -> AsyncIterator[Env]:
    async with redis_namespace() as ns:
        e = await make_env(ledger_dsn, ns)
        try:
            yield e
        finally:
            await e.engine.brokers.close()
            await e.pool.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[KitesimServer]:
    with logged_in_kitesim() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ns() -> AsyncIterator[RedisNamespace]:
    async with redis_namespace() as n:
        yield n


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dsn() -> AsyncIterator[str]:
    async with fresh_database() as d:
        yield d


# the gateway over this module's execution service (tests/integration/execution/api_kit.py)
api = api_fixture
