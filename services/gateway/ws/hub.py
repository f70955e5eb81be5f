"""The process-wide registry of upstream streams and topics behind the WebSocket channels.

A `Source` is ONE upstream gRPC stream per gateway process per (source, key) — e.g. execution's
StreamOrderEvents for one account — however many sockets and channels read it: the orders and
the positions channels of an account share it. It starts with the first topic that needs it,
and reconnects with capped exponential backoff; after a reconnect every topic on it republishes
a fresh snapshot as a message of type `snapshot`. A resumable source (order events) also
re-opens after the last event id it saw, so the events committed meanwhile arrive too.

A topic lives while sockets hold it and `linger_s` longer, so a client that reconnects within
that time resumes from the replay buffer; a source lives while any topic uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from mandi.core.errors import MandiError, TemporaryError
from mandi.platform.grpc_client import EVENT_CURSOR_KEY
from mandi.platform.status import grpc_error_to_domain
from services.gateway.ws import metrics
from services.gateway.ws.topic import Topic

log = logging.getLogger(__name__)

RESYNC = object()  # the event a listener gets after its source re-opened (events may be lost)
READY_TIMEOUT_S = 10.0
BACKOFF_MAX_S = 10.0
SEEN_IDS = 4096  # event ids remembered per resumable source to drop repeats
FINAL = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT,
         grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
         grpc.StatusCode.FAILED_PRECONDITION)


def _cursor_of(meta: Any) -> int | None:
    for k, v in meta or ():
        if k == EVENT_CURSOR_KEY and str(v).lstrip("-").isdigit():
            return int(v)
    return None


class Source:
    """One upstream stream. A `resumable` one (StreamOrderEvents) has events carrying an
    `event_id`: its open_call takes the highest id seen so far (0 at first; then the cursor the
    service names in its initial metadata, EVENT_CURSOR_KEY) so a re-opened stream starts
    after it and nothing committed meanwhile is lost; ids already delivered (the service sends
    at least once) are dropped here, so each listener sees each event once."""

    def __init__(self, name: str, key: str, open_call: Callable[..., Any],
                 resumable: bool = False) -> None:
        self.name, self.key = name, key
        # -> a grpc.aio stream call, or anything with the same four parts (redis_feed.py,
        # poll_feed.py): `await initial_metadata()` once subscribed, done(), async iteration,
        # cancel()
        self.open_call = open_call
        self.resumable = resumable
        # where to resume (resumable only): None until the first open; then the cursor the
        # service named (-1: the account had no event yet), then the highest event_id seen
        self.cursor: int | None = None
        self.seen: set[int] = set()  # the last SEEN_IDS ids delivered, to drop repeats
        self._seen_order: deque[int] = deque()
        self.duplicates = 0  # repeats dropped
        self.listeners: set[Callable[[Any], None]] = set()
        self.ready = asyncio.Event()
        self.error: MandiError | None = None  # why it will never open (e.g. no such account)
        self.task = asyncio.create_task(self._run(), name=f"ws-source-{name}-{key}")

    def _fresh(self, event: Any) -> bool:
        """False for an event already delivered (by event_id); advances the cursor."""
        eid = getattr(event, "event_id", 0)
        if not eid:
            return True
        if eid in self.seen or eid <= (self.cursor or 0) - SEEN_IDS:
            self.duplicates += 1
            metrics.UPSTREAM_DUPLICATES.labels(self.name).inc()
            return False
        self.seen.add(eid)
        self._seen_order.append(eid)
        while len(self._seen_order) > SEEN_IDS:
            self.seen.discard(self._seen_order.popleft())
        self.cursor = max(self.cursor or 0, eid)
        return True

    def _open(self) -> Any:
        if not self.resumable:
            return self.open_call()
        return self.open_call(self.cursor or 0)  # 0: from now on (the first open)

    def _deliver(self, event: Any) -> None:
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # one channel's bug must not starve the others
                log.exception("ws: a listener of %s/%s failed", self.name, self.key)

    async def _run(self) -> None:
        backoff, opened = 0.5, False
        while True:
            try:
                call = self._open()
            except Exception as exc:  # a bug of a channel's feed: say so, and keep trying
                log.error("ws: cannot open upstream %s/%s: %r", self.name, self.key, exc)
                metrics.UPSTREAM_RESTARTS.labels(self.name).inc()
                await asyncio.sleep(BACKOFF_MAX_S)
                continue
            try:
                meta = await call.initial_metadata()  # subscribed: nothing is missed
                if self.resumable and self.cursor is None:  # resume from where it started
                    self.cursor = _cursor_of(meta)
                if not call.done():  # else refused at once: iterating raises its status
                    if opened:
                        self._deliver(RESYNC)
                    opened = True
                    self.ready.set()
                    backoff = 0.5
                async for event in call:
                    if not self.resumable or self._fresh(event):
                        self._deliver(event)
                log.info("ws: upstream %s/%s ended; re-opening", self.name, self.key)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in FINAL and not opened:
                    self.error = grpc_error_to_domain(exc)
                    self.ready.set()
                    return
                log.warning("ws: upstream %s/%s failed (%s); retrying in %.1f s", self.name,
                            self.key, exc.code().name, backoff)
            except Exception as exc:  # e.g. Redis away (the notifications feed): retry
                log.warning("ws: upstream %s/%s failed (%s); retrying in %.1f s", self.name,
                            self.key, type(exc).__name__, backoff)
            finally:
                call.cancel()  # a no-op on a finished gRPC call; releases a Redis feed
            metrics.UPSTREAM_RESTARTS.labels(self.name).inc()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@dataclass
class Held:
    topic: Topic
    source: Source
    listener: Callable[[Any], None]
    refs: int = 0
    expiry: asyncio.TimerHandle | None = None
    work: set[asyncio.Task[Any]] = field(default_factory=set)


class Hub:
    def __init__(self, replay: int, linger_s: float) -> None:
        self.replay, self.linger_s = replay, linger_s
        self.sources: dict[tuple[str, str], Source] = {}
        self.held: dict[tuple[str, str], Held] = {}

    async def join(self, channel: str, key: str, source: str,
                   open_call: Callable[..., Any],
                   make_listener: Callable[[Topic, set[asyncio.Task[Any]]],
                                           Callable[[Any], None]],
                   resumable: bool = False) -> Topic:
        """The topic (channel, key), its source running and subscribed upstream; one more
        socket holds it. TemporaryError when the upstream does not come up in time."""
        held = self.held.get((channel, key))
        if held is None:
            src = self.sources.get((source, key))
            if src is None:
                src = self.sources[(source, key)] = Source(source, key, open_call,
                                                                   resumable)
            topic = Topic(channel, key, self.replay)
            work: set[asyncio.Task[Any]] = set()
            listener = make_listener(topic, work)
            held = self.held[(channel, key)] = Held(topic, src, listener, work=work)
            src.listeners.add(listener)
        held.refs += 1
        if held.expiry is not None:
            held.expiry.cancel()
            held.expiry = None
        try:
            await asyncio.wait_for(held.source.ready.wait(), READY_TIMEOUT_S)
        except TimeoutError:
            self.leave(channel, key)
            raise TemporaryError(f"the {source} stream is unavailable; try again later") \
                from None
        if held.source.error is not None:  # e.g. no such account: forget it at once, so a
            held.refs -= 1                   # later socket asks the service again
            if held.refs <= 0:
                self._expire(channel, key)
            raise held.source.error
        return held.topic

    def leave(self, channel: str, key: str) -> None:
        held = self.held.get((channel, key))
        if held is None:
            return
        held.refs -= 1
        if held.refs <= 0 and held.expiry is None:
            held.expiry = asyncio.get_running_loop().call_later(
                self.linger_s, self._expire, channel, key)

    def _expire(self, channel: str, key: str) -> None:
        held = self.held.get((channel, key))
        if held is None or held.refs > 0:
            return
        del self.held[(channel, key)]
        for task in held.work:
            task.cancel()
        src = held.source
        src.listeners.discard(held.listener)
        if not src.listeners:
            del self.sources[(src.name, src.key)]
            asyncio.get_running_loop().create_task(src.close())

    async def close(self) -> None:
        for held in self.held.values():
            if held.expiry is not None:
                held.expiry.cancel()
            for task in held.work:
                task.cancel()
        self.held.clear()
        sources, self.sources = list(self.sources.values()), {}
        for src in sources:
            await src.close()
