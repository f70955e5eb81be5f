"""RED metrics of every HTTP route and WebSocket route of the gateway (its `/metrics` port).

Labelled by the route *template* (`/api/v1/backtest/{backtest_id}`), never the raw path, so a
client cannot grow the label set: a request no route matches is `<unmatched>`, a method outside
the usual ones `OTHER`. The template is the one the router matched (`scope["route"]`, the same
the guard classifies); a request refused before routing (413, the text guard's 400) is matched
against the routes here.

* `mandi_http_requests_total{method,route,status}`, `mandi_http_request_duration_seconds
  {method,route}` (until the response's last byte: a streamed export counts whole), and
  `mandi_http_requests_in_flight{method}`.
* WebSockets: `mandi_ws_sessions_total{route,code}` by close code — the server's (4401 / 4403
  / 4404 refusals, 1013 slow client) or the client's — and `mandi_ws_session_seconds{route}`;
  per channel, ws/metrics.py counts connections, messages and drops.

A pure ASGI wrapper (no BaseHTTPMiddleware): outermost, so it times the guards too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Gauge, Histogram
from starlette.routing import Match

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

REQUESTS = Counter("mandi_http_requests", "HTTP requests answered by the gateway, by route "
                   "template, method and status", ["method", "route", "status"])
DURATION = Histogram(
    "mandi_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
IN_FLIGHT = Gauge("mandi_http_requests_in_flight", "HTTP requests being handled now",
                  ["method"])
WS_SESSIONS = Counter("mandi_ws_sessions", "WebSocket sessions ended, by route template and "
                      "close code (the server's, else the client's)", ["route", "code"])
WS_SECONDS = Histogram("mandi_ws_session_seconds", "How long WebSocket sessions lasted",
                       ["route"], buckets=(0.01, 0.1, 1, 10, 60, 600, 3600, 6 * 3600, 86400))


def route_template(app: Any, scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if path:
        return str(path)
    return _match(getattr(app, "routes", ()), scope)  # refused before the router ran


def _match(routes: Any, scope: Scope) -> str:
    for candidate in routes:
        inner = getattr(candidate, "original_router", None)  # FastAPI's included router
        if inner is not None:
            found = _match(inner.routes, scope)
            if found != UNMATCHED:
                return found
            continue
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            return str(getattr(candidate, "path_format", None) or candidate.path)
    return UNMATCHED


class HttpMetrics:
    def __init__(self, app: ASGIApp, routes_of: Any) -> None:
        self.app, self.routes_of = app, routes_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        status = 500  # an exception escaping every handler is answered 500 by the server
        in_flight = IN_FLIGHT.labels(method)
        in_flight.inc()
        start = time.perf_counter()

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, watched)
        finally:
            in_flight.dec()
            route = route_template(self.routes_of, scope)
            DURATION.labels(method, route).observe(time.perf_counter() - start)
            REQUESTS.labels(method, route, str(status)).inc()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        code = 1006  # no close frame either way (the connection dropped)
        start = time.perf_counter()

        async def sent(message: Message) -> None:
            nonlocal code
            if message["type"] == "websocket.close":
                code = message.get("code", 1000)
            await send(message)

        async def received() -> Message:
            nonlocal code
            message = await receive()
            if message["type"] == "websocket.disconnect" and code == 1006:
                code = message.get("code", 1005)
            return message
        try:
            await self.app(scope, received, sent)
        finally:
            route = route_template(self.routes_of, scope)
            WS_SECONDS.labels(route).observe(time.perf_counter() - start)
            WS_SESSIONS.labels(route, str(code)).inc()


def install(app: FastAPI) -> None:
    """Outermost of the gateway's middleware: add it after every other one."""
    app.add_middleware(HttpMetrics, routes_of=app)
