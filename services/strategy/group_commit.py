"""Group commit: many small writes that arrive together go to PostgreSQL in one batch.

When fifty bots close the same bar, each has a row to save and, a moment later, an order
acknowledgement to record. Written one by one, that is fifty transactions (fifty WAL flushes)
competing with execution's own order inserts on the same database. A `GroupCommit` queues the
items; one writer task drains the queue in batches — everything queued while the previous batch
was being written goes in the next — and each caller's `submit` returns once its batch has
committed. Items with the same key never share a batch (a batch is one `UPDATE … FROM unnest`,
which would apply only one of them); they are written in the order they were submitted. A batch
that fails is retried item by item, so one bad item fails only its own caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[list[T]], Awaitable[None]],
                 key: Callable[[T], Hashable], name: str) -> None:
        self._write = write
        self._key = key
        self._name = name
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Queue `item`; returns when the batch holding it has committed (raises its error)."""
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((item, fut))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name=self._name)
        await fut

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[None]]] = []
        try:
            while self._queue:
                batch, later, seen = [], [], set()
                for entry in self._queue:
                    k = self._key(entry[0])
                    (later if k in seen else batch).append(entry)
                    seen.add(k)
                self._queue = later
                batch = [e for e in batch if not e[1].done()]  # a caller was cancelled
                if not batch:
                    continue
                try:
                    await self._write([item for item, _ in batch])
                except Exception as exc:
                    if len(batch) == 1:
                        _settle(batch[0][1], exc)
                        continue
                    for item, fut in batch:  # one by one: only the bad item fails
                        try:
                            await self._write([item])
                        except Exception as one:
                            _settle(fut, one)
                            continue
                        _settle(fut, None)
                    continue
                for _, fut in batch:
                    _settle(fut, None)
        except BaseException:  # cancelled (the loop is closing): no caller may wait forever
            for _, fut in (*batch, *self._queue):
                fut.cancel()
            self._queue = []
            raise
        finally:
            self._writer = None


def _settle(fut: asyncio.Future[None], exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)
