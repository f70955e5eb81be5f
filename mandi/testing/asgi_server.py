"""Serve an ASGI app (the gateway) under uvicorn on a free loopback port, lifespan included,
for tests that want real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from mandi.testing.kitesim import free_port


@asynccontextmanager
async def serve_app(app: Any, *, start_timeout_s: float = 60.0) -> AsyncIterator[str]:
    """Run `app` until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(int(start_timeout_s * 10)):  # uvicorn offers no event to await: poll
            if server.started or task.done():
                break
            await asyncio.sleep(0.1)
        if not server.started:
            raise RuntimeError(f"app did not start: {task}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
