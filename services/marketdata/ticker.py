"""One KiteTicker WebSocket, in asyncio: connect, resubscribe, read, and recover on its own.

pykiteconnect's KiteTicker runs on a Twisted reactor that cannot restart, parses each packet
into a dict, never notices a silently dead socket (#229: its pong watchdog only starts after a
pong that Kite never sends), and retries a rejected token forever. This client is an aiohttp
WebSocket per connection that:

* decodes binary frames into columns (`ticks.decode`) stamped with the receive time;
* treats "no frame at all — not even the 1-byte heartbeat — for stall_s" as a dead link:
  state "stalled", close, reconnect;
* reconnects with exponential backoff and full jitter (delay uniform in [0, min(max,
  base·2^n)], so many replicas or sockets do not retry in step), and resubscribes every token
  with its mode (`subscribe` then `mode`, as KiteTicker does);
* on HTTP 403 at the upgrade (expired or revoked access token) goes to state "auth" once and
  makes no further attempt until the token source yields a different token: retrying a rejected
  token only risks the API key being flagged;
* on HTTP 429 (more sockets than Kite allows) goes to state "limit" and backs off.

The access token rides in the URL's query string, so neither the URL nor an aiohttp error that
quotes it is ever logged or reported without `redact`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp

from mandi.kite import ticker_codec as tc
from services.marketdata.ticks import TickBatch, decode

log = logging.getLogger("mandi.marketdata.ticker")

CONNECTING, CONNECTED, STALLED, AUTH, LIMIT, STOPPED = (
    "connecting", "connected", "stalled", "auth", "limit", "stopped")
STATES = (CONNECTING, CONNECTED, STALLED, AUTH, LIMIT, STOPPED)
MODES = (tc.MODE_LTP, tc.MODE_QUOTE, tc.MODE_FULL)
CHUNK = 1000  # tokens per subscribe/mode message
CONNECT_TIMEOUT_S = 10.0
_TOKEN_IN_TEXT = re.compile(r"(access_token=)[^&\s'\"]+")


def redact(text: str, secret: str | None = None) -> str:
    """`text` with the access token removed, whether quoted in a URL or on its own."""
    if secret:
        text = text.replace(secret, "***")
    return _TOKEN_IN_TEXT.sub(r"\1***", text)


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(max_s, base_s · 2^attempt)]; attempt 0 is ≤ base_s."""
    return rng.uniform(0.0, min(max_s, base_s * (2.0 ** min(attempt, 30))))


def chunks(tokens: list[int], size: int = CHUNK) -> Iterable[list[int]]:
    for i in range(0, len(tokens), size):
        yield tokens[i:i + size]


