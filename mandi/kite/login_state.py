"""The signed `state` the gateway sends through Kite's login (in `redirect_params`) so the
callback knows which account and user started it: `account_id.username.expires.signature`,
HMAC-SHA256 with the gateway's token-signing secret, valid for STATE_TTL_S."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from mandi.core.errors import InvalidInput

STATE_TTL_S = 600


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), b"kite-login:" + body.encode(),
                         hashlib.sha256).digest())


def sign_state(secret: str, account_id: str, username: str, *, now: float | None = None,
               ttl_s: int = STATE_TTL_S) -> str:
    expires = int((time.time() if now is None else now) + ttl_s)
    body = f"{_b64(account_id.encode())}.{_b64(username.encode())}.{expires}"
    return f"{body}.{_sign(secret, body)}"


def _bytes(text: str) -> bytes:
    """compare_digest refuses str with non-ASCII characters (a TypeError: a 500 the fuzz found)."""
    return text.encode("utf-8", "surrogatepass")


def verify_state(secret: str, state: str, *, now: float | None = None) -> tuple[str, str]:
    """(account_id, username) from a state this gateway signed; InvalidInput naming `state`
    when it is missing, forged, malformed or expired."""
    if not state:
        raise InvalidInput("state is required", field="state")
    body, _, signature = state.rpartition(".")
    if not body or not hmac.compare_digest(_bytes(signature), _bytes(_sign(secret, body))):
        raise InvalidInput("state is not one this gateway issued", field="state")
    try:
        account, user, expires = body.split(".")
        account_id, username, deadline = _unb64(account), _unb64(user), int(expires)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("state is malformed", field="state") from None
    if (time.time() if now is None else now) > deadline:
        raise InvalidInput("state has expired: start the Kite login again", field="state")
    return account_id, username
