"""The app-wide dependency that admits or refuses every request: it finds the route's level in
policy.ROUTE_ACCESS, turns the request's credential into a Principal, and refuses

* no or a bad credential: 401 (error envelope; WebSocket: close 4401, and 4403 / 4404 for
  the two below),
* a role below the route's level: 403,
* an `account_id` (path, query, JSON body or form field) the caller does not hold: 404, worded
  as for an account that does not exist, so existence does not leak,
* an `/api/` HTTP request over its client IP's or its user's rate limit: 429 with Retry-After
  (auth/rest_limits.py; the IP is counted before the credential is checked).

Credentials, first match wins: `X-API-Key`; `Authorization: Bearer <access JWT>`; the web UI's
session cookie, which on unsafe methods also needs `X-CSRF-Token` equal to the CSRF value bound
to that session (sent as a readable cookie at login: double submit), and on a WebSocket an
`Origin` of the gateway's own host (browsers send cookies on cross-site WebSocket handshakes
that SameSite does not cover, e.g. from a sibling site); on WebSockets also
`?token=<access JWT or API key>`. `X-Mandi-Role` and any other caller-supplied role is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Security
from fastapi.exceptions import WebSocketException
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from starlette.requests import HTTPConnection

from mandi.core.errors import (
    AuthError,
    MandiError,
    NotFound,
    PermissionDenied,
    TemporaryError,
)
from services.gateway.auth import tokens
from services.gateway.auth.host import AuthHost
from services.gateway.auth.policy import access_of
from services.gateway.auth.principal import Access, Principal
from services.gateway.ws.codes import close_code_of

SESSION_COOKIE = "mandi_session"
CSRF_COOKIE = "mandi_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ACCOUNT_FIELD = "account_id"

bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


def csrf_for(secret: str, session_token: str) -> str:
    """The CSRF value bound to a session (so a planted cookie of another session fails)."""
    return hmac.new(secret.encode(), b"csrf:" + session_token.encode(),
                    hashlib.sha256).hexdigest()[:40]


def route_key(conn: HTTPConnection) -> tuple[str, str]:
    route = conn.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None) or conn.url.path
    method = "WS" if conn.scope["type"] == "websocket" else conn.scope["method"]
    return method, path


async def authenticate(conn: HTTPConnection, host: AuthHost, bearer: str | None,
                       api_key: str | None) -> Principal:
    store = host.store
    assert store is not None
    family = ""
    # scripts' WebSockets may carry the credential as ?token= (an access JWT or an API key)
    query_token = conn.query_params.get("token", "") if conn.scope["type"] == "websocket" else ""
    if api_key or (not bearer and query_token.startswith(tokens.API_KEY_PREFIX)):
        username = await store.api_key_user(tokens.digest(api_key or query_token))
        via = "api_key"
    elif bearer or query_token:
        claims = tokens.read_access(host.secret, bearer or query_token)
        username, family, via = claims.username, claims.family, "bearer"
    elif cookie := conn.cookies.get(SESSION_COOKIE):
        username, family = await store.session(tokens.digest(cookie))
        via = "cookie"
        if conn.scope["type"] == "websocket":
            origin = conn.headers.get("origin")
            if origin and urlsplit(origin).netloc != conn.headers.get("host"):
                raise PermissionDenied("a WebSocket signed in by cookie must come from this "
                                       "site's own pages", field="Origin")
        elif conn.scope["method"] not in SAFE_METHODS:
            sent = conn.headers.get(CSRF_HEADER, "")
            if not sent or not tokens.same(sent, csrf_for(host.secret, cookie)):
                raise PermissionDenied(f"missing or wrong {CSRF_HEADER} header (the value of "
                                       f"the {CSRF_COOKIE} cookie)", field=CSRF_HEADER)
    else:
        raise AuthError("sign in: send Authorization: Bearer <token>, X-API-Key, or the "
                        "session cookie")
    role, accounts = await store.principal_row(username, family)
    return Principal(username, role, frozenset(accounts), via, family)


async def named_accounts(conn: HTTPConnection) -> set[str]:
    """Every account_id the request names: path, query, top-level JSON body or form field."""
    names = {v for v in conn.query_params.getlist(ACCOUNT_FIELD)}
    if ACCOUNT_FIELD in conn.path_params:
        names.add(str(conn.path_params[ACCOUNT_FIELD]))
    if isinstance(conn, Request) and conn.method not in SAFE_METHODS:
        ctype = conn.headers.get("content-type", "")
        if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            value = (await conn.form()).get(ACCOUNT_FIELD)
            if isinstance(value, str):
                names.add(value)
        else:
            try:
                body = json.loads(await conn.body() or b"null")
            except ValueError:
                body = None  # the route's own validation answers 400
            if isinstance(body, dict) and isinstance(body.get(ACCOUNT_FIELD), str):
                names.add(body[ACCOUNT_FIELD])
    names.discard("")
    return names


async def _admit(conn: HTTPConnection, bearer: str | None, api_key: str | None
                 ) -> Principal | None:
    level = access_of(*route_key(conn))
    counted = conn.scope["type"] == "http" and conn.url.path.startswith("/api/")
    if level == Access.PUBLIC and not counted:
        return None
    host: AuthHost | None = getattr(conn.app.state, "auth", None)
    if host is None:  # an app driven without its lifespan (tests: mandi.testing.gateway_auth)
        raise TemporaryError("sign-in unavailable: the gateway's lifespan has not started")
    await host.wait()
    assert host.limits is not None
    if counted:
        await host.limits.take_ip(conn.client.host if conn.client else "unknown")
    if level == Access.PUBLIC:
        return None
    principal = await authenticate(conn, host, bearer, api_key)
    if counted:
        await host.limits.take_user(principal.username)
    if not principal.can(level):
        raise PermissionDenied(f"role {principal.role!r} may not do this (needs "
                               f"{level.name.lower()})", field="role")
    for account_id in await named_accounts(conn):
        if not principal.holds(account_id):
            raise NotFound(f"no account {account_id!r}", field=ACCOUNT_FIELD)
    conn.state.user = principal
    return principal


async def guard(conn: HTTPConnection,
                bearer: Annotated[str | None, Depends(bearer_scheme)] = None,
                api_key: Annotated[str | None, Security(api_key_scheme)] = None
                ) -> Principal | None:
    """The app-wide dependency (see the module docstring); the Principal, None on a public
    route."""
    if conn.scope["type"] != "websocket":
        return await _admit(conn, bearer, api_key)
    try:
        return await _admit(conn, bearer, api_key)
    except MandiError as exc:  # 4401 / 4403 / 4404 (ws/codes.py), after an accept (ws/router)
        raise WebSocketException(close_code_of(exc), exc.message) from None


async def current(principal: Annotated[Principal | None, Depends(guard)]) -> Principal:
    """The caller of a route that needs a credential (routers take it as a parameter)."""
    if principal is None:
        raise AuthError("sign in first")
    return principal


Me = Annotated[Principal, Depends(current)]
