"""Run by test_ratelimit in several processes: hammer one bucket, print grant times as JSON.

argv: redis_url key capacity rate start_at(epoch s) duration_s
"""

import asyncio
import json
import sys
import time

from mandi.platform.ratelimit import TokenBucket
from mandi.platform.redis import create_redis


async def main(
    url: str, key: str, capacity: float, rate: float, start_at: float, duration: float
) -> list[float]:
    redis = create_redis(url)
    bucket = TokenBucket(redis, key, capacity, rate)
    await redis.ping()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    end = start_at + duration
    grants: list[float] = []
    while time.time() < end:
        granted, _wait = await bucket.try_acquire()
        if granted:
            grants.append(time.time())  # after the grant, so never earlier than Redis' instant
    await redis.aclose()
    return grants


if __name__ == "__main__":
    url, key, capacity, rate, start_at, duration = sys.argv[1:7]
    print(
        json.dumps(
            asyncio.run(
                main(url, key, float(capacity), float(rate), float(start_at), float(duration))
            )
        )
    )
