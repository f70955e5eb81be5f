"""Order events fan-out: published on a Redis channel per account, so StreamOrderEvents served by
any replica sees updates applied by any other."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis


class EventBus:
    def __init__(self, redis: aioredis.Redis, prefix: str = "mandi:exec:events") -> None:
        self.redis = redis
        self.prefix = prefix
        self._pending: set[asyncio.Task[None]] = set()

    def publish_soon(self, account_id: str, order_id: str, status: str, **kw: Any) -> None:
        """Publish without waiting (the order path must not pay for the fan-out)."""
        task = asyncio.get_running_loop().create_task(
            self.publish(account_id, order_id, status, **kw))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def channel(self, account_id: str) -> str:
        return f"{self.prefix}:{account_id}"

    async def publish(self, account_id: str, order_id: str, status: str, *,
                      broker_status: str = "", filled: int = 0, avg: int = 0,
                      message: str = "") -> None:
        payload = {"order_id": order_id, "account_id": account_id, "status": status,
                   "broker_status": broker_status, "filled_quantity": filled,
                   "average_price_paise": avg, "message": message}
        try:
            await self.redis.publish(self.channel(account_id), json.dumps(payload))
        except Exception:  # the stream is best effort; the ledger is the truth
            pass

    async def subscribe(self, account_id: str) -> AsyncIterator[dict[str, Any]]:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self.channel(account_id))
        try:
            async for msg in pubsub.listen():
                if msg.get("type") != "message":
                    continue
                yield json.loads(msg["data"])
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()
