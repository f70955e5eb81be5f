"""One client socket on one channel: account, snapshot or replay, then the live messages.

The guard (auth/enforce.py) has already admitted the socket — credential, role, and any
`account_id` it names — or closed it (4401 / 4403 / 4404, see codes.py). Here:

1. the topic's key: for account channels `?account_id=`, or the caller's only account when it
   holds exactly one; for notifications the caller;
2. the topic is joined (its upstream subscribed) and this socket's queue attached *before* the
   snapshot is read, so nothing between the two is lost (a change may also be in the snapshot;
   every change message carries the whole record, so applying it twice is harmless);
3. `?since=<seq>`: the messages after it when the topic still holds them all, else a snapshot;
4. then every message in order; a `ping` message (seq = the last seq, no data) after
   `ws_ping_s` without one; a full queue closes the socket with 1013; the caller is checked
   again every `ws_recheck_s` (recheck.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TypeVar

import grpc
from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from mandi.core.errors import InvalidInput, MandiError
from mandi.platform.config import Settings
from mandi.platform.status import grpc_error_to_domain
from services.gateway.ws import metrics
from services.gateway.ws.channels import Channel
from services.gateway.ws.codes import SLOW, close_code_of
from services.gateway.ws.hub import Hub
from services.gateway.ws.recheck import recheck_loop
from services.gateway.ws.topic import Subscriber, Topic, encode

log = logging.getLogger(__name__)
T = TypeVar("T")
CLOSE_TIMEOUT_S = 5.0  # a close frame to a client that reads nothing cannot wait longer


def parse_since(ws: WebSocket) -> int | None:
    raw = ws.query_params.get("since")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise InvalidInput("since must be a seq number from an earlier message",
                           field="since")
    return int(raw)


async def close_with(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state == WebSocketState.CONNECTING:
        await ws.accept()
    if ws.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code, reason[:120]), CLOSE_TIMEOUT_S)


async def serve(ws: WebSocket, channel: Channel) -> None:
    app = ws.app
    settings: Settings = app.state.ws_settings
    hub: Hub = app.state.ws_hub
    who = ws.state.user
    try:
        since = parse_since(ws)
        key = await _domain(channel.key_of(ws, who, app))
    except MandiError as exc:
        await close_with(ws, close_code_of(exc), exc.message)
        return
    await ws.accept()
    try:
        topic = await hub.join(channel.name, key, channel.source,
                               (lambda since: channel.open_feed(app, key, who, since))
                               if channel.resumable else
                               (lambda: channel.open_feed(app, key, who)),
                               lambda t, work: channel.listener(t, work, app, who),
                               resumable=channel.resumable)
    except MandiError as exc:
        await close_with(ws, close_code_of(exc), exc.message)
        return
    sub = Subscriber(channel.name, settings.gateway_ws_queue)
    gauge = metrics.CONNECTIONS.labels(channel.name)
    gauge.inc()
    try:
        topic.attach(sub)
        missed = topic.missed_since(since) if since is not None else None
        if since is not None:
            metrics.RESUMES.labels(channel.name, "replay" if missed is not None
                                   else "snapshot").inc()
        if missed is None:
            seq = topic.seq
            try:
                data = await _domain(channel.snapshot(app, key, who))
            except MandiError as exc:
                await close_with(ws, close_code_of(exc), exc.message)
                return
            missed = [encode(channel.name, "snapshot", seq, data)]
        recheck = recheck_loop(ws, who, key, channel.key_of, settings.gateway_ws_recheck_s)
        await _pump(ws, sub, topic, missed, settings.gateway_ws_ping_s, recheck)
    finally:
        topic.detach(sub)
        hub.leave(channel.name, key)
        gauge.dec()


async def _domain(call: Awaitable[T]) -> T:
    """The awaited value; a backend's gRPC error as the domain error it stands for."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise grpc_error_to_domain(exc) from None


async def _send_loop(ws: WebSocket, sub: Subscriber, topic: Topic, first: list[str],
                     ping_s: float) -> None:
    # the hot path of the fan-out (once per message per socket): no timer while messages are
    # waiting, send() without send_text's wrapper, the counter once per burst
    send, queue = ws.send, sub.queue
    sent = metrics.MESSAGES.labels(topic.channel)
    for text in first:
        await send({"type": "websocket.send", "text": text})
    sent.inc(len(first))
    while True:
        if queue.empty():
            try:
                async with asyncio.timeout(ping_s):
                    text = await queue.get()
            except TimeoutError:
                text = encode(topic.channel, "ping", topic.seq, None)
        else:
            text = queue.get_nowait()
        await send({"type": "websocket.send", "text": text})
        n = 1
        while not queue.empty():
            await send({"type": "websocket.send", "text": queue.get_nowait()})
            n += 1
        sent.inc(n)


async def _receive_loop(ws: WebSocket) -> None:
    """Client messages are not part of the protocol: read (and drop) them to see the close."""
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return


async def _pump(ws: WebSocket, sub: Subscriber, topic: Topic, first: list[str],
                ping_s: float, recheck: Awaitable[None]) -> None:
    rechecking = asyncio.create_task(recheck)
    tasks = {asyncio.create_task(_send_loop(ws, sub, topic, first, ping_s)),
             asyncio.create_task(_receive_loop(ws)),
             asyncio.create_task(sub.overflowed.wait()), rechecking}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if rechecking in done and isinstance(rechecking.exception(), MandiError):
        exc = rechecking.exception()
        assert isinstance(exc, MandiError)
        log.info("ws: %s socket of %s closed: %s", topic.channel, ws.state.user.username,
                 exc.message)
        await close_with(ws, close_code_of(exc), exc.message)
        return
    if sub.overflowed.is_set():
        topic.detach(sub)
        log.info("ws: %s client too slow (%d queued); closing with 1013", topic.channel,
                 sub.queue.qsize())
        await close_with(ws, SLOW, "too slow: messages were queuing up; reconnect with ?since=")
        return
    for task in done:
        exc = task.exception()
        if exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
            log.warning("ws: %s session ended: %r", topic.channel, exc)
