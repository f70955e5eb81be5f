"""Kite request-rate buckets shared through Redis, and the algo id carried on every order."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from mandi.core.errors import BrokerLoginNeeded, InvalidInput, RateLimited, TemporaryError
from mandi.testing.redis import redis_namespace
from mandi.testing.sliding import busiest_window
from services.execution.accounts import RiskLimits
from services.execution.brokers.kite_limits import (
    WINDOW_MARGIN_S,
    KiteRateLimiter,
    retry_kite_429,
    retry_kite_read,
)
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


async def _hammer(limiters: list[KiteRateLimiter], kind: str, seconds: float) -> list[float]:
    """Take `kind` slots from every limiter (one task each, like separate replicas) for
    `seconds`; the grant instants (Redis' clock where the limiter reports it)."""
    grants: list[float] = []
    end = time.monotonic() + seconds

    async def loop(lim: KiteRateLimiter) -> None:
        while time.monotonic() < end:
            at = await lim.wait(kind)
            grants.append(at if isinstance(at, float) else time.time())

    await asyncio.gather(*(loop(lim) for lim in limiters))
    return grants


async def test_kite_order_limiter_two_replicas_for_two_seconds_never_ten_plus_in_a_second(
) -> None:
    async with redis_namespace() as ns:
        replicas = [KiteRateLimiter(ns.client, "key1", timeout_s=30, prefix=ns.prefix + "kite")
                    for _ in range(2)]
        grants = await _hammer(replicas, "order", 2.3)
    # Kite: 10 order requests in any rolling second. Each window is lengthened by the 0.25 s
    # margin, so not even a 1.25 s window holds more than 10.
    assert WINDOW_MARGIN_S == 0.25
    assert busiest_window(grants, 1.0) <= 10
    assert busiest_window(grants, 1.25) == 10
    # 2.3 s of asking: 10 at once, 10 more at 1.25 s (the next 10 are due at 2.5 s) → 20,
    # and each of the 2 tasks may still finish one wait it began before the end → at most 22
    assert 20 <= len(grants) <= 22


async def test_kite_order_limiter_shortened_minute_window_holds_too() -> None:
    async with redis_namespace() as ns:
        shortened = {"order": ((10, 1.0), (15, 3.0))}  # a 400/min stand-in a test can wait for
        replicas = [KiteRateLimiter(ns.client, "key1", timeout_s=30, margin_s=0.0,
                                    limits=shortened, prefix=ns.prefix + "kite")
                    for _ in range(2)]
        grants = await _hammer(replicas, "order", 3.5)
    assert busiest_window(grants, 1.0) == 10
    assert busiest_window(grants, 3.0) == 15
    # 10 at 0 s, 5 at 1 s (the 3 s window's rest), 10 at 3 s when the first 10 leave it → 25,
    # and each of the 2 tasks may still finish one wait it began before the end → at most 27
    assert 15 < len(grants) <= 27


async def test_kite_order_limiter_keeps_a_day_of_grants_for_the_5000_cap() -> None:
    async with redis_namespace() as ns:
        lim = KiteRateLimiter(ns.client, "key1", prefix=ns.prefix + "kite")
        await lim.wait("order")
        keys = [k async for k in ns.client.scan_iter(match=ns.prefix + "kite:order:*")]
        assert len(keys) == 1
        # the longest order window is a day + the 0.25 s margin, and the key lives 1 s beyond it
        assert 86_400_000 < await ns.client.pttl(keys[0]) <= 86_401_250


async def test_retry_kite_429_repeats_kites_refusal_but_not_our_own_bound() -> None:
    calls = 0

    async def kite_refuses_twice() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RateLimited("kite rate limit hit (HTTP 429): Too many requests")
        return "quote"

    assert await retry_kite_429(kite_refuses_twice) == "quote" and calls == 3
    calls = 0

    async def our_bound() -> str:
        nonlocal calls
        calls += 1
        raise RateLimited("Kite quote requests: no slot within 5s", field="kite_quote_rate")

    with pytest.raises(RateLimited):
        await retry_kite_429(our_bound)
    assert calls == 1
    calls = -10  # Kite refuses every time: after 3 attempts its 429 is the caller's

    with pytest.raises(RateLimited, match="HTTP 429"):
        await retry_kite_429(kite_refuses_twice)
    assert calls == -7


async def test_retry_kite_read_repeats_a_lost_reply_but_not_a_refusal() -> None:
    calls = 0

    async def lost_then_429_then_ok() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TemporaryError("kite network error (HTTP 503): connection reset")
        if calls == 2:
            raise RateLimited("kite rate limit hit (HTTP 429): Too many requests")
        return "margins"

    assert await retry_kite_read(lost_then_429_then_ok, base_delay_s=0.01) == "margins"
    assert calls == 3
    for final in (RateLimited("no slot within 5s", field="kite_other_rate"),
                  BrokerLoginNeeded("kite rejected the credentials"),
                  InvalidInput("kite rejected the request")):
        calls = 0

        async def refused(exc: Exception = final) -> str:
            nonlocal calls
            calls += 1
            raise exc

        with pytest.raises(type(final)):
            await retry_kite_read(refused, base_delay_s=0.01)
        assert calls == 1, final
    calls = 0

    async def always_down() -> str:
        nonlocal calls
        calls += 1
        raise TemporaryError("kite unreachable: ConnectionError")

    with pytest.raises(TemporaryError, match="unreachable"):
        await retry_kite_read(always_down, base_delay_s=0.01)
    assert calls == 3


async def test_algo_id_when_configured_travels_with_every_order(env: Env) -> None:
    aid = await env.add_account(replace(RiskLimits(), algo_id="ALGO42"))
    row, _ = await env.engine.place(aid, spec(price_paise=81000))
    assert await env.pool.fetchval(
        "SELECT algo_id FROM paper_orders WHERE account_id = $1 AND broker_order_id = $2",
        aid, row["broker_order_id"]) == "ALGO42"
