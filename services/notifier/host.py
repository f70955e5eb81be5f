"""The notifier inside the gateway process: started and stopped with the app (lifespan).

Start-up happens in the background so the gateway serves its other endpoints even while
PostgreSQL or Redis is not reachable yet: the host keeps retrying, and the notification
endpoints answer 503 ("notifications unavailable") until it is ready. The tables live in the
gateway's own schema (services/gateway/migrations), migrated here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from mandi.platform.background import BackgroundHost
from mandi.platform.config import Settings
from mandi.platform.db import create_pool
from mandi.platform.migrations import ensure_database, run_migrations
from mandi.platform.redis import create_redis
from services.notifier.store import NotifyStore
from services.notifier.worker import Notifier

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "gateway" / "migrations"


class NotifierHost(BackgroundHost):
    name = "notifier"
    unavailable = "notifications unavailable (database or Redis not reachable yet), try again"

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.redis: aioredis.Redis | None = None
        self.store: NotifyStore | None = None
        self.notifier: Notifier | None = None

    async def _open(self) -> None:
        s = self.settings
        await ensure_database(s.pg_dsn)
        applied = await run_migrations(s.pg_dsn, "gateway", MIGRATIONS)
        if applied:
            log.info("gateway: applied migrations %s", ", ".join(applied))
        self.pool = await create_pool(s.pg_dsn, schema="gateway", max_size=5, role="notifier",
                                      stateless=True)  # no session state: no reset per release
        self.redis = create_redis(s.redis_url)
        await self.redis.ping()
        self.store = NotifyStore(self.pool)
        self.notifier = Notifier(self.redis, self.store, s.redis_prefix,
                                 telegram_api=s.notify_telegram_api,
                                 attempts=s.notify_retry_attempts,
                                 base_delay_s=s.notify_retry_base_s,
                                 max_delay_s=s.notify_retry_max_s)
        await self.notifier.ensure_group()

    async def _serve(self) -> None:
        assert self.notifier is not None
        await self.notifier.run()

    async def get_store(self) -> NotifyStore:
        await self.wait_ready()
        assert self.store is not None
        return self.store

    async def _release(self) -> None:
        if self.notifier is not None:
            await self.notifier.close()
            self.notifier = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None
        self.store = None
