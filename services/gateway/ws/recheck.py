"""A socket outlives the checks made when it opened: every `MANDI_GATEWAY_WS_RECHECK_S` the
caller is looked up again — the user still enabled, the sign-in not revoked (a logged-out
session or refresh family, a revoked API key), the role still enough, the channel's key still
theirs (an account grant withdrawn, a bot deleted) — and the socket is closed with the code REST
would answer now (4401 / 4403 / 4404). An expired access token does not end a socket: its
refresh family is what a logout revokes."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import grpc
from fastapi import WebSocket

from mandi.core.errors import AuthError, NotFound, PermissionDenied
from mandi.platform.status import grpc_error_to_domain
from services.gateway.auth import tokens
from services.gateway.auth.enforce import route_key
from services.gateway.auth.policy import access_of
from services.gateway.auth.principal import Principal

log = logging.getLogger(__name__)


async def current(ws: WebSocket, who: Principal) -> Principal:
    """The caller as the store sees them now; AuthError / PermissionDenied when no longer
    admitted to this route."""
    store = ws.app.state.auth.store
    if who.via == "api_key":
        key = ws.headers.get("x-api-key") or ws.query_params.get("token", "")
        await store.api_key_user(tokens.digest(key))
    role, accounts = await store.principal_row(who.username, who.family)
    now = Principal(who.username, role, frozenset(accounts), who.via, who.family)
    level = access_of(*route_key(ws))
    if not now.can(level):
        raise PermissionDenied(f"role {role!r} may no longer read this", field="role")
    return now


async def recheck_loop(ws: WebSocket, who: Principal, key: str, key_of: Any,
                       every_s: float) -> None:
    """Returns never; raises the MandiError that should close the socket."""
    refusals = (AuthError, PermissionDenied, NotFound)
    # jittered: sockets opened together (a reconnect storm, a page of 1,000 clients) must not
    # all be looked up in the same instant every interval — that burst stalled every socket's
    # messages for ~200 ms in bench_ws
    wait = every_s * random.uniform(0.5, 1.5)
    while True:
        await asyncio.sleep(wait)
        wait = every_s * random.uniform(0.8, 1.2)
        try:
            now = await current(ws, who)
            still = await key_of(ws, now, ws.app)
        except refusals:
            raise
        except grpc.aio.AioRpcError as exc:
            err = grpc_error_to_domain(exc)
            if isinstance(err, refusals):
                raise err from None
            continue  # a backend away is no reason to drop the socket: ask again next time
        except Exception as exc:  # the auth store away (PostgreSQL): likewise
            log.info("ws: recheck of %s skipped: %s", who.username, type(exc).__name__)
            continue
        if still != key:
            raise NotFound("no longer yours", field="key")
