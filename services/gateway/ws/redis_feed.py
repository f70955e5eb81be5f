"""A Redis pub/sub channel shaped like a gRPC server stream (what hub.Source reads): awaiting
`initial_metadata()` subscribes and waits for Redis's confirmation, iterating yields each
message's JSON, `cancel()` releases the connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

CONFIRM_TIMEOUT_S = 5.0


class RedisFeed:
    def __init__(self, connect: Callable[[], Awaitable[aioredis.Redis]], channel: str) -> None:
        self.connect, self.channel = connect, channel
        self.pubsub: Any = None

    async def initial_metadata(self) -> None:
        self.pubsub = (await self.connect()).pubsub()
        await self.pubsub.subscribe(self.channel)
        async with asyncio.timeout(CONFIRM_TIMEOUT_S):
            while (await self.pubsub.get_message(timeout=CONFIRM_TIMEOUT_S) or {}).get(
                    "type") != "subscribe":
                pass

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        async for msg in self.pubsub.listen():
            if msg.get("type") == "message":
                yield json.loads(msg["data"])

    def done(self) -> bool:
        return False  # it fails by raising, never by finishing early

    def cancel(self) -> None:
        if self.pubsub is not None:
            pubsub, self.pubsub = self.pubsub, None
            asyncio.get_running_loop().create_task(pubsub.aclose())
