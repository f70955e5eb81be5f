"""The notifier: reads the events stream, stores each notification, sends it to the channels
the user enabled for its kind.

Delivery is per channel and concurrent: every (event, channel) pair is its own task with its own
rate limiter (Redis sliding windows, shared by every gateway replica) and its own retries with
exponential backoff, so a dead or slow channel delays only itself — never another channel, never
the next event, never the publisher (who only appended to the stream). The stream entry is
acknowledged once every channel's attempts have ended (sent, or failed for good); the outcome
per channel is stored (notification_deliveries) and a redelivered entry skips channels that are
done. Entries left pending by a notifier that died are claimed back (XAUTOCLAIM) after
CLAIM_IDLE_S, longer than any delivery's retries take.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
from datetime import UTC, datetime
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import ResponseError

from mandi.platform.notify_events import KINDS, decode, stream_key
from mandi.platform.ratelimit import SlidingWindowLimiter
from services.notifier.channels import Discord, Email, SendError, Telegram, Webhook
from services.notifier.messages import render
from services.notifier.settings import CHANNELS
from services.notifier.store import NotifyStore

log = logging.getLogger(__name__)

GROUP = "notifier"
CLAIM_IDLE_S = 300.0
MAX_IN_FLIGHT = 200  # events being delivered at once

DELIVERIES = Counter("mandi_notify_deliveries",
                     "Notification deliveries by channel and outcome (sent, failed).",
                     ["channel", "outcome"])
SEND_ATTEMPTS = Counter("mandi_notify_send_attempts",
                        "Requests made to notification channels, by channel and result "
                        "(ok, retryable, permanent).", ["channel", "result"])


def stored_channel(prefix: str, user: str) -> str:
    """The Redis pub/sub channel announcing a user's newly stored notifications."""
    return f"{prefix}:notify:stored:{user}"


