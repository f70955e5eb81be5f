"""The gateway's HTTP application: REST and WebSocket for clients, OpenAPI at /openapi.json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mandi.platform.config import Settings
from services.gateway import errors
from services.gateway.clients import open_backends
from services.gateway.routers import data, strategy, trading


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.backends = open_backends(settings)
        try:
            yield
        finally:
            await app.state.backends.close()

    app = FastAPI(
        title="Mandi gateway",
        version="0.1.0",
        description="REST and WebSocket API of Mandi, the algorithmic-trading platform for "
        "Indian markets.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(data.router)
    app.include_router(trading.router)
    app.include_router(strategy.router)

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