class TickerConnection:
    """One socket and the tokens assigned to it. `modes` is the wanted state; the socket is
    brought to it on every (re)connect and on every change while connected."""

    def __init__(self, index: int, ws_root: str, api_key: str,
                 token_source: Callable[[], Awaitable[str]], *,
                 on_ticks: Callable[[TickBatch, int], None],
                 on_state: Callable[[int, str, str], None] | None = None,
                 on_postback: Callable[[dict], None] | None = None,
                 stall_s: float = 5.0, backoff_base_s: float = 1.0,
                 backoff_max_s: float = 60.0, auth_poll_s: float = 2.0,
                 rng: random.Random | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.index = index
        self._root = ws_root
        self._api_key = api_key
        self._token_source = token_source
        self._on_ticks = on_ticks
        self._on_state = on_state
        self._on_postback = on_postback
        self.stall_s = stall_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.auth_poll_s = auth_poll_s
        self._rng = rng or random.Random()
        self._session = session
        self._own_session = session is None
        self.modes: dict[int, str] = {}
        self.state = STOPPED
        self.error = ""
        self.reconnects = 0
        self.ticks = 0
        self.last_frame = 0.0  # time.monotonic() of the last frame of any kind
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ready = False  # connected and brought up to `modes`
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._closing = False
        self._token: str | None = None

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._closing = False
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"ticker-{self.index}")

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._drop_socket()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        self._set_state(STOPPED, "closed")

    # --- subscriptions ---------------------------------------------------------------------
    async def set_modes(self, tokens: list[int], mode: str) -> None:
        """Add `tokens` (or change their mode) and tell the socket if it is up."""
        async with self._lock:
            new = [t for t in tokens if t not in self.modes]
            for t in tokens:
                self.modes[t] = mode
            if self._ready and tokens:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    for part in chunks(new):
                        await self._send("subscribe", part)
                    for part in chunks(list(tokens)):
                        await self._send("mode", [mode, part])

    async def remove(self, tokens: list[int]) -> None:
        async with self._lock:
            gone = [t for t in tokens if self.modes.pop(t, None) is not None]
            if self._ready and gone:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    for part in chunks(gone):
                        await self._send("unsubscribe", part)

    async def _send(self, action: str, value: Any) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps({"a": action, "v": value}))

    async def _resubscribe(self) -> None:
        """Subscribe then set the mode of every token, per mode group, in chunks."""
        async with self._lock:
            groups: dict[str, list[int]] = {}
            for token, mode in self.modes.items():
                groups.setdefault(mode, []).append(token)
            for mode in MODES:
                for part in chunks(groups.get(mode, [])):
                    await self._send("subscribe", part)
                    await self._send("mode", [mode, part])
            self._ready = True

    # --- the loop --------------------------------------------------------------------------
    def _set_state(self, state: str, detail: str = "") -> None:
        if state == self.state:
            return
        self.state = state
        if self._on_state is not None:
            try:
                self._on_state(self.index, state, detail)
            except Exception:
                log.exception("on_state callback failed")

    def _url(self, token: str) -> str:
        return f"{self._root}?api_key={self._api_key}&access_token={token}"

    async def _run(self) -> None:
        attempt = 0  # failures since the last good connection (backoff exponent)
        rejected: str | None = None  # the token the server refused with 403
        tries = 0
        while not self._closing:
            try:
                token = await self._token_source()
            except Exception as exc:  # a broken token source is a retryable failure
                self.error = redact(f"token source failed: {exc}", self._token)
                await asyncio.sleep(backoff_delay(attempt, self.backoff_base_s,
                                                  self.backoff_max_s, self._rng))
                attempt += 1
                continue
            if rejected is not None and token == rejected:
                await asyncio.sleep(self.auth_poll_s)  # wait for a new login; do not retry
                continue
            rejected = None
            self._token = token
            if tries:
                self.reconnects += 1
            tries += 1
            self._set_state(CONNECTING, "reconnecting" if tries > 1 else "")
            outcome = await self._session_once(token)
            if outcome == "auth":
                rejected = token
                continue
            if outcome == "ok":
                attempt = 0  # the link worked: the next retry starts from the base delay
            delay = backoff_delay(attempt, self.backoff_base_s, self.backoff_max_s, self._rng)
            attempt += 1
            await asyncio.sleep(delay)

    async def _session_once(self, token: str) -> str:
        """Connect, resubscribe and read until the link ends. Returns "ok" if it was
        connected, "auth" on 403, else "failed"."""
        assert self._session is not None
        try:
            ws = await asyncio.wait_for(self._session.ws_connect(
                self._url(token), headers={"X-Kite-Version": "3"}, autoping=True,
                heartbeat=None, max_msg_size=0,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
            ), CONNECT_TIMEOUT_S)
        except aiohttp.WSServerHandshakeError as exc:
            detail = f"upgrade refused: HTTP {exc.status}"
            self.error = detail
            if exc.status == 403:
                log.warning("ticker %d: access token rejected (403); waiting for a new one",
                            self.index)
                self._set_state(AUTH, detail)
                return "auth"
            if exc.status == 429:
                log.warning("ticker %d: too many sockets for this api_key (429)", self.index)
                self._set_state(LIMIT, detail)
                return "failed"
            log.warning("ticker %d: %s", self.index, detail)
            return "failed"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.error = redact(f"connect failed: {type(exc).__name__}: {exc}", token)
            log.warning("ticker %d: %s", self.index, self.error)
            return "failed"
        self._ws = ws
        try:
            await self._resubscribe()
            self.error = ""
            self._set_state(CONNECTED, f"{len(self.modes)} instruments")
            await self._read(ws)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            self.error = redact(f"socket failed: {type(exc).__name__}: {exc}", token)
            log.warning("ticker %d: %s", self.index, self.error)
            if not self._closing:
                self._set_state(CONNECTING, self.error)
        finally:
            await self._drop_socket()
        return "ok"

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            try:
                msg = await ws.receive(timeout=self.stall_s)
                self.last_frame = time.monotonic()
            except TimeoutError:
                self.error = f"no data or heartbeat for {self.stall_s:g}s"
                log.warning("ticker %d: stalled (%s); reconnecting", self.index, self.error)
                self._set_state(STALLED, self.error)
                return
            if msg.type == aiohttp.WSMsgType.BINARY:
                if len(msg.data) > 1:
                    self._on_binary(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                self._on_text(msg.data)
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                              aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                code = ws.close_code
                self.error = f"closed by server (code {code})"
                log.info("ticker %d: %s", self.index, self.error)
                if not self._closing:
                    self._set_state(CONNECTING, self.error)
                return

    def _on_binary(self, data: bytes) -> None:
        try:
            batch = decode(data, time.time_ns())
        except ValueError as exc:
            self.error = f"bad frame: {exc}"
            log.warning("ticker %d: %s", self.index, self.error)
            return
        if len(batch):
            self.ticks += len(batch)
            try:
                self._on_ticks(batch, self.index)
            except Exception:
                log.exception("on_ticks callback failed")

    def _on_text(self, text: str) -> None:
        try:
            msg = json.loads(text)
            kind, data = msg.get("type"), msg.get("data")
        except (ValueError, AttributeError):
            log.warning("ticker %d: unparsable text frame", self.index)
            return
        if kind == "order":
            if self._on_postback is not None and isinstance(data, dict):
                try:
                    self._on_postback(data)
                except Exception:
                    log.exception("on_postback callback failed")
        elif kind == "error":
            self.error = redact(f"server error: {data}", self._token)
            log.warning("ticker %d: %s", self.index, self.error)
        else:
            log.debug("ticker %d: message %s", self.index, kind)

    async def _drop_socket(self) -> None:
        self._ready = False
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)

    def status(self) -> dict:
        return {"index": self.index, "state": self.state, "instruments": len(self.modes),
                "reconnects": self.reconnects, "error": self.error, "ticks": self.ticks}
