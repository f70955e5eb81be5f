"""Kite access tokens handed over by the gateway's login flow, shared through Redis.

The gateway's `/api/v1/kite/callback` stores the day's token here, per API key, sealed by
mandi.platform.secret_box (never in clear at rest; `rotate` re-seals under the first key), and
bumps a version counter; every
TokenProvider (history, marketdata, execution's Kite clients) compares the counter on each
`get()` and takes the new token without a restart. A token Kite rejected (403 TokenException)
marks the key `login_needed`: providers then answer AuthError at once, without calling Kite
again, until the next login bumps the version. A token past 06:00 IST after its issue is shown
as `login_needed` by `session()` (the gateway's `/api/v1/kite/session`) at once; providers
learn it from Kite's first 403 (which marks the key for every process), not from the clock.

Keys (prefix = Settings.redis_prefix): `{prefix}:kite:session:{api_key}` → sealed token,
`...:{api_key}:version` → counter, `...:{api_key}:issued` → ISO login time,
`...:{api_key}:state` → `active` | `login_needed`.

Not built yet: per-account API keys (accounts created with their own Kite app); the gateway
logs in with the settings' API key for every account it is asked about.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime

from redis import asyncio as aioredis
from redis.exceptions import WatchError

from mandi.core.clock import to_ist
from mandi.core.errors import ConfigError
from mandi.platform.config import Settings
from mandi.platform.logging import register_secret
from mandi.platform.secret_box import RotationCount, SecretBox, secret_box

ACTIVE, LOGIN_NEEDED = "active", "login_needed"
TOKEN_EXPIRES_AT = dtime(6, 0)  # a Kite access token dies at the first 06:00 IST after issue


def token_expiry(issued: datetime) -> datetime:
    """The first 06:00 IST strictly after `issued` (02:00 → 06:00 the same morning; 10:00 →
    06:00 the next morning)."""
    local = to_ist(issued)
    six = local.replace(hour=TOKEN_EXPIRES_AT.hour, minute=TOKEN_EXPIRES_AT.minute, second=0,
                        microsecond=0)
    return six if local < six else six + timedelta(days=1)


@dataclass(frozen=True)
class StoredSession:
    version: int
    state: str                     # active | login_needed | none (never logged in)
    issued: datetime | None
    expires: datetime | None


class KiteSessionStore:
    def __init__(self, redis: aioredis.Redis, prefix: str, box: SecretBox) -> None:
        self.redis = redis
        self.prefix = prefix
        self.box = box

    def _key(self, api_key: str, part: str = "") -> str:
        base = f"{self.prefix}:kite:session:{api_key}"
        return f"{base}:{part}" if part else base

    async def put(self, api_key: str, access_token: str, issued: datetime) -> int:
        """Store a fresh token (sealed) and bump the version every provider watches."""
        # the JSON shape of the credentials sealed before secret_box, so old entries still read
        sealed = self.box.seal(json.dumps({"api_key": api_key,
                                           "access_token": access_token}).encode())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(api_key), sealed)
            pipe.set(self._key(api_key, "issued"), issued.isoformat())
            pipe.set(self._key(api_key, "state"), ACTIVE)
            pipe.incr(self._key(api_key, "version"))
            result = await pipe.execute()
        return int(result[-1])

    async def version(self, api_key: str) -> int:
        return int(await self.redis.get(self._key(api_key, "version")) or 0)

    async def status(self, api_key: str) -> tuple[int, str]:
        """(version, stored state) in one round trip; (0, "") before any login."""
        version, state = await self.redis.mget(self._key(api_key, "version"),
                                               self._key(api_key, "state"))
        state = state.decode() if isinstance(state, bytes) else state
        return int(version or 0), state or ""

    async def token(self, api_key: str) -> str:
        sealed = await self.redis.get(self._key(api_key))
        raw = sealed.encode() if isinstance(sealed, str) else sealed
        token = str(json.loads(self.box.open(raw, "the stored Kite access token"))
                    .get("access_token", ""))
        register_secret(token)
        return token

    async def rotate(self) -> RotationCount:
        """Re-seal every stored token under the first key; a token changed meanwhile (a new
        login) is left alone — it was sealed under the first key anyway."""
        count = RotationCount()
        base = f"{self.prefix}:kite:session:"
        async for key in self.redis.scan_iter(match=f"{base}*", count=500):
            name = key.decode() if isinstance(key, bytes) else key
            if ":" in name[len(base):]:
                continue  # version / issued / state, not a token
            async with self.redis.pipeline(transaction=True) as pipe:
                await pipe.watch(name)
                sealed = await pipe.get(name)
                if sealed is None:
                    continue
                try:
                    new = self.box.rotate(sealed.encode() if isinstance(sealed, str) else sealed,
                                          "the stored Kite access token")
                except ConfigError:
                    count += RotationCount(unreadable=1)
                    continue
                if new is None:
                    count += RotationCount(current=1)
                    continue
                pipe.multi()
                pipe.set(name, new, keepttl=True)
                try:
                    await pipe.execute()
                    count += RotationCount(rotated=1)
                except WatchError:
                    count += RotationCount(current=1)
        return count

    async def mark_login_needed(self, api_key: str, version: int) -> None:
        """Kite rejected the token of `version`; a newer login is left alone, even one stored
        between our read of the version and the write (WATCH: the write is then dropped)."""
        counter = self._key(api_key, "version")
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(counter)
                if int(await pipe.get(counter) or 0) != version:
                    return
                pipe.multi()
                pipe.set(self._key(api_key, "state"), LOGIN_NEEDED)
                await pipe.execute()
            except WatchError:
                pass  # a new login bumped the version: its state stays active

    async def session(self, api_key: str, now: datetime) -> StoredSession:
        version, state, issued = await self.redis.mget(
            self._key(api_key, "version"), self._key(api_key, "state"),
            self._key(api_key, "issued"))
        if not version:
            return StoredSession(0, "none", None, None)
        when = datetime.fromisoformat(issued.decode() if isinstance(issued, bytes) else issued)
        expires = token_expiry(when)
        state = state.decode() if isinstance(state, bytes) else state
        if now >= expires:
            state = LOGIN_NEEDED
        return StoredSession(int(version), state or LOGIN_NEEDED, when, expires)


def session_store(settings: Settings, redis: aioredis.Redis) -> KiteSessionStore:
    """The store every service shares: Settings' Redis prefix, the secrets-at-rest key."""
    return KiteSessionStore(redis, settings.redis_prefix, secret_box(settings))
