"""A part of a service process (the gateway's notifier and auth) that opens its connections in
the background, started and closed with the app's lifespan. Opening retries with exponential
backoff (1 s doubling to 30 s), so the process serves its other endpoints while PostgreSQL or
Redis is not reachable yet; callers wait a few seconds for it, then get 503 (TemporaryError). A
ConfigError stops the retries: waiting will not fix the configuration."""

from __future__ import annotations

import asyncio
import logging

from mandi.core.errors import ConfigError, TemporaryError

log = logging.getLogger(__name__)

READY_WAIT_S = 5.0


class BackgroundHost:
    name = "background"
    unavailable = "unavailable (database or Redis not reachable yet), try again"

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        """Connect and prepare; raise to be retried."""
        raise NotImplementedError

    async def _release(self) -> None:
        """Drop whatever _open got (after a failed attempt, and at close)."""

    async def _serve(self) -> None:
        """Run after opening, until cancelled (nothing by default)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._main(), name=self.name)

    async def _main(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._open()
                break
            except asyncio.CancelledError:
                raise
            except ConfigError as exc:
                log.error("%s: %s", self.name, exc.message)
                await self._release()
                return
            except Exception as exc:  # keep trying; callers answer 503 meanwhile
                log.warning("%s: not started (%s: %s); retrying in %.0fs", self.name,
                            type(exc).__name__, exc, delay)
                await self._release()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.ready.set()
        await self._serve()

    async def wait_ready(self) -> None:
        if not self.ready.is_set():
            try:
                await asyncio.wait_for(self.ready.wait(), READY_WAIT_S)
            except TimeoutError:
                raise TemporaryError(self.unavailable) from None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._release()
