"""How bots learn execution's account-level stops: the daily loss latch and the emergency stop.

Execution owns both (services/execution/loss_limit.py, emergency.py) and enforces them on every
order: `risk.check` refuses new exposure with RiskRejected, whose rule rides in the
`mandi-error-field` trailer (`daily_loss_limit`, `emergency_stop`). A bot honours them
explicitly rather than only having its orders bounced:

* loss latch — the first entry execution refuses with `daily_loss_limit` blocks the bot's
  entries for the rest of that IST day (state `entries_blocked`, audited by actor "risk"); exits
  and square-offs go on. The refusal is the signal because it is the latch itself answering:
  there is no window in which the bot believes otherwise and nothing to lose in transit.
* emergency stop — every running or paused bot of the account moves to `stopped` (audited,
  actor "emergency_stop"). Two ways in, for promptness and for certainty:
  1. the runner tails the notification stream (`<prefix>:notify:events`, a Redis Stream that
     execution appends `emergency_stop` to) from the moment it starts, so idle bots stop at
     once, without waiting to trade;
  2. a PlaceOrder refused with rule `emergency_stop` stops the account's bots too — that covers
     an event published while no runner was reading, or lost by Redis (publishing is fire and
     forget): execution's persisted halt answers every order until an admin resets it.
  Execution has no RPC that reports the halt (DailyStats shows only the loss latch), so polling
  would need a proto change; the two paths above need none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import grpc
import redis.asyncio as aioredis

from mandi.core.clock import to_ist
from mandi.platform.notify_events import stream_key
from mandi.platform.status import ERROR_FIELD_KEY

log = logging.getLogger("mandi.strategy.bots")

LOSS_LIMIT = "daily_loss_limit"
EMERGENCY_STOP = "emergency_stop"
EMERGENCY_ACTOR = "emergency_stop"


def refusal_rule(exc: grpc.aio.AioRpcError) -> str:
    """The risk rule execution named for a refused order ('' when none)."""
    for key, value in exc.trailing_metadata() or ():
        if key == ERROR_FIELD_KEY:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


def ist_day(ts: datetime) -> str:
    return to_ist(ts).date().isoformat()


def ist_day_of_ns(ns: int) -> str:
    return ist_day(datetime.fromtimestamp(ns / 1e9, UTC))


class EmergencyWatch:
    """Tails the notification stream for `emergency_stop` events; calls `on_stop(account_id,
    reason)` for each. Reads from where the stream ends when it starts (older halts are caught
    by the refusal path); a Redis failure is logged and retried."""

    def __init__(self, redis: aioredis.Redis, prefix: str,
                 on_stop: Callable[[str, str], Awaitable[None]], *, block_ms: int = 1000) -> None:
        self.redis = redis
        self.key = stream_key(prefix)
        self.on_stop = on_stop
        self.block_ms = block_ms
        self.ready = asyncio.Event()  # set once the start position is fixed (tests await it)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bot-emergency-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        last: str | None = None
        while True:
            try:
                if last is None:
                    entries = await self.redis.xrevrange(self.key, count=1)
                    last = _s(entries[0][0]) if entries else "0-0"
                    self.ready.set()
                got = await self.redis.xread({self.key: last}, block=self.block_ms, count=100)
                for _stream, items in got or ():
                    for entry_id, fields in items:
                        last = _s(entry_id)
                        await self._handle(fields)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: the refusal path still stops the bots
                log.warning("emergency watch: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(1.0)

    async def _handle(self, fields: dict) -> None:
        f = {_s(k): _s(v) for k, v in fields.items()}
        if f.get("kind") != EMERGENCY_STOP:
            return
        try:
            data = json.loads(f.get("data") or "{}")
        except ValueError:
            return
        account = str(data.get("account_id") or "")
        if account:
            await self.on_stop(account, str(data.get("reason") or "emergency stop"))


def _s(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
