"""The shared limiters against a real Redis, including several processes at once.

No assertion here depends on how fast the machine is: waits are compared with Redis' own
instants (returned by the sliding-window limiter) or bracketed by the time the test measured,
and rates are slow enough that a loaded machine cannot cross a boundary by accident."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from mandi.core.errors import InvalidInput, RateLimited
from mandi.platform.ratelimit import SlidingWindowLimiter, TokenBucket
from mandi.testing.redis import RedisNamespace
from mandi.testing.sliding import busiest_window

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("ratelimit_worker.py")


# --- token bucket (the history fetcher's capacity-1 pacer) --------------------------------
async def test_try_acquire_grants_burst_then_hints_wait(test_redis: RedisNamespace) -> None:
    bucket = TokenBucket(test_redis.client, test_redis.key("b"), capacity=3, rate_per_s=0.2)
    t0 = time.monotonic()
    assert [await bucket.try_acquire() for _ in range(3)] == [(True, 0.0)] * 3
    granted, wait = await bucket.try_acquire()
    elapsed = time.monotonic() - t0
    assert not granted
    # one token at 0.2/s is 5 s, minus what refilled since the burst (≤ elapsed × 0.2 tokens,
    # i.e. ≤ elapsed seconds of waiting)
    assert 5.0 - elapsed - 1e-6 <= wait <= 5.0
    granted, wait = await bucket.try_acquire(2)
    elapsed = time.monotonic() - t0
    assert not granted and 10.0 - elapsed - 1e-6 <= wait <= 10.0  # two tokens: 2 / 0.2 s


async def test_try_acquire_after_waiting_the_hint_succeeds(test_redis: RedisNamespace) -> None:
    bucket = TokenBucket(test_redis.client, test_redis.key("b"), capacity=1, rate_per_s=20)
    assert (await bucket.try_acquire())[0]
    granted, wait = await bucket.try_acquire()
    assert not granted and 0 < wait <= 0.05
    await asyncio.sleep(wait + 0.005)
    assert (await bucket.try_acquire())[0]


async def test_acquire_waits_for_refill(test_redis: RedisNamespace) -> None:
    bucket = TokenBucket(test_redis.client, test_redis.key("b"), capacity=1, rate_per_s=10)
    started = time.monotonic()
    for _ in range(3):
        await bucket.acquire(timeout_s=60)
    assert time.monotonic() - started >= 0.18  # burst of 1, then two refills of 0.1 s


async def test_acquire_when_wait_exceeds_timeout_raises_rate_limited_at_once(
    test_redis: RedisNamespace,
) -> None:
    bucket = TokenBucket(test_redis.client, test_redis.key("b"), capacity=1, rate_per_s=0.02)
    await bucket.acquire()
    started = time.monotonic()
    with pytest.raises(RateLimited):
        await bucket.acquire(timeout_s=0.5)  # the next token is ~50 s away
    assert time.monotonic() - started < 25  # it did not sleep towards the token first


async def test_bucket_key_expires_once_idle_long_enough_to_be_full(
    test_redis: RedisNamespace,
) -> None:
    key = test_redis.key("b")
    await TokenBucket(test_redis.client, key, capacity=4, rate_per_s=2).try_acquire()
    ttl_ms = await test_redis.client.pttl(key)
    assert 2000 < ttl_ms <= 3000  # refill time (2 s) plus a second of slack


async def test_requests_larger_than_capacity_are_invalid(test_redis: RedisNamespace) -> None:
    bucket = TokenBucket(test_redis.client, test_redis.key("b"), capacity=2, rate_per_s=1)
    with pytest.raises(InvalidInput):
        await bucket.try_acquire(3)
    with pytest.raises(InvalidInput):
        TokenBucket(test_redis.client, test_redis.key("c"), capacity=0, rate_per_s=1)


# --- sliding window ----------------------------------------------------------------------
async def test_sliding_window_refuses_the_fourth_until_the_first_leaves(
    test_redis: RedisNamespace,
) -> None:
    lim = SlidingWindowLimiter(test_redis.client, {test_redis.key("w"): [(3, 60.0)]})
    first = await lim.try_acquire()
    assert first[0] and first[1] == 0.0
    assert (await lim.try_acquire())[0] and (await lim.try_acquire())[0]
    granted, wait, now, refused = await lim.try_acquire()
    assert not granted and refused == test_redis.key("w")
    # the first grant leaves the 60 s window 60 s after it was made (Redis' own instants)
    assert wait == pytest.approx(first[2] + 60.0 - now, abs=2e-6)
    granted, wait2, now2, _ = await lim.try_acquire(2)  # two more: the 2nd oldest must leave
    assert not granted and wait2 >= wait - (now2 - now) - 2e-6


async def test_sliding_window_grants_again_after_the_hinted_wait(
    test_redis: RedisNamespace,
) -> None:
    lim = SlidingWindowLimiter(test_redis.client, {test_redis.key("w"): [(2, 0.2)]})
    assert (await lim.try_acquire(2))[0]
    granted, wait, _, _ = await lim.try_acquire()
    assert not granted and 0 < wait <= 0.2
    await asyncio.sleep(wait + 0.005)
    assert (await lim.try_acquire())[0]


async def test_sliding_window_every_window_of_every_key_must_allow(
    test_redis: RedisNamespace,
) -> None:
    a, b = test_redis.key("account"), test_redis.key("exchange")
    both = SlidingWindowLimiter(test_redis.client, {a: [(5, 60.0), (2, 30.0)], b: [(3, 60.0)]})
    only_b = SlidingWindowLimiter(test_redis.client, {b: [(3, 60.0)]})
    assert (await both.try_acquire(2))[0]
    granted, _, _, refused = await both.try_acquire()
    assert not granted and refused == a  # a's 30 s window holds 2 of 2
    # nothing was taken from b by the refused request: b still has exactly 1 of 3 left
    assert (await only_b.try_acquire())[0]
    granted, _, _, refused = await only_b.try_acquire()
    assert not granted and refused == b
    assert await test_redis.client.zcard(a) == 2 and await test_redis.client.zcard(b) == 3


async def test_sliding_window_keys_apply_the_same_windows_under_other_keys(
    test_redis: RedisNamespace,
) -> None:
    a, b = test_redis.key("ip:a"), test_redis.key("ip:b")
    lim = SlidingWindowLimiter(test_redis.client, {test_redis.key("template"): [(1, 60.0)]})
    assert (await lim.try_acquire(keys=[a]))[0]
    granted, _, _, refused = await lim.try_acquire(keys=[a])
    assert not granted and refused == a
    assert (await lim.try_acquire(keys=[b]))[0]  # b has its own window
    assert await test_redis.client.zcard(a) == 1 and await test_redis.client.zcard(b) == 1
    assert not await test_redis.client.exists(test_redis.key("template"))
    with pytest.raises(InvalidInput):
        await lim.try_acquire(keys=[a, b])  # one key per rule


async def test_sliding_window_acquire_beyond_bound_names_the_field_at_once(
    test_redis: RedisNamespace,
) -> None:
    key = test_redis.key("w")
    lim = SlidingWindowLimiter(test_redis.client, {key: [(1, 60.0)]})
    await lim.acquire()
    started = time.monotonic()
    with pytest.raises(RateLimited) as exc:
        await lim.acquire(timeout_s=0.5, field={key: "orders_per_minute"},
                          message={key: "orders for key1"})
    assert exc.value.field == "orders_per_minute"
    assert exc.value.message.startswith("orders for key1 (1 per 60s)")
    assert time.monotonic() - started < 30  # refused without sleeping towards the 60 s slot


async def test_sliding_window_key_expires_after_its_longest_window(
    test_redis: RedisNamespace,
) -> None:
    key = test_redis.key("w")
    await SlidingWindowLimiter(test_redis.client, {key: [(10, 1.0), (50, 4.0)]}).try_acquire()
    assert 4000 < await test_redis.client.pttl(key) <= 5000  # 4 s window + 1 s slack


async def test_sliding_window_invalid_rules_and_requests(test_redis: RedisNamespace) -> None:
    key = test_redis.key("w")
    with pytest.raises(InvalidInput):
        SlidingWindowLimiter(test_redis.client, {key: [(0, 1.0)]})
    with pytest.raises(InvalidInput):
        SlidingWindowLimiter(test_redis.client, {key: [(3, 0.0)]})
    with pytest.raises(InvalidInput):
        SlidingWindowLimiter(test_redis.client, {})
    lim = SlidingWindowLimiter(test_redis.client, {key: [(10, 1.0), (3, 5.0)]})
    with pytest.raises(InvalidInput) as exc:
        await lim.try_acquire(4)  # never possible: the 5 s window allows 3
    assert exc.value.field == "n"


async def test_four_processes_sharing_a_limiter_never_exceed_any_sliding_window(
    test_redis: RedisNamespace,
) -> None:
    """Four interpreters take grants as fast as the limiter allows for 2.5 s each; in Redis'
    own record of grant instants no 1 s window holds more than 10 and no 2 s window more
    than 15 — and the limiter did grant up to those limits."""
    windows = [[10, 1.0], [15, 2.0]]
    key, go = test_redis.key("shared"), test_redis.key("go")
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), test_redis.url, key, json.dumps(windows), go, "2.5",
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        for _ in range(4)]
    for p in procs:  # every worker is connected before any starts
        assert p.stdout is not None
        assert (await asyncio.wait_for(p.stdout.readline(), 120)).strip() == b"ready"
    await test_redis.client.rpush(go, *["go"] * len(procs))
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 180)
    grants: list[float] = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        grants += json.loads(out)
    assert busiest_window(grants, 1.0) == 10
    assert busiest_window(grants, 2.0) == 15
    # Over ≥ 2.5 s the 2 s window caps the total: 15 in the first 2 s, then at most another
    # 15 from the instant the first grant leaves — so between 15 and 30 grants were made.
    assert 15 <= len(grants) <= 30
