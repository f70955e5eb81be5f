"""Run by test_ratelimit in several processes: take grants from one shared sliding-window
limiter as fast as it allows, print the grant instants (Redis' clock) as JSON.

argv: redis_url key windows_json go_key duration_s
The worker prints "ready" once connected, then blocks until the test pushes to `go_key`, so a
slow interpreter start on a loaded machine cannot shift one worker's run against the others.
"""

import asyncio
import json
import sys
import time

from mandi.platform.ratelimit import SlidingWindowLimiter
from mandi.platform.redis import create_redis


async def main(url: str, key: str, windows: list[list[float]], go_key: str,
               duration: float) -> list[float]:
    redis = create_redis(url)
    limiter = SlidingWindowLimiter(redis, {key: [(int(n), s) for n, s in windows]})
    await redis.ping()
    print("ready", flush=True)
    await redis.blpop([go_key], timeout=120)
    end = time.monotonic() + duration
    grants: list[float] = []
    while time.monotonic() < end:
        grants.append(await limiter.acquire(timeout_s=120))
    await redis.aclose()
    return grants


if __name__ == "__main__":
    url, key, windows, go_key, duration = sys.argv[1:6]
    grants = asyncio.run(main(url, key, json.loads(windows), go_key, float(duration)))
    print(json.dumps(grants))
