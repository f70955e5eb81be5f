"""Market data for pre-trade checks and paper fills: quotes with depth, and instrument dumps.

`KiteMarketData` reads Kite's quote API through the data credentials of an account (for a paper
account: a data-only key, never used for orders). `ManualMarketData` holds prices set in code —
replays, tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from mandi.core.money import rupees_to_paise
from mandi.kite.client import KiteClient
from services.execution.brokers.base import Quote
from services.execution.brokers.kite_limits import retry_kite_429


class MarketData(Protocol):
    async def quotes(self, keys: list[str]) -> dict[str, Quote]: ...

    async def instruments(self, exchange: str) -> list[dict[str, Any]]: ...

    async def close(self) -> None: ...


def quote_from_kite(q: dict[str, Any]) -> Quote:
    depth = q.get("depth") or {}

    def best(side: str) -> int | None:
        for level in depth.get(side) or []:
            if level.get("quantity") and level.get("price"):
                return rupees_to_paise(level["price"])
        return None

    return Quote(last_paise=rupees_to_paise(q.get("last_price") or 0), bid_paise=best("buy"),
                 ask_paise=best("sell"),
                 lower_circuit_paise=rupees_to_paise(q.get("lower_circuit_limit") or 0),
                 upper_circuit_paise=rupees_to_paise(q.get("upper_circuit_limit") or 0),
                 depth=depth)


class KiteMarketData:
    """Quotes and instruments through a Kite client used for data only (no order methods are
    reachable from here)."""

    def __init__(self, client: KiteClient, *, login: Callable[[], Awaitable[str]] | None = None,
                 has_token: bool = True, own_client: bool = True, limiter: Any = None,
                 cache_s: float = 1.0) -> None:
        self.client = client
        self.limiter = limiter
        self.cache_s = cache_s  # Kite allows one quote call a second: reuse a fresh answer
        self._cache: dict[str, tuple[float, Quote]] = {}
        # key → the REST call fetching it now: concurrent askers share it instead of each
        # spending a quote slot (twenty paper accounts' first orders on one symbol: one call)
        self._inflight: dict[str, asyncio.Future[dict[str, Quote]]] = {}
        self._login = login
        self._needs_login = not has_token and login is not None
        self._own = own_client

    async def _ready(self) -> None:
        if self._needs_login and self._login is not None:
            self.client.set_access_token(await self._login())
            self._needs_login = False

    async def quotes(self, keys: list[str]) -> dict[str, Quote]:
        if not keys:
            return {}
        now = time.monotonic()
        hits = {k: v[1] for k in keys if (v := self._cache.get(k)) and now - v[0] < self.cache_s}
        missing = [k for k in keys if k not in hits]
        if not missing:
            return hits
        joined = {k: f for k in missing if (f := self._inflight.get(k)) is not None}
        todo = [k for k in missing if k not in joined]
        fresh: dict[str, Quote] = {}
        if todo:
            fresh = await self._fetch_shared(todo)
        for k, pending in joined.items():
            try:
                answer = await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this caller was cancelled, not the call it joined
                answer = await self._fetch_shared([k])  # its first asker went away: ask again
            if k in answer:
                fresh[k] = answer[k]
        return {**hits, **fresh}

    async def _fetch_shared(self, keys: list[str]) -> dict[str, Quote]:
        shared: asyncio.Future[dict[str, Quote]] = asyncio.get_running_loop().create_future()
        for k in keys:
            self._inflight[k] = shared
        try:
            fresh = await self._fetch(keys)
        except asyncio.CancelledError:
            shared.cancel()
            raise
        except Exception as exc:
            shared.set_exception(exc)
            shared.exception()  # retrieved: a call nobody joined must not warn
            raise
        finally:
            for k in keys:
                if self._inflight.get(k) is shared:
                    del self._inflight[k]
        shared.set_result(fresh)
        return fresh

    async def _fetch(self, missing: list[str]) -> dict[str, Quote]:
        await self._ready()

        async def fetch() -> dict[str, Any]:
            if self.limiter is not None:
                await self.limiter.wait("quote")
            return await self.client.quote(missing)

        raw = await retry_kite_429(fetch, pause_s=0.0 if self.limiter is not None else 1.0)
        fresh = {k: quote_from_kite(v) for k, v in raw.items()}
        stamp = time.monotonic()
        for k, q in fresh.items():
            self._cache[k] = (stamp, q)
        return fresh

    async def instruments(self, exchange: str) -> list[dict[str, Any]]:
        await self._ready()
        if self.limiter is not None:
            await self.limiter.wait("other")
        return await self.client.instruments(exchange)

    async def close(self) -> None:
        if self._own:
            await self.client.close()


class ManualMarketData:
    """Prices set by `set_quote`; instruments given up front (Kite dump row dicts)."""

    def __init__(self, instruments: list[dict[str, Any]]) -> None:
        self._instruments = instruments
        self._quotes: dict[str, Quote] = {}

    def set_quote(self, key: str, last_paise: int, *, bid_paise: int | None = None,
                  ask_paise: int | None = None) -> None:
        self._quotes[key] = Quote(last_paise=last_paise, bid_paise=bid_paise,
                                  ask_paise=ask_paise)

    async def quotes(self, keys: list[str]) -> dict[str, Quote]:
        return {k: self._quotes[k] for k in keys if k in self._quotes}

    async def instruments(self, exchange: str) -> list[dict[str, Any]]:
        return [r for r in self._instruments if r["exchange"] == exchange]

    async def close(self) -> None:
        return None
