"""Where a service's Kite access token comes from.

Real Kite: the user logs in once a day (gateway OAuth, later) and the token is handed over as
MANDI_KITE_ACCESS_TOKEN. Against kitesim the login page needs no human, so the provider walks
the real flow itself (GET /connect/login → request_token → POST /session/token with the real
kiteconnect client). A rejected token is invalidated and fetched again once, never in a loop.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs, urlparse

import aiohttp

from mandi.core.errors import AuthError
from mandi.kite.client import session_from_request_token
from mandi.platform.config import Settings
from mandi.platform.logging import register_secret

log = logging.getLogger(__name__)


class TokenProvider:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._token = settings.kite_access_token
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:
            if not self._token:
                self._token = await self._simulator_login()
                register_secret(self._token)  # never in a log line, whatever logs it
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` after Kite rejected it (a fixed MANDI_KITE_ACCESS_TOKEN stays)."""
        if token == self._token and not self._settings.kite_access_token:
            self._token = ""

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
            raise AuthError(f"no Kite access token: set MANDI_KITE_ACCESS_TOKEN, or run kitesim "
                            f"at {s.kite_root} ({type(exc).__name__})") from None
        request_token = parse_qs(urlparse(location).query).get("request_token", [""])[0]
        if not request_token:
            raise AuthError("no Kite access token: set MANDI_KITE_ACCESS_TOKEN (automatic "
                            f"login works only against kitesim; {s.kite_root} did not redirect)")
        session = await session_from_request_token(
            s.kite_api_key, s.kite_api_secret, request_token, root=s.kite_root)
        log.info("logged in to %s as %s", s.kite_root, session.user_id)
        return session.access_token
