"""Login and tokens: request_token → access_token with the sha256 checksum, expiry at 06:00 IST
the next morning by the simulator clock, invalidation, and the `Authorization` header check."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mandi.core.clock import IST
from services.kitesim.clock import SimClock
from services.kitesim.envelope import InputException, TokenException

USER_ID = "SIM001"
USER_NAME = "Mandi Simulator"
EMAIL = "sim@mandi.local"


@dataclass
class Session:
    access_token: str
    public_token: str
    refresh_token: str
    login_time: datetime
    expires: datetime


@dataclass
class Sessions:
    api_key: str
    api_secret: str
    clock: SimClock
    _requests: dict[str, datetime] = field(default_factory=dict)
    _tokens: dict[str, Session] = field(default_factory=dict)
    # every request, access and public token ever issued, for tests that check none leaks
    issued: list[str] = field(default_factory=list)

    def issue_request_token(self, api_key: str) -> str:
        if api_key != self.api_key:
            raise InputException("Invalid `api_key`.")
        token = secrets.token_urlsafe(24)
        self._requests[token] = self.clock.now() + timedelta(minutes=5)
        self.issued.append(token)
        return token

    def exchange(self, api_key: str, request_token: str, checksum: str) -> Session:
        if api_key != self.api_key:
            raise TokenException("Invalid `api_key`.")
        expected = hashlib.sha256(
            (api_key + request_token + self.api_secret).encode()).hexdigest()
        if not hmac.compare_digest(expected.encode(),
                                   (checksum or "").encode("utf-8", "surrogatepass")):
            raise TokenException("Invalid `checksum`.")
        deadline = self._requests.pop(request_token, None)
        if deadline is None or deadline < self.clock.now():
            raise TokenException("Token is invalid or has expired.")
        now = self.clock.now()
        local = now.astimezone(IST)
        six = local.replace(hour=6, minute=0, second=0, microsecond=0)
        expires = six if local < six else six + timedelta(days=1)
        sess = Session(secrets.token_urlsafe(24), secrets.token_urlsafe(16), "", now, expires)
        self._tokens[sess.access_token] = sess
        self.issued += [sess.access_token, sess.public_token]
        return sess

    def check(self, header: str | None) -> Session:
        """Validate `Authorization: token api_key:access_token`."""
        if not header or not header.startswith("token ") or ":" not in header:
            raise TokenException("Incorrect `api_key` or `access_token`.")
        api_key, _, access = header[6:].partition(":")
        return self.check_pair(api_key, access)

    def check_pair(self, api_key: str, access_token: str) -> Session:
        sess = self._tokens.get(access_token)
        if api_key != self.api_key or sess is None:
            raise TokenException("Incorrect `api_key` or `access_token`.")
        if sess.expires <= self.clock.now():
            del self._tokens[access_token]
            raise TokenException("Incorrect `api_key` or `access_token`.")
        return sess

    def invalidate(self, api_key: str, access_token: str) -> bool:
        if api_key != self.api_key:
            raise InputException("Invalid `api_key`.")
        return self._tokens.pop(access_token, None) is not None

    def expire_all(self) -> int:
        """Invalidate every access token, as Kite's 06:00 expiry does; returns how many."""
        n = len(self._tokens)
        self._tokens.clear()
        return n

    def session_payload(self, sess: Session) -> dict:
        return {
            **profile(), "api_key": self.api_key, "access_token": sess.access_token,
            "public_token": sess.public_token, "refresh_token": sess.refresh_token,
            "enctoken": secrets.token_urlsafe(16), "silo": "",
            "login_time": sess.login_time.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S"),
            "meta": {"demat_consent": "consent"},
        }


def profile() -> dict:
    return {
        "user_id": USER_ID, "user_type": "individual", "email": EMAIL, "user_name": USER_NAME,
        "user_shortname": "Mandi", "broker": "ZERODHA",
        "exchanges": ["NSE", "BSE", "NFO", "BFO"], "products": ["CNC", "NRML", "MIS"],
        "order_types": ["MARKET", "LIMIT", "SL", "SL-M"], "avatar_url": None,
        "meta": {"demat_consent": "consent"},
    }
