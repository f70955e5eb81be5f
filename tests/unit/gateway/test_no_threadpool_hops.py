"""Every route and every dependency of the gateway is a coroutine: FastAPI runs a plain `def`
in its thread pool, a hop to a worker thread and back on each request (and, under load, a wait
for the GIL behind the event loop). Measured on the order path: two such hops (`backends`,
`principal`) were most of the gateway's time spent outside the route. Only the OAuth2 password
form of `/api/v1/auth/token` (FastAPI's own class, a sign-in that hashes a password anyway)
may be sync."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.security import OAuth2PasswordRequestForm

from mandi.platform.config import load_settings
from services.gateway.app import create_app

ALLOWED_SYNC = {OAuth2PasswordRequestForm}


def _is_async(call: Any) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    if inspect.isclass(call):
        return False
    dunder = getattr(call, "__call__", None)  # noqa: B004 (a security scheme instance)
    return inspect.iscoroutinefunction(dunder)


def _sync_calls(dependant: Any, where: str) -> list[str]:
    out = []
    for dep in dependant.dependencies:
        if dep.call is not None and dep.call not in ALLOWED_SYNC and not _is_async(dep.call):
            out.append(f"{where}: {getattr(dep.call, '__qualname__', dep.call)!r}")
        out += _sync_calls(dep, where)
    return out


def _routes(routes: Any) -> list[APIRoute | APIWebSocketRoute]:
    out = []
    for r in routes:
        inner = getattr(r, "original_router", None)  # FastAPI's included router
        if inner is not None:
            out += _routes(inner.routes)
        elif isinstance(r, APIRoute | APIWebSocketRoute):
            out.append(r)
    return out


def test_every_route_and_dependency_is_a_coroutine() -> None:
    app = create_app(load_settings({}))
    routes = _routes(app.routes)
    assert len(routes) > 100
    found = []
    for route in routes:
        where = f"{sorted(getattr(route, 'methods', None) or {'WS'})} {route.path}"
        if not _is_async(route.endpoint):
            found.append(f"{where}: endpoint {route.endpoint.__qualname__}")
        found += _sync_calls(route.dependant, where)
    assert not found, "\n".join(sorted(set(found)))
