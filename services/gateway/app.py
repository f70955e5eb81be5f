"""The gateway's HTTP application: REST and WebSocket for clients, OpenAPI at /openapi.json.

Every route passes `auth.enforce.guard` (credential, role, account scope; levels in
`auth/policy.py`); /healthz, sign-in and the OpenAPI pages need no credential."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from mandi.core.errors import TemporaryError
from mandi.platform.config import Settings
from mandi.platform.simclock import SimClock, make_clock
from services.gateway import errors, http_guards, http_metrics, web_ui
from services.gateway.auth.enforce import guard
from services.gateway.auth.host import AuthHost
from services.gateway.clients import open_backends
from services.gateway.market_subs import MarketSubscriptions
from services.gateway.routers import (
    account,
    auth,
    backtests,
    bot_default,
    bots,
    config,
    dashboards,
    data,
    kite_login,
    logs,
    market,
    notifications,
    optimize,
    strategy,
    symbols,
    trading,
    users,
    watchlist,
)
from services.gateway.runtime_config import RuntimeConfig
from services.gateway.symbol_cache import SymbolCache
from services.gateway.ws import router as ws
from services.notifier.host import NotifierHost

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.auth = AuthHost(settings)  # users, tokens, the first-run admin
        app.state.auth.start()
        app.state.runtime = RuntimeConfig(settings, app.state.auth)  # PUT /api/v1/config
        app.state.runtime.start()
        app.state.backends = open_backends(settings)
        app.state.market = MarketSubscriptions(app.state.backends.marketdata)
        app.state.clock = clock = make_clock(settings)  # "today" of the market endpoints
        app.state.notifier = NotifierHost(settings)  # sends notifications in the background
        app.state.notifier.start()
        ws.start(app, settings)  # one upstream stream per source for every /ws/* socket
        if isinstance(clock, SimClock):
            try:
                await clock.start()
            except TemporaryError as exc:  # serve the rest; now() retries the simulator
                log.warning("gateway: %s", exc)
        try:
            yield
        finally:
            await app.state.runtime.close()
            await ws.stop(app)
            await app.state.notifier.close()
            await app.state.market.close()
            if isinstance(clock, SimClock):
                await clock.close()
            await app.state.backends.close()
            await app.state.auth.close()

    app = FastAPI(
        title="Mandi gateway",
        version="0.1.0",
        description="REST and WebSocket API of Mandi, the algorithmic-trading platform for "
        "Indian markets.",
        lifespan=lifespan,
        # every route passes the guard: its credential, role and accounts (auth/policy.py)
        dependencies=[Depends(guard)],
        # one span per HTTP request (the root of an order's trace) and nothing finer: FastAPI's
        # spans around each dependency, the endpoint and serialisation cost more per request
        # than the route itself; HTTP metrics are http_metrics.py's (Prometheus)
        telemetry={"tracing": True, "operation_spans": False, "metrics": False},
    )
    errors.install(app)
    http_guards.install(app, settings)
    http_metrics.install(app)  # outermost: times the guards too
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(kite_login.router)
    app.include_router(data.router)
    app.include_router(trading.router)
    app.include_router(dashboards.router)
    app.include_router(strategy.router)
    app.include_router(backtests.router)
    app.include_router(optimize.router)
    app.include_router(market.router)
    app.include_router(notifications.router)
    app.include_router(bots.router)
    app.include_router(bot_default.router)
    app.include_router(logs.router)
    app.include_router(watchlist.router)
    app.include_router(config.router)
    app.include_router(symbols.router)
    app.include_router(account.router)
    app.state.symbols = SymbolCache()  # /api/v1/symbols and watchlist checks
    ws.install(app)

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    web_ui.install(app)  # the router's fallback: the SPA never shadows an API route
    return app
