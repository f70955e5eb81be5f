"""The history service's view of Kite: historical candles and instrument dumps through the real
kiteconnect client, logged in by a TokenProvider (the gateway's stored daily login
first). A rejected token is dropped and the call is
tried once more with a fresh login (kitesim tokens expire at 06:00 IST like Kite's)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, TypeVar

import redis.asyncio as aioredis

from mandi.core.candles import CandleFrame
from mandi.core.errors import AuthError
from mandi.kite.auth import TokenProvider
from mandi.kite.client import KiteClient
from mandi.kite.session_store import session_store
from mandi.platform.config import Settings
from mandi.platform.redis import create_redis

T = TypeVar("T")


class KiteSource:
    def __init__(self, settings: Settings, redis: aioredis.Redis | None = None) -> None:
        # where the gateway stores the daily Kite login: the app's client, or one of our own
        self._own_redis = redis is None
        self._redis = create_redis(settings.redis_url) if redis is None else redis
        self._tokens = TokenProvider(settings, session_store(settings, self._redis))
        self._client = KiteClient(settings.kite_api_key, root=settings.kite_root)
        self._token = ""
        self.api_key = settings.kite_api_key

    async def _with_token(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(2):
            token = await self._tokens.get()
            if token != self._token:
                self._client.set_access_token(token)
                self._token = token
            try:
                return await call()
            except AuthError:
                await self._tokens.rejected(token)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def historical_candles(self, instrument_token: int, start: datetime | date,
                                 end: datetime | date, interval: str, *,
                                 continuous: bool = False, oi: bool = False) -> CandleFrame:
        return await self._with_token(lambda: self._client.historical_candles(
            instrument_token, start, end, interval, continuous=continuous, oi=oi))

    async def instruments(self, exchange: str | None = None) -> list[dict[str, Any]]:
        return await self._with_token(lambda: self._client.instruments(exchange))

    async def close(self) -> None:
        await self._client.close()
        if self._own_redis:
            await self._redis.aclose()
