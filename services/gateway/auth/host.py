"""The auth state of a gateway process: its PostgreSQL pool and tables, the Redis login
throttle, the token-signing secret and the first-run admin, opened with the app (lifespan).

Opening retries in the background like the notifier's host, so /healthz answers while
PostgreSQL is down; until it is open, routes that need a credential answer 503."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from mandi.core.errors import ConfigError, TemporaryError
from mandi.platform.config import Settings
from mandi.platform.db import create_pool
from mandi.platform.migrations import ensure_database, run_migrations
from mandi.platform.redis import create_redis
from services.gateway.auth import tokens
from services.gateway.auth.bootstrap import ensure_admin
from services.gateway.auth.store import AuthStore
from services.gateway.auth.throttle import LoginThrottle

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
READY_WAIT_S = 5.0
SECRET_NAME = "jwt_hs256"


class AuthHost:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.redis: aioredis.Redis | None = None
        self.store: AuthStore | None = None
        self.throttle: LoginThrottle | None = None
        self.secret = ""
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._main(), name="auth")

    async def _open(self) -> None:
        s = self.settings
        await ensure_database(s.pg_dsn)
        await run_migrations(s.pg_dsn, "gateway", MIGRATIONS)
        self.pool = await create_pool(s.pg_dsn, schema="gateway", max_size=10)
        self.store = AuthStore(self.pool)
        self.redis = create_redis(s.redis_url)
        await self.redis.ping()
        self.throttle = LoginThrottle(self.redis, s.redis_prefix, s.login_max_failures,
                                      s.login_lockout_s)
        self.secret = s.jwt_secret or await self.store.secret(SECRET_NAME, tokens.opaque())
        await ensure_admin(self.store, s)

    async def _main(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._open()
                break
            except asyncio.CancelledError:
                raise
            except ConfigError as exc:  # a bad MANDI_ADMIN_PASSWORD: retrying will not help
                log.error("auth: %s", exc.message)
                await self._release()
                return
            except Exception as exc:  # keep trying; credentialed routes answer 503
                log.warning("auth: not ready (%s: %s); retrying in %.0fs",
                            type(exc).__name__, exc, delay)
                await self._release()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.ready.set()

    async def wait(self) -> AuthHost:
        if not self.ready.is_set():
            try:
                await asyncio.wait_for(self.ready.wait(), READY_WAIT_S)
            except TimeoutError:
                raise TemporaryError("sign-in unavailable (database or Redis not reachable "
                                     "yet), try again") from None
        return self

    async def _release(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._release()
