"""Kite order postbacks from the marketdata service's ticker socket, through Redis.

Kite pushes order updates (`{"type": "order", "data": {...}}`) on the same WebSocket as ticks,
and allows 3 such sockets per API key. Marketdata's ingester already holds the sockets of its
API key and publishes each postback's `data` as JSON on `<prefix>:md:postbacks`; execution
reads that channel instead of opening a socket of its own (which cost one of the three).

Pub/sub is lossy — a postback published while execution is not listening (restart, Redis
blip) is gone. That is acceptable because the worker polls the broker's orders every pass
anyway (sync_account): the postback only makes an update arrive sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from mandi.platform.retry import backoff_delay

log = logging.getLogger(__name__)


def postback_channel(redis_prefix: str) -> str:
    """The channel marketdata publishes postbacks on (see services/marketdata/ingest.py)."""
    return f"{redis_prefix}:md:postbacks"


async def redis_postbacks(redis: aioredis.Redis, channel: str, *,
                          ready: asyncio.Event | None = None,
                          max_backoff_s: float = 10.0) -> AsyncIterator[dict[str, Any]]:
    """Postback `data` dicts published on `channel`, forever; resubscribes after a Redis
    error (with backoff). `ready` is set once the first subscription is confirmed."""
    attempt = 0
    while True:
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(channel)
            if ready is not None:
                ready.set()
            attempt = 0
            while True:
                # a bounded wait per read: the client's socket timeout must not fire on a
                # quiet channel
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is None or msg.get("type") != "message":
                    continue
                try:
                    data = json.loads(msg["data"])
                except ValueError:
                    log.warning("skipping a malformed postback on %s", channel)
                    continue
                if isinstance(data, dict):
                    yield data
        except (RedisError, OSError) as exc:
            log.warning("postback channel %s: %s; resubscribing", channel, type(exc).__name__)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        await asyncio.sleep(backoff_delay(attempt, 0.5, max_backoff_s))
        attempt += 1
