"""Kite request-rate buckets shared through Redis, and the algo id carried on every order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mandi.core.errors import RateLimited
from mandi.testing.redis import redis_namespace
from services.execution.accounts import RiskLimits
from services.execution.brokers.kite_limits import KiteRateLimiter
from tests.integration.execution.kit import Env, spec

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


async def test_kite_limiter_when_second_quote_within_a_second_waits_or_refuses() -> None:
    async with redis_namespace() as ns:
        one = KiteRateLimiter(ns.client, "key1", timeout_s=0.2, prefix=ns.prefix + "kite")
        other_process = KiteRateLimiter(ns.client, "key1", timeout_s=0.2,
                                        prefix=ns.prefix + "kite")
        await one.wait("quote")
        with pytest.raises(RateLimited):
            await other_process.wait("quote")  # the bucket is shared, not per object
        other_key = KiteRateLimiter(ns.client, "key2", timeout_s=0.2, prefix=ns.prefix + "kite")
        await other_key.wait("quote")  # another API key has its own allowance


async def test_algo_id_when_configured_travels_with_every_order(env: Env) -> None:
    aid = await env.add_account(replace(RiskLimits(), algo_id="ALGO42"))
    row, _ = await env.engine.place(aid, spec(price_paise=81000))
    assert await env.pool.fetchval(
        "SELECT algo_id FROM paper_orders WHERE account_id = $1 AND broker_order_id = $2",
        aid, row["broker_order_id"]) == "ALGO42"
