"""TickerPool: Kite's ticker capacity — up to 3 sockets × 3,000 instruments per API key — as
one subscription set with a mode per instrument.

New instruments fill connection 0 up to 3,000, then 1, then 2, so a small universe costs one
socket and the 3,001st instrument opens the second. Connection 0 is always open (order
postbacks arrive on every socket, and the service wants them even with nothing subscribed);
connections 1 and 2 open when they are first given instruments and close when emptied, freeing
the socket. An instrument stays on its connection until unsubscribed: moving it would drop its
ticks for a moment, and freed slots are reused by later subscriptions anyway.

Beyond 9,000 the instruments that fit are subscribed and CapacityExceeded names how many were
refused (its `refused` attribute lists them), so the ingester keeps the 9,000 it can carry.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable

import aiohttp

from mandi.core.errors import CapacityExceeded, InvalidInput
from services.marketdata.ticker import MODES, TickerConnection
from services.marketdata.ticks import TickBatch


class TickerPool:
    def __init__(self, ws_root: str, api_key: str,
                 token_source: Callable[[], Awaitable[str]], *,
                 on_ticks: Callable[[TickBatch, int], None],
                 on_state: Callable[[int, str, str], None] | None = None,
                 on_postback: Callable[[dict], None] | None = None,
                 max_connections: int = 3, max_per_connection: int = 3000,
                 stall_s: float = 5.0, backoff_base_s: float = 1.0,
                 backoff_max_s: float = 60.0, auth_poll_s: float = 2.0,
                 rng: random.Random | None = None) -> None:
        self.max_connections = max_connections
        self.max_per_connection = max_per_connection
        self._session: aiohttp.ClientSession | None = None
        rng = rng or random.Random()
        self._conns = [
            TickerConnection(i, ws_root, api_key, token_source, on_ticks=on_ticks,
                             on_state=on_state, on_postback=on_postback, stall_s=stall_s,
                             backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s,
                             auth_poll_s=auth_poll_s,
                             rng=random.Random(rng.random()))
            for i in range(max_connections)
        ]
        self._where: dict[int, int] = {}  # token -> connection index
        self._lock = asyncio.Lock()
        self._started = False

    @property
    def connections(self) -> list[TickerConnection]:
        return list(self._conns)

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._session = aiohttp.ClientSession()
        for conn in self._conns:
            conn._session, conn._own_session = self._session, False
        self._conns[0].start()

    async def close(self) -> None:
        self._started = False
        await asyncio.gather(*(c.close() for c in self._conns))
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def subscribe(self, tokens: Iterable[int], mode: str) -> dict[int, int]:
        """Subscribe `tokens` in `mode` (already-subscribed ones change mode); returns
        token -> connection index for every token asked for that is now subscribed."""
        if mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {mode!r}",
                               field="mode")
        wanted = list(dict.fromkeys(int(t) for t in tokens))
        async with self._lock:
            per_conn: dict[int, list[int]] = {}
            new: list[int] = []
            for t in wanted:
                if t in self._where:
                    per_conn.setdefault(self._where[t], []).append(t)
                else:
                    new.append(t)
            left = iter(new)
            refused: list[int] = []
            for conn in self._conns:
                free = self.max_per_connection - len(conn.modes)
                while free > 0:
                    t = next(left, None)
                    if t is None:
                        break
                    per_conn.setdefault(conn.index, []).append(t)
                    self._where[t] = conn.index
                    free -= 1
            refused.extend(left)
            for index, toks in per_conn.items():
                conn = self._conns[index]
                await conn.set_modes(toks, mode)
                if self._started and not conn.running:
                    conn.start()
            assigned = {t: self._where[t] for t in wanted if t in self._where}
        if refused:
            cap = self.max_connections * self.max_per_connection
            err = CapacityExceeded(
                f"{len(refused)} of {len(wanted)} instruments refused: the ticker carries at "
                f"most {self.max_connections} × {self.max_per_connection} = {cap} instruments",
                field="tokens")
            err.refused = refused  # type: ignore[attr-defined]
            err.assigned = assigned  # type: ignore[attr-defined]
            raise err
        return assigned

    async def unsubscribe(self, tokens: Iterable[int]) -> None:
        async with self._lock:
            per_conn: dict[int, list[int]] = {}
            for t in dict.fromkeys(int(t) for t in tokens):
                index = self._where.pop(t, None)
                if index is not None:
                    per_conn.setdefault(index, []).append(t)
            for index, toks in per_conn.items():
                conn = self._conns[index]
                await conn.remove(toks)
                if index > 0 and not conn.modes and conn.running:
                    await conn.close()  # free the socket; reopened when given instruments

    def modes(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for conn in self._conns:
            out.update(conn.modes)
        return out

    def status(self) -> list[dict]:
        """Per connection: index, state, instruments, reconnects, error (no tokens)."""
        return [c.status() for c in self._conns]