class Notifier:
    def __init__(self, redis: aioredis.Redis, store: NotifyStore, prefix: str, *,
                 telegram_api: str, attempts: int = 5, base_delay_s: float = 1.0,
                 max_delay_s: float = 30.0, consumer: str | None = None) -> None:
        self.redis = redis
        self.store = store
        self.prefix = prefix
        self.stream = stream_key(prefix)
        self.consumer = consumer or f"{socket.gethostname()}:{os.getpid()}"
        self.attempts = max(1, attempts)
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.http = aiohttp.ClientSession()
        self.senders: dict[str, Any] = {
            "telegram": Telegram(self.http, telegram_api), "webhook": Webhook(self.http),
            "discord": Discord(self.http), "email": Email()}
        assert set(self.senders) == set(CHANNELS)
        self._limiters: dict[tuple[str, ...], SlidingWindowLimiter] = {}
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the loop ---------------------------------------------------------------------------
    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        """Consume until cancelled; Redis errors are logged and retried."""
        await self.ensure_group()
        next_claim = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() >= next_claim:
                    await self._claim_stale()
                    next_claim = loop.time() + 30.0
                await self._slots.acquire()
                self._slots.release()
                got = await self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"},
                                                  count=50, block=1000)
                for _stream, entries in got or []:
                    for entry_id, fields in entries:
                        await self._spawn(entry_id, fields)
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream was deleted under us
                    await self.ensure_group()
                    continue
                log.warning("notifier: redis error %s", exc)
                await asyncio.sleep(1.0)
            except Exception as exc:  # keep consuming
                log.warning("notifier: %s", type(exc).__name__)
                await asyncio.sleep(1.0)

    async def _claim_stale(self) -> None:
        start = "0-0"
        while True:
            res = await self.redis.xautoclaim(self.stream, GROUP, self.consumer,
                                              min_idle_time=int(CLAIM_IDLE_S * 1000),
                                              start_id=start, count=50)
            start, entries = res[0], res[1]
            for entry_id, fields in entries:
                if fields:
                    await self._spawn(entry_id, fields)
                else:  # trimmed away meanwhile
                    await self.redis.xack(self.stream, GROUP, entry_id)
            if start in (b"0-0", "0-0") or not entries:
                return

    async def _spawn(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._handle(entry_id, fields))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.http.close()

    # --- one event --------------------------------------------------------------------------
    async def _handle(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        try:
            event = decode(fields)
        except ValueError:
            log.warning("notifier: undecodable entry %s dropped", entry_id)
            await self.redis.xack(self.stream, GROUP, entry_id)
            return
        if event["kind"] not in KINDS or not event["id"]:
            log.warning("notifier: entry %s of unknown kind %r dropped", entry_id, event["kind"])
            await self.redis.xack(self.stream, GROUP, entry_id)
            return
        try:
            await self.process(event)
        except Exception as exc:  # left pending; claimed again later
            log.warning("notifier: event %s not processed: %s", event["id"], type(exc).__name__)
            return
        await self.redis.xack(self.stream, GROUP, entry_id)

    async def process(self, event: dict[str, Any]) -> None:
        """Store and send the event for each of its recipients (store.recipients): one
        notification per user, its id the event's plus the user, so a redelivered entry is
        stored once per user as before."""
        users = await self.store.recipients(event)
        if users == [event["user"]]:
            await self.process_for(event)
            return
        await asyncio.gather(*(self.process_for({**event, "user": u, "id": f"{event['id']}/{u}"})
                               for u in users))

    async def process_for(self, event: dict[str, Any]) -> None:
        text = render(event["kind"], event["data"])
        conf = await self.store.settings(event["user"])
        nid = await self.store.record(event, text)
        await self._announce(event, nid, text)
        done = await self.store.delivered(nid)
        wanted = [ch for ch in CHANNELS if conf["channels"][ch]["enabled"]
                  and conf["events"][event["kind"]][ch] and ch not in done]
        await asyncio.gather(*(self.deliver(nid, ch, conf["channels"][ch], text, event)
                               for ch in wanted))

    async def _announce(self, event: dict[str, Any], nid: int, text: str) -> None:
        """Tell every gateway process the notification is stored (their /ws/notifications
        sockets of that user); best effort, the list endpoint has it anyway."""
        item = {"id": nid, "kind": event["kind"], "text": text, "data": event["data"],
                "created_at": datetime.now(UTC).isoformat(), "read": False, "read_at": None}
        try:
            await self.redis.publish(stored_channel(self.prefix, event["user"]),
                                     json.dumps(item, default=str))
        except Exception as exc:
            log.info("notifier: stored-notification announcement failed: %s",
                     type(exc).__name__)

    def _limiter(self, channel: str, rules: dict[str, Any]) -> SlidingWindowLimiter:
        keyed = {f"{self.prefix}:notify:rl:{channel}:{k}": w for k, w in rules.items()}
        cache_key = tuple(sorted(keyed))
        limiter = self._limiters.get(cache_key)
        if limiter is None:
            limiter = self._limiters[cache_key] = SlidingWindowLimiter(self.redis, keyed)
        return limiter

    def backoff(self, attempt: int) -> float:
        """Before retry `attempt` (1-based): half the capped exponential step plus a random
        half, so retries spread out but never come back at once."""
        cap = min(self.max_delay_s, self.base_delay_s * 2 ** min(attempt - 1, 30))
        return cap / 2 + random.uniform(0, cap / 2)

    async def deliver(self, nid: int, channel: str, conf: dict[str, Any], text: str,
                      event: dict[str, Any]) -> bool:
        """Send with rate limiting and retries; store and count the outcome. True when sent."""
        sender = self.senders[channel]
        await self.store.set_delivery(nid, channel, "sending", 0)
        error = ""
        attempt = 0
        for attempt in range(1, self.attempts + 1):
            retry_after = None
            try:
                await self._limiter(channel, sender.limits(conf)).acquire()
                await sender.send(conf, text, event)
            except SendError as exc:
                SEND_ATTEMPTS.labels(channel, "retryable" if exc.retryable else "permanent").inc()
                error = exc.message
                if not exc.retryable:
                    break
                retry_after = exc.retry_after
            except Exception as exc:  # e.g. Redis down under the limiter
                SEND_ATTEMPTS.labels(channel, "retryable").inc()
                error = f"{channel}: {type(exc).__name__}"
            else:
                SEND_ATTEMPTS.labels(channel, "ok").inc()
                DELIVERIES.labels(channel, "sent").inc()
                await self.store.set_delivery(nid, channel, "sent", attempt)
                return True
            if attempt < self.attempts:
                delay = self.backoff(attempt)
                if retry_after is not None:
                    delay = max(delay, min(retry_after, 300.0))
                log.info("notification %s via %s: %s; retry %d in %.2fs", nid, channel, error,
                         attempt, delay)
                await asyncio.sleep(delay)
        DELIVERIES.labels(channel, "failed").inc()
        log.warning("notification %s via %s failed after %d attempt(s): %s", nid, channel,
                    attempt, error)
        await self.store.set_delivery(nid, channel, "failed", attempt, error)
        return False
