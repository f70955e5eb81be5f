"""Dependency providers for the routers: the backend stubs live on app.state."""

from __future__ import annotations

from fastapi import Request

from services.gateway.clients import Backends


async def backends(request: Request) -> Backends:
    return request.app.state.backends
