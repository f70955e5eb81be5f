"""Where a service's Kite access token comes from.

In order: a fixed MANDI_KITE_ACCESS_TOKEN; else the token the trader's daily login through the
gateway (`/api/v1/kite/login` → callback) stored in Redis (mandi.kite.session_store) — checked
by its version counter on every `get()`, so a new login is taken without a restart; else,
against kitesim only, the provider walks the real flow itself (GET /connect/login →
request_token → POST /session/token with the real kiteconnect client). A rejected token is
invalidated and fetched again once, never in a loop; a rejected *stored* token marks the key
`login_needed` and `get()` then raises BrokerLoginNeeded (an AuthError) without calling Kite
until the next login.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs, urlparse

import aiohttp

from mandi.core.errors import BrokerLoginNeeded
from mandi.kite.client import session_from_request_token
from mandi.kite.session_store import LOGIN_NEEDED, KiteSessionStore
from mandi.platform.config import Settings
from mandi.platform.logging import register_secret

log = logging.getLogger(__name__)


class TokenProvider:
    def __init__(self, settings: Settings, store: KiteSessionStore | None = None) -> None:
        self._settings = settings
        self._token = settings.kite_access_token
        self._lock = asyncio.Lock()
        self._store = None if settings.kite_access_token else store
        self._version = 0          # the stored token's version we hold (0: none)
        self._rejected = 0         # a stored version Kite refused: no more calls with it

    async def get(self) -> str:
        async with self._lock:
            if self._store is not None:
                token = await self._stored()
                if token:
                    return token
            if not self._token:
                self._token = await self._simulator_login()
                register_secret(self._token)  # never in a log line, whatever logs it
            return self._token

    async def _stored(self) -> str:
        api_key = self._settings.kite_api_key
        version, state = await self._store.status(api_key)  # type: ignore[union-attr]
        if not version:
            return ""
        if version == self._rejected or state == LOGIN_NEEDED:
            raise BrokerLoginNeeded("Kite login needed: sign in through the gateway's "
                            "/api/v1/kite/login")
        if version != self._version:
            self._token = await self._store.token(api_key)  # type: ignore[union-attr]
            self._version = version
            log.info("took the Kite session of login %d for %s", version, api_key)
        return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` after Kite rejected it (a fixed MANDI_KITE_ACCESS_TOKEN stays); a
        stored token puts its API key in `login_needed` (see `rejected`)."""
        if token == self._token and not self._settings.kite_access_token:
            self._token = ""
            if self._version:
                self._rejected = self._version

    async def rejected(self, token: str) -> None:
        """`invalidate`, and tell every service (through the store) that a login is needed."""
        version = self._version
        self.invalidate(token)
        if self._store is not None and version and self._rejected == version:
            await self._store.mark_login_needed(self._settings.kite_api_key, version)
            log.warning("Kite rejected the session of login %d: %s", version, LOGIN_NEEDED)

    async def _simulator_login(self) -> str:
        s = self._settings
        url = f"{s.kite_root.rstrip('/')}/connect/login"
        try:
            async with aiohttp.ClientSession() as http, http.get(
                url, params={"api_key": s.kite_api_key, "v": "3"}, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as resp:
                location = resp.headers.get("Location", "")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise BrokerLoginNeeded(
                f"no Kite access token: set MANDI_KITE_ACCESS_TOKEN, or run kitesim at "
                f"{s.kite_root} ({type(exc).__name__})") from None
        request_token = parse_qs(urlparse(location).query).get("request_token", [""])[0]
        if not request_token:
            raise BrokerLoginNeeded(
                "no Kite access token: set MANDI_KITE_ACCESS_TOKEN (automatic login works only "
                f"against kitesim; {s.kite_root} did not redirect)")
        session = await session_from_request_token(
            s.kite_api_key, s.kite_api_secret, request_token, root=s.kite_root)
        log.info("logged in to %s as %s", s.kite_root, session.user_id)
        return session.access_token
