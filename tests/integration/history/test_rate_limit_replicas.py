"""Two history replicas fetching at once share one Redis token bucket per API key and together
stay under Kite's 3 req/s.

Each replica is a separate process with its own Fetcher. Until kitesim's HTTP app lands (one
server seeing both replicas), every historical request's wall-clock send time is recorded and
the merged timeline is replayed through kitesim's own sliding-window limiter
(services.kitesim.ratelimit.RateLimiter, 3 per second): a request it would refuse is a 429.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mandi.core.clock import IST, TestClock
from mandi.core.intervals import parse_interval
from services.history.fetcher import Fetcher, FetchOptions, historical_bucket
from services.kitesim.ratelimit import RateLimiter

sys.path.insert(0, str(Path(__file__).parent))
from test_fetcher import SIM_NOW, SimHistorical, record_for

pytestmark = pytest.mark.integration
REQUESTS_PER_REPLICA = 50
ROOT = Path(__file__).resolve().parents[3]


class TimedSource(SimHistorical):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[float] = []

    async def historical_data(self, *args: Any, **kw: Any) -> list[dict[str, Any]]:
        self.sent.append(time.time())
        return await super().historical_data(*args, **kw)


class CountingStore:
    async def write(self, token: int, interval: str, frame: Any, *, overwrite: bool) -> int:
        return len(frame)

    async def stored_timestamps(self, *args: Any) -> list[int]:
        return []


async def _replica_main(redis_url: str, api_key: str, out: str, start_at: float) -> None:
    from mandi.platform.redis import create_redis

    limiter = historical_bucket(create_redis(redis_url), api_key, 3.0)
    source = TimedSource()
    fetcher = Fetcher(source, CountingStore(), TestClock(SIM_NOW), limiter=limiter,
                      validator=None)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    day = datetime(2024, 1, 1, 9, 15, tzinfo=IST)
    for i in range(REQUESTS_PER_REPLICA):
        d = day + timedelta(days=i)
        await fetcher.fetch(record_for("NSE", "INFY"), parse_interval("15minute"), d,
                            d + timedelta(hours=6), FetchOptions(validate=False))
    payload = json.dumps({"sent": source.sent, "rate_limited": fetcher.stats.rate_limited})
    await asyncio.to_thread(Path(out).write_text, payload)


def test_two_replicas_when_fetching_at_once_stay_under_limit_at_full_speed(
    tmp_path: Path, test_redis
) -> None:
    api_key = test_redis.key("apikey")
    start_at = time.time() + 2.0  # both replicas start together, after imports
    outs = [tmp_path / f"replica{i}.json" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, __file__, "replica", test_redis.url, api_key,
                               str(out), repr(start_at)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stderr=subprocess.PIPE) for out in outs]
    for p in procs:
        _, err = p.communicate(timeout=90)
        assert p.returncode == 0, err.decode()[-2000:]
    results = [json.loads(o.read_text()) for o in outs]
    sent = sorted(t for r in results for t in r["sent"])
    clock = iter(sent)
    kitesim = RateLimiter(clock=lambda: next(clock))
    refused = sum(0 if kitesim.allow("k", "historical") else 1 for _ in sent)
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    print(f"\ntwo replicas: {len(sent)} requests, {rate:.2f} req/s, {refused} over the limit")
    assert len(sent) >= 100
    assert all(len(r["sent"]) == REQUESTS_PER_REPLICA for r in results)
    assert refused == 0 and sum(r["rate_limited"] for r in results) == 0
    assert rate >= 2.7


if __name__ == "__main__" and sys.argv[1:2] == ["replica"]:
    asyncio.run(_replica_main(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])))
