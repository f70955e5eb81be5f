"""Redis clients: one place that decides timeouts and decoding for every service."""

from __future__ import annotations

import redis.asyncio as aioredis


def create_redis(url: str, *, decode_responses: bool = True) -> aioredis.Redis:
    """A client for `url` (`redis://host:port/db`). Connections open lazily on first command.

    Timeouts are bounded so a hung Redis surfaces as an error instead of a stuck request.
    """
    return aioredis.Redis.from_url(
        url,
        decode_responses=decode_responses,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
    )
