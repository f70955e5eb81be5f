"""IngestLease on the real Redis: one holder, takeover within ttl + 1 s, and the old holder
stopping (on_lose) when it is closed, when another replica has the key, and when its Redis
goes silent — in that last case strictly before the standby can start."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlparse

import pytest

from mandi.platform.redis import create_redis
from services.marketdata.lease import IngestLease
from tests.integration.marketdata.feed import until

TTL = 1.0
POLL = 0.2


class Replica:
    """A lease plus a record of its callbacks (monotonic instants)."""

    def __init__(self, redis, key: str, name: str) -> None:
        self.lease = IngestLease(redis, key, name, TTL, poll_s=POLL)
        self.acquired: list[float] = []
        self.lost: list[float] = []
        self.task: asyncio.Task | None = None

    async def _on_acquire(self) -> None:
        self.acquired.append(time.monotonic())

    async def _on_lose(self) -> None:
        self.lost.append(time.monotonic())

    def start(self) -> Replica:
        self.task = asyncio.create_task(self.lease.run(self._on_acquire, self._on_lose))
        return self

    async def kill(self) -> None:
        """Stop renewing without releasing (a crashed process)."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def close(self) -> None:
        await self.lease.close()
        if self.task is not None:
            await asyncio.wait_for(self.task, 5)


@pytest.fixture
async def pair(test_redis):
    key = test_redis.key("md:lease")
    a = Replica(test_redis.client, key, "replica-a").start()
    await until(lambda: a.lease.is_held, 5, "a holds the lease")
    b = Replica(test_redis.client, key, "replica-b").start()
    yield test_redis, key, a, b
    for r in (a, b):
        if r.task is not None and not r.task.done():
            await r.close()


async def test_one_holds_the_other_waits(pair):
    ns, key, a, b = pair
    await until(lambda: b.lease.holder() == "replica-a", 3, "b sees a as holder")
    await asyncio.sleep(3 * TTL)  # several renewals: a keeps it, b never gets it
    assert a.lease.is_held and not b.lease.is_held and b.acquired == []
    assert await ns.client.get(key) == "replica-a"
    assert 0 < await ns.client.pttl(key) <= TTL * 1000


async def test_closing_the_holder_hands_over(pair):
    ns, key, a, b = pair
    t0 = time.monotonic()
    await a.close()
    assert len(a.lost) == 1 and not a.lease.is_held
    await until(lambda: b.lease.is_held, TTL + 1, "b takes over")
    assert b.acquired[0] - t0 <= TTL + 1
    assert await ns.client.get(key) == "replica-b"


async def test_a_crashed_holder_is_replaced_within_ttl_plus_1s(pair):
    ns, key, a, b = pair
    t0 = time.monotonic()
    await a.kill()
    await until(lambda: b.lease.is_held, TTL + 1.5, "b takes over")
    assert b.acquired[0] - t0 <= TTL + 1
    assert await ns.client.get(key) == "replica-b"


async def test_holder_whose_key_was_taken_stops_at_its_next_renewal(pair):
    ns, key, a, b = pair
    await ns.client.set(key, "replica-c", px=int(TTL * 1000))  # e.g. a's renewal came late
    await until(lambda: a.lost, TTL, "a's on_lose")
    assert not a.lease.is_held and a.lease.holder() != "replica-a"
    assert await ns.client.get(key) == "replica-c"  # a did not touch c's lease
    assert not b.lease.is_held and b.acquired == []
    await a.close()
    assert await ns.client.get(key) == "replica-c"  # nor did its release


class FreezableProxy:
    """A TCP relay to Redis that can go silent: bytes stop flowing both ways, sockets stay
    open — a Redis (or network) that hangs rather than refuses."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.frozen = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _client(self, reader, writer) -> None:
        up_r, up_w = await asyncio.open_connection(*self.target)
        await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer),
                             return_exceptions=True)

    async def _pipe(self, reader, writer) -> None:
        while data := await reader.read(65536):
            if self.frozen.is_set():
                await asyncio.Event().wait()  # swallow the link: never forward again
            writer.write(data)
            await writer.drain()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_holder_with_a_hung_redis_stops_before_the_standby_starts(test_redis):
    url = urlparse(test_redis.url)
    proxy = FreezableProxy(url.hostname or "127.0.0.1", url.port or 6379)
    port = await proxy.start()
    hung = create_redis(f"redis://127.0.0.1:{port}{url.path or '/0'}")
    key = test_redis.key("md:lease")
    a = Replica(hung, key, "replica-a").start()
    b = None
    try:
        await until(lambda: a.lease.is_held, 5, "a holds the lease")
        b = Replica(test_redis.client, key, "replica-b").start()
        proxy.frozen.set()
        t0 = time.monotonic()
        await until(lambda: b.lease.is_held, TTL + 1.5, "b takes over")
        assert a.lost and not a.lease.is_held
        assert a.lost[0] <= b.acquired[0]  # the old ingester stopped first
        assert b.acquired[0] - t0 <= TTL + 1
    finally:
        if b is not None:
            await b.close()
        if a.task is not None:
            a.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await a.task
        await proxy.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(hung.aclose(), 2)
