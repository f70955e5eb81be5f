"""The KiteTicker WebSocket at `/ws`: subscribe/unsubscribe/mode, binary ltp/quote/full/index
frames played from the price path, order postbacks, heartbeats and error texts.

Each connection has a cursor (the last simulated second it was sent). Every pump it is sent
every live session second after the cursor up to the clock's now, for every subscribed token,
so at `--speed N` a client sees N simulated seconds of ticks per wall second and candles built
from the ticks equal historical candles. A frame carries up to FRAME_PACKETS packets (several
seconds per frame when few tokens are subscribed, in time order). If a client falls more than
MAX_BACKLOG_PACKETS behind, the oldest seconds are skipped (counted in `skipped_seconds`).

Feed faults (`POST /sim/ws/fault`, see faults.py) reproduce what a production feed client must
survive: an outage (sockets closed, upgrades refused with 503 for N simulated seconds), a mute
socket that stays open but sends nothing (not even heartbeats: the silently dead link of
pykiteconnect #229), expired access tokens (upgrades answer 403, as after Kite's 06:00 expiry)
and late ticks. Upgrade attempts are counted by outcome so a test can assert that a client did
not hammer the server while its token was bad.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from aiohttp import WSMsgType, web

from mandi.core.calendar import next_open
from mandi.core.clock import IST
from mandi.kite import ticker_codec as tc
from services.kitesim.clock import SimClock
from services.kitesim.envelope import KiteError
from services.kitesim.faults import Faults
from services.kitesim.market import Market, MinuteBatch, minute_batch
from services.kitesim.session import Sessions
from services.kitesim.universe import Instrument

log = logging.getLogger("kitesim.ticker")
MAX_TOKENS = 3000
MAX_CONNECTIONS_PER_KEY = 3
FRAME_PACKETS = 4096
MAX_BACKLOG_PACKETS = 400_000
PUMP_SECONDS = 0.02
HEARTBEAT_SECONDS = 1.0


@dataclass(eq=False)
class Conn:
    ws: web.WebSocketResponse
    api_key: str
    cursor: int
    modes: dict[int, str] = field(default_factory=dict)
    last_sent: float = field(default_factory=time.monotonic)
    ticks_sent: int = 0
    skipped_seconds: int = 0
    muted: bool = False  # a `stall` fault: open, but nothing is ever sent again
    _stack_key: tuple | None = None
    _stack: dict | None = None
    _batch_key: tuple | None = None
    _batch: MinuteBatch | None = None
    # held while a tick frame is built and sent, by the pump and by a subscribe/mode snapshot,
    # so a snapshot can never be overtaken by older seconds (or overtake them)
    frames: asyncio.Lock = field(default_factory=asyncio.Lock)


class TickerHub:
    def __init__(self, market: Market, clock: SimClock, sessions: Sessions,
                 faults: Faults) -> None:
        self.market = market
        self.clock = clock
        self.sessions = sessions
        self.faults = faults
        self.conns: set[Conn] = set()
        self.tick_interval: dict[int, int] = {}
        self.default_interval = 1
        self._task: asyncio.Task | None = None
        self.stats = {"ticks": 0, "frames": 0}
        self.upgrades = {"accepted": 0, "refused_403": 0, "refused_429": 0, "refused_503": 0}

    # --- connection lifecycle ------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        api_key = request.query.get("api_key", "")
        if self.faults.ws_down(self.clock.epoch()):
            self.upgrades["refused_503"] += 1
            return web.Response(status=503, text="Ticker unavailable (simulated outage)")
        try:
            self.sessions.check_pair(api_key, request.query.get("access_token", ""))
        except KiteError as exc:
            self.upgrades["refused_403"] += 1
            return web.Response(status=403, text=exc.message)
        if sum(1 for c in self.conns if c.api_key == api_key) >= MAX_CONNECTIONS_PER_KEY:
            self.upgrades["refused_429"] += 1
            return web.Response(status=429, text="Too many connections for this api_key")
        self.upgrades["accepted"] += 1
        ws = web.WebSocketResponse(autoping=True, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = Conn(ws, api_key, int(self._tick_now()))
        self.conns.add(conn)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.conns.discard(conn)
        return ws

    async def _on_text(self, conn: Conn, text: str) -> None:
        try:
            msg = json.loads(text)
            action, value = msg["a"], msg["v"]
        except (ValueError, KeyError, TypeError):
            await self._send_text(conn, "error", "Invalid message")
            return
        fresh: list[int] = []
        if action == "subscribe":
            tokens = [int(t) for t in value]
            new = [t for t in tokens if t not in conn.modes]
            if len(conn.modes) + len(new) > MAX_TOKENS:
                await self._send_text(
                    conn, "error", f"Maximum of {MAX_TOKENS} instruments per connection")
                new = new[:max(0, MAX_TOKENS - len(conn.modes))]
            for t in new:
                if t in self.market.universe.by_token:
                    conn.modes[t] = tc.MODE_QUOTE
                    fresh.append(t)
        elif action == "unsubscribe":
            for t in value:
                conn.modes.pop(int(t), None)
        elif action == "mode":
            mode, tokens = value[0], [int(t) for t in value[1]]
            if mode not in (tc.MODE_LTP, tc.MODE_QUOTE, tc.MODE_FULL):
                await self._send_text(conn, "error", f"Invalid mode {mode}")
                return
            for t in tokens:
                if t in conn.modes:
                    conn.modes[t] = mode
                    fresh.append(t)
        else:
            await self._send_text(conn, "error", f"Unknown action {action}")
            return
        conn._stack_key = None
        if fresh:
            # Kite's snapshot is the instrument's latest state and later ticks are newer: take
            # it at the last second this socket was sent, not at the clock (the pump may be a
            # few simulated seconds behind it), so no instrument's ticks go back in time
            async with conn.frames:
                now = min(conn.cursor, int(self._tick_now()))
                where = self.market.locate(now)
                tokens = sorted(set(fresh))
                batch = await asyncio.to_thread(
                    minute_batch, self.market, instruments_for(self.market, tokens), where.day,
                    where.second // 60, None)
                frame = self._frame(conn, tokens, where.day, where.second, where.second,
                                    where.live, batch)
                if frame:
                    await self._send(conn, frame)

    async def _send_text(self, conn: Conn, kind: str, data: object) -> None:
        if not conn.ws.closed and not conn.muted:
            await conn.ws.send_str(json.dumps({"type": kind, "data": data}))

    async def _send(self, conn: Conn, data: bytes) -> None:
        if not conn.ws.closed and not conn.muted:
            await conn.ws.send_bytes(data)
            conn.last_sent = time.monotonic()

    def postback(self, payload: dict) -> None:
        text = json.dumps({"type": "order", "data": payload})
        for conn in list(self.conns):
            if not conn.ws.closed and not conn.muted:
                asyncio.get_running_loop().create_task(conn.ws.send_str(text))

    async def drop_all(self) -> int:
        conns = list(self.conns)
        for conn in conns:
            await conn.ws.close(code=1011, message=b"simulated drop")
        return len(conns)

    # --- feed faults (POST /sim/ws/fault) ------------------------------------------------
    def _tick_now(self) -> float:
        """The latest simulated second whose ticks may go out (tick_delay_s behind the clock)."""
        return self.clock.epoch() - self.faults.tick_delay_s

    async def go_down(self, seconds: float) -> int:
        """Close every socket and refuse upgrades (503) for `seconds` of simulated time."""
        self.faults.ws_down_until = self.clock.epoch() + max(0.0, seconds)
        return await self.drop_all() if seconds > 0 else 0

    def mute_all(self) -> int:
        """Every open socket goes silent (no ticks, heartbeats, postbacks) but stays open."""
        conns = [c for c in self.conns if not c.ws.closed]
        for conn in conns:
            conn.muted = True
        return len(conns)

    async def expire_tokens(self) -> int:
        """Invalidate every access token and close the sockets: later upgrades get 403."""
        self.sessions.expire_all()
        return await self.drop_all()

    # --- pumping -------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for conn in list(self.conns):
            await conn.ws.close()

    async def _run(self) -> None:
        while True:
            t0 = time.monotonic()
            for conn in list(self.conns):
                try:
                    await self._pump(conn)
                except (ConnectionResetError, RuntimeError):
                    self.conns.discard(conn)
                except Exception:  # keep the hub alive for the other sockets
                    log.exception("ticker pump failed")
            await asyncio.sleep(max(0.0, PUMP_SECONDS - (time.monotonic() - t0)))

    async def _pump(self, conn: Conn) -> None:
        if conn.ws.closed:
            self.conns.discard(conn)
            return
        if conn.muted:
            return
        if self.faults.ws_drop_rate and self.faults.drop_socket():
            await conn.ws.close(code=1011, message=b"simulated fault")
            return
        now = int(self._tick_now())
        if int(self.clock.epoch()) < conn.cursor - 1:
            conn.cursor = now  # the clock was set back (a tick delay only pauses the socket)
        if now > conn.cursor and conn.modes:
            a, b = conn.cursor + 1, now
            max_secs = max(1, MAX_BACKLOG_PACKETS // len(conn.modes))
            if b - a + 1 > max_secs:
                conn.skipped_seconds += b - a + 1 - max_secs
                a = b - max_secs + 1
            await self._pump_range(conn, a, b)  # moves conn.cursor as each frame goes out
        else:
            conn.cursor = max(conn.cursor, now)
        if time.monotonic() - conn.last_sent >= HEARTBEAT_SECONDS:
            await self._send(conn, tc.HEARTBEAT)

    async def _pump_range(self, conn: Conn, a: int, b: int) -> None:
        tokens = sorted(conn.modes)
        per_frame = max(1, FRAME_PACKETS // len(tokens))
        t = a
        while t <= b:
            where = self.market.locate(t)
            if not where.live:
                # jump to the end of this closed stretch: nothing trades until the next open
                t = self._next_open(t)
                continue
            k = where.second % 60
            k1 = min(59, k + (b - t), k + per_frame - 1)
            async with conn.frames:
                batch = await self._batch_for(conn, tokens, where.day, where.second // 60)
                frame = self._frame(conn, tokens, where.day, where.second,
                                    where.second + k1 - k, True, batch)
                t += k1 - k + 1
                if frame:
                    await self._send(conn, frame)
                # everything up to t - 1 is on the wire: a snapshot is taken no later
                conn.cursor = t - 1
        conn.cursor = max(conn.cursor, b)

    async def _batch_for(self, conn: Conn, tokens: list[int], day, minute: int) -> MinuteBatch:
        key = (tuple(tokens), day, minute)
        if conn._batch_key == key and conn._batch is not None:
            return conn._batch
        carry = conn._batch if conn._batch_key == (key[0], day, minute - 1) else None
        insts = instruments_for(self.market, tokens)
        conn._batch = await asyncio.to_thread(minute_batch, self.market, insts, day, minute,
                                              carry)
        conn._batch_key = key
        return conn._batch

    def _next_open(self, t: int) -> int:
        return int(next_open(datetime.fromtimestamp(t, IST)).timestamp())

    # --- encoding ------------------------------------------------------------------------
    def _static_for(self, conn: Conn, tokens: list[int]) -> dict:
        saved = conn._stack_key, conn._stack
        try:
            conn._stack_key = None
            return self._static(conn, tokens)
        finally:
            conn._stack_key, conn._stack = saved

    def _static(self, conn: Conn, tokens: list[int]) -> dict:
        """Per-token constants for encoding, rebuilt when subscriptions or settings change."""
        key = tuple(tokens)
        if conn._stack_key == key and conn._stack is not None:
            return conn._stack
        insts = instruments_for(self.market, tokens)
        st = {
            "tick": np.array([i.tick for i in insts], dtype=np.int64),
            "lot": np.array([max(i.lot_size, 1) for i in insts], dtype=np.int64),
            "index": np.array([i.kind == "INDEX" for i in insts]),
            "mode": np.array([conn.modes.get(t, tc.MODE_QUOTE) for t in tokens]),
            "interval": np.array([self.tick_interval.get(t, self.default_interval)
                                  for t in tokens], dtype=np.int64),
        }
        conn._stack_key, conn._stack = key, st
        return st

    def _frame(self, conn: Conn, tokens: list[int], day, s0: int, s1: int, live: bool,
               batch: MinuteBatch) -> bytes | None:
        """Packets for seconds s0..s1 (same minute) of `day` for `tokens`, time-major."""
        m, k0 = divmod(s0, 60)
        k1 = s1 - m * 60
        st = dict(self._static(conn, tokens) if len(tokens) == len(conn.modes) else
                  self._static_for(conn, tokens))
        st.update(token=batch.tokens, price=batch.price, qty=batch.qty, volume=batch.volume,
                  avg=batch.avg, high=batch.high, low=batch.low, oi=batch.oi,
                  open=batch.open, close=batch.prev_close, oi_low=batch.oi_low,
                  epoch0=batch.epoch0)
        ks = np.arange(k0, k1 + 1)
        sel_k, sel_i = np.nonzero(((s0 + ks - k0)[:, None] % st["interval"][None, :]) == 0)
        if not live:  # snapshot outside the session: everything at the last second
            sel_k, sel_i = np.full(len(tokens), k0), np.arange(len(tokens))
        else:
            sel_k = ks[sel_k]
        if not len(sel_i):
            return None
        parts = []
        ep0 = st["epoch0"]
        for mode in (tc.MODE_LTP, tc.MODE_QUOTE, tc.MODE_FULL):
            for index in (False, True):
                pick = (st["mode"][sel_i] == mode) & (st["index"][sel_i] == index)
                if pick.any():
                    parts.append(_encode(st, sel_i[pick], sel_k[pick], mode, index, ep0))
        conn.ticks_sent += len(sel_i)
        self.stats["ticks"] += len(sel_i)
        self.stats["frames"] += 1
        return tc.frame(*parts)


def _encode(st: dict, i: np.ndarray, k: np.ndarray, mode: str, index: bool,
            epoch0: int) -> np.ndarray:
    price = st["price"][i, k]
    if mode == tc.MODE_LTP:
        rec = tc.records(tc.LTP_DTYPE, len(i))
        rec["token"], rec["last_price"] = st["token"][i], price
        return rec
    ts = epoch0 + k
    if index:
        rec = tc.records(tc.INDEX_FULL_DTYPE if mode == tc.MODE_FULL else tc.INDEX_QUOTE_DTYPE,
                         len(i))
        rec["token"], rec["last_price"] = st["token"][i], price
        rec["high"], rec["low"] = st["high"][i, k], st["low"][i, k]
        rec["open"], rec["close"] = st["open"][i], st["close"][i]
        if mode == tc.MODE_FULL:
            rec["exchange_timestamp"] = ts
        return rec
    rec = tc.records(tc.FULL_DTYPE if mode == tc.MODE_FULL else tc.QUOTE_DTYPE, len(i))
    tick, lot = st["tick"][i], st["lot"][i]
    rec["token"], rec["last_price"] = st["token"][i], price
    rec["last_traded_quantity"] = st["qty"][i, k]
    rec["average_traded_price"] = st["avg"][i, k]
    rec["volume_traded"] = st["volume"][i, k]
    rec["total_buy_quantity"] = lot * (1000 + (price // tick * 7) % 4999)
    rec["total_sell_quantity"] = lot * (1000 + (price // tick * 11) % 4999)
    rec["open"], rec["close"] = st["open"][i], st["close"][i]
    rec["high"], rec["low"] = st["high"][i, k], st["low"][i, k]
    if mode == tc.MODE_FULL:
        rec["last_trade_time"] = ts
        rec["exchange_timestamp"] = ts
        rec["oi"] = st["oi"][i, k]
        rec["oi_day_high"] = st["oi"][i, k]
        rec["oi_day_low"] = st["oi_low"][i]
        depth = rec["depth"]
        for lvl in range(10):
            p = price - tick * (lvl + 1) if lvl < 5 else price + tick * (lvl - 5)
            q = lot * (1 + (price // tick * (lvl + 3) + 7 * k) % 97)
            depth["quantity"][:, lvl] = q
            depth["price"][:, lvl] = np.maximum(p, 0)
            depth["orders"][:, lvl] = 1 + q // lot % 9
    return rec


def instruments_for(market: Market, tokens: list[int]) -> list[Instrument]:
    return [market.universe.by_token[t] for t in tokens if t in market.universe.by_token]
