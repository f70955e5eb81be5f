"""The shared token bucket against a real Redis, including several processes at once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from mandi.core.errors import InvalidInput, RateLimited
from mandi.platform.ratelimit import TokenBucket
from mandi.testing.redis import RedisNamespace

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("ratelimit_worker.py")


async def test_try_acquire_grants_burst_then_hints_wait(test_redis: RedisNamespace) -> None:
    bucket = TokenBucket(test_redis.client, test_redis.key("b"), capacity=3, rate_per_s=2)
    assert [await bucket.try_acquire() for _ in range(3)] == [(True, 0.0)] * 3
    granted, wait = await bucket.try_acquire()
    assert not granted
    assert 0.4 < wait <= 0.5  # one token at 2/s, minus the few ms since the burst
    granted, wait = await bucket.try_acquire(2)
    assert not granted and 0.9 < wait <= 1.0


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
        await bucket.acquire(timeout_s=2)
    assert 0.18 <= time.monotonic() - started < 1.0  # burst of 1, then two refills of 0.1 s


async def test_acquire_when_wait_exceeds_timeout_raises_rate_limited_at_once(
    test_redis: RedisNamespace,
) -> None:
    bucket = TokenBucket(test_redis.client, test_redis.key("b"), capacity=1, rate_per_s=0.5)
    await bucket.acquire()
    started = time.monotonic()
    with pytest.raises(RateLimited):
        await bucket.acquire(timeout_s=0.5)  # next token is ~2 s away
    assert time.monotonic() - started < 0.2


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


async def test_four_processes_sharing_a_bucket_never_exceed_capacity_plus_rate(
    test_redis: RedisNamespace,
) -> None:
    capacity, rate, duration = 10.0, 40.0, 3.0
    key = test_redis.key("shared")
    start_at = time.time() + 1.5  # time for the interpreters to start and import
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            test_redis.url,
            key,
            str(capacity),
            str(rate),
            repr(start_at),
            str(duration),
            cwd=REPO,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 30)
    per_process: list[list[float]] = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        per_process.append(json.loads(out))
    grants = sorted(t for g in per_process for t in g)
    assert all(per_process), "every process should get some tokens"

    # Every prefix window: tokens handed out by time t ≤ burst + refill since the start.
    # (The bucket did not exist before start_at and grant times are taken after Redis'.)
    for i, t in enumerate(grants):
        assert i + 1 <= capacity + rate * (t - start_at) + 1e-6, (i, t - start_at)
    # Every window between two grants, allowing one token for client-side timestamp jitter.
    for i in range(len(grants)):
        for j in range(i + 1, len(grants)):
            assert j - i + 1 <= capacity + rate * (grants[j] - grants[i]) + 1, (i, j)
    # ...and the limiter is not starving callers: close to the allowed maximum was granted.
    assert len(grants) >= 0.8 * (capacity + rate * duration)
