"""One active ingester per API key across replicas: the ingester runs only while this replica
holds the ingest lease (Redis, `<prefix>:md:lease:<api_key>`).

A standby polls the lease every second and takes over at most `marketdata_lease_s` + 1 s after
the holder stops renewing it (crash, kill, network); the holder stops its ingester as soon as a
renewal fails, so two ingesters never run at once for longer than the renewal in flight. The
candle log refuses a bar already logged, so a takeover cannot emit a candle twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from mandi.kite.auth import TokenProvider
from mandi.kite.session_store import session_store
from mandi.platform.redis import create_redis
from mandi.platform.simclock import SimClock, make_clock
from services.marketdata.ingest import Ingester
from services.marketdata.lease import IngestLease

if TYPE_CHECKING:
    from services.marketdata.app import MarketdataApp

log = logging.getLogger(__name__)


class LeasedIngester:
    def __init__(self, app: MarketdataApp) -> None:
        self.app = app
        self.current: Ingester | None = None
        self._task: asyncio.Task | None = None
        self._starting: asyncio.Task | None = None
        self._stopping = False

    async def start(self) -> None:
        s = self.app.settings
        self.clock = make_clock(s)
        if isinstance(self.clock, SimClock):
            await self.clock.start()
        self.redis = create_redis(s.redis_url)
        self.tokens = TokenProvider(s, session_store(s, self.redis))  # the daily gateway login
        self.lease = IngestLease(self.redis, f"{s.redis_prefix}:md:lease:{s.kite_api_key}",
                                 self.app.replica_id, s.marketdata_lease_s)
        self._task = asyncio.create_task(self.lease.run(self._acquired, self._lost))

    async def _token(self) -> str:
        return await self.tokens.get()

    async def _acquired(self) -> None:
        log.info("replica %s holds the ingest lease", self.app.replica_id)
        ing = Ingester(self.app.settings, self.app.bus, self.clock, self.app.history,
                       self._token, hub=self.app.hub)
        self.current = ing
        # the lease loop must keep renewing: the ingester starts beside it
        self._starting = asyncio.create_task(ing.start())

    async def _lost(self) -> None:
        ing, self.current = self.current, None
        if self._starting is not None:
            with contextlib.suppress(BaseException):
                await self._starting
            self._starting = None
        if ing is not None:
            log.log(logging.INFO if self._stopping else logging.WARNING,
                    "replica %s %s the ingest lease; stopping its ingester",
                    self.app.replica_id, "gives up" if self._stopping else "lost")
            await ing.stop()

    async def stop(self) -> None:
        self._stopping = True
        await self.lease.close()  # stops the ingester (on_lose) and releases the lease
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.current is not None:
            await self._lost()
        if isinstance(self.clock, SimClock):
            await self.clock.close()
        await self.redis.aclose()

    def status(self) -> dict[str, Any]:
        return {"active": self.lease.is_held,
                "active_replica_id": self.lease.holder() or "",
                "connections": self.current.status() if self.current is not None else []}
