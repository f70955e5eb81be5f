"""The simulator's clock, so a replayed (and possibly accelerated) session looks live everywhere.

kitesim serves `GET /sim/clock` → `{"now": "<iso8601 with offset>", "speed": <float>}`. Asking
it on every `now()` would put an HTTP round trip in every hot path, so SimClock samples it and
extrapolates: now = sim_now + monotonic elapsed × speed, resyncing periodically to pick up
speed changes, pauses and jumps. The sample is anchored at the middle of the request's round
trip, halving the latency error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import aiohttp

from mandi.core.clock import Clock, WallClock
from mandi.core.errors import TemporaryError
from mandi.platform.config import ClockKind, Settings

log = logging.getLogger(__name__)

# A resync may move the clock back by measurement noise; hiding small steps keeps it monotonic
# for candle builders, while a big jump back (simulator reset) is real and passes through.
_MAX_HIDDEN_STEP_BACK = timedelta(seconds=2)


def parse_clock_payload(payload: dict[str, object]) -> tuple[datetime, float]:
    """(sim now in UTC, speed) from the simulator's JSON (bare, or in kitesim's Kite-style
    `{"status": "success", "data": {...}}` envelope); rejects naive times."""
    if isinstance(payload.get("data"), dict) and "now" not in payload:
        payload = payload["data"]  # type: ignore[assignment]
    try:
        now = datetime.fromisoformat(str(payload["now"]))
        speed = float(payload.get("speed", 1.0))  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as exc:
        raise TemporaryError(f"bad /sim/clock payload {payload!r}: {exc}") from None
    if now.tzinfo is None:
        raise TemporaryError(f"/sim/clock returned a naive time {payload['now']!r}")
    if speed < 0:
        raise TemporaryError(f"/sim/clock returned negative speed {speed}")
    return now.astimezone(UTC), speed


class SimClock:
    """A Clock following kitesim. Call `await start()` (syncs and keeps resyncing) and
    `await close()`; `now()` before the first sync does one blocking fetch as a fallback."""

    def __init__(self, kite_root: str, *, resync_s: float = 5.0, timeout_s: float = 5.0) -> None:
        self.url = kite_root.rstrip("/") + "/sim/clock"
        self.resync_s = resync_s
        self.timeout_s = timeout_s
        self._anchor_sim: datetime | None = None
        self._anchor_mono = 0.0
        self._speed = 1.0
        self._last: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        if self._anchor_sim is None:
            log.warning("SimClock used before start(); fetching %s synchronously", self.url)
            self._sync_blocking()
        assert self._anchor_sim is not None
        elapsed = (time.monotonic() - self._anchor_mono) * self._speed
        current = self._anchor_sim + timedelta(seconds=elapsed)
        last = self._last
        if last is not None and last - _MAX_HIDDEN_STEP_BACK <= current < last:
            return last
        self._last = current
        return current

    async def sync(self) -> None:
        """Fetch the simulator's clock once and re-anchor the extrapolation."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        sent = time.monotonic()
        try:
            async with self._session.get(self.url) as resp:
                resp.raise_for_status()
                payload = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TemporaryError(f"cannot read simulator clock at {self.url}: {exc}") from exc
        received = time.monotonic()
        self._anchor(payload, (sent + received) / 2)

    def _sync_blocking(self) -> None:
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as resp:
                payload = json.loads(resp.read())
        except OSError as exc:
            raise TemporaryError(f"cannot read simulator clock at {self.url}: {exc}") from exc
        self._anchor(payload, (sent + time.monotonic()) / 2)

    def _anchor(self, payload: dict[str, object], mono: float) -> None:
        sim_now, speed = parse_clock_payload(payload)
        self._anchor_sim, self._anchor_mono, self._speed = sim_now, mono, speed

    async def start(self) -> None:
        """First sync (errors propagate: a service configured for sim time must not run on a
        guess), then resync every `resync_s` in the background."""
        await self.sync()
        if self._task is None:
            self._task = asyncio.create_task(self._resync_forever(), name="simclock-resync")

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.resync_s)
            try:
                await self.sync()
            except TemporaryError as exc:  # keep extrapolating; the simulator may be restarting
                log.warning("simulator clock resync failed: %s", exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None


def make_clock(settings: Settings) -> Clock:
    """The clock a service should use: wall time, or kitesim's when MANDI_CLOCK=sim (then the
    service awaits `clock.start()` in its on_start and `clock.close()` in on_stop)."""
    if settings.clock is ClockKind.SIM:
        return SimClock(settings.kite_root)
    return WallClock()
