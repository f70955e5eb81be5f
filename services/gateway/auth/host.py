"""The auth state of a gateway process: its PostgreSQL pool and tables, the Redis login
throttle and REST rate limits, the token-signing secret and the first-run admin, opened with
the app (lifespan).

Opening retries in the background (mandi.platform.background), so /healthz answers while
PostgreSQL is down; until it is open, routes that need a credential answer 503. A bad
MANDI_ADMIN_PASSWORD stops the retries (logged; every credentialed route then answers 503)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from mandi.kite.session_store import KiteSessionStore, session_store
from mandi.platform.background import BackgroundHost
from mandi.platform.config import Settings
from mandi.platform.db import create_pool
from mandi.platform.migrations import ensure_database, run_migrations
from mandi.platform.redis import create_redis
from services.gateway.auth import tokens
from services.gateway.auth.bootstrap import ensure_admin
from services.gateway.auth.rest_limits import RestLimits
from services.gateway.auth.store import AuthStore
from services.gateway.auth.throttle import LoginThrottle

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SECRET_NAME = "jwt_hs256"


class AuthHost(BackgroundHost):
    name = "auth"
    unavailable = "sign-in unavailable (database or Redis not reachable yet), try again"

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.redis: aioredis.Redis | None = None
        self.store: AuthStore | None = None
        self.throttle: LoginThrottle | None = None
        self.limits: RestLimits | None = None
        self.kite_sessions: KiteSessionStore | None = None  # the daily Kite login's tokens
        self.secret = ""

    async def _open(self) -> None:
        s = self.settings
        await ensure_database(s.pg_dsn)
        await run_migrations(s.pg_dsn, "gateway", MIGRATIONS)
        # stateless: the gateway leaves no session state (no LISTEN, advisory locks or SET
        # outside a transaction), so a release needs no reset round trip on every request
        self.pool = await create_pool(s.pg_dsn, schema="gateway", max_size=10, stateless=True)
        self.store = AuthStore(self.pool)
        self.redis = create_redis(s.redis_url)
        await self.redis.ping()
        self.throttle = LoginThrottle(self.redis, s.redis_prefix, s.login_max_failures,
                                      s.login_lockout_s)
        self.limits = RestLimits(self.redis, s.redis_prefix, s.gateway_rate_user,
                                 s.gateway_rate_ip)
        self.kite_sessions = session_store(s, self.redis)
        self.secret = s.jwt_secret or await self.store.secret(SECRET_NAME, tokens.opaque())
        await ensure_admin(self.store, s)

    async def wait(self) -> AuthHost:
        await self.wait_ready()
        return self

    async def _release(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        self.store = self.throttle = self.limits = self.kite_sessions = None
