"""The gateway's HTTP application: REST and WebSocket for clients, OpenAPI at /openapi.json."""

from __future__ import annotations

from fastapi import FastAPI

from mandi.platform.config import Settings


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Mandi gateway",
        version="0.1.0",
        description="REST and WebSocket API of Mandi, the algorithmic-trading platform for "
        "Indian markets.",
    )

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
