"""A state polled from a service, shaped like a gRPC server stream (what hub.Source reads), for
the things no service streams to a late watcher: a history fetch job, a backtest run.

`initial_metadata()` reads once (a NOT_FOUND there refuses the channel); iterating yields that
first state, then every changed state, polling every `every_s`; after a final state it stops
polling and waits until the topic is dropped. One poller per job per gateway process, however
many sockets watch it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any


class PollFeed:
    def __init__(self, read: Callable[[], Awaitable[Any]], every_s: float,
                 final: Callable[[Any], bool]) -> None:
        self.read, self.every_s, self.final = read, every_s, final
        self.first: Any = None

    async def initial_metadata(self) -> None:
        self.first = await self.read()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._states()

    async def _states(self) -> AsyncIterator[Any]:
        last = self.first
        yield last
        while not self.final(last):
            await asyncio.sleep(self.every_s)
            state = await self.read()
            if state != last:
                last = state
                yield state
        await asyncio.Event().wait()  # nothing more will change

    def done(self) -> bool:
        return False  # it fails by raising, never by finishing early

    def cancel(self) -> None:
        pass  # nothing held between polls; the source's task is cancelled
