"""Notification events: the one schema and the one publish call every service uses.

A service that has something to tell the user (an order filled, a fetch job failed, a bot
stopped) appends an event to the Redis Stream `<prefix>:notify:events`; the notifier (hosted in
the gateway, services/notifier) reads it with a consumer group, stores the notification and
sends it to the user's channels. A stream rather than pub/sub so that events published while
the notifier restarts are delivered when it is back, and a consumer group so that several
gateway replicas share the work and each event is handled once.

Publishing must never slow down or fail the caller — above all the order path. So
`publish_event` only schedules the XADD on the running loop and returns at once; a Redis that
is down or slow costs a log line and a metric (`mandi_notify_publish_failures_total`), never an
exception or a wait in the caller. The stream is capped (XADD MAXLEN ~) so an absent notifier
cannot grow Redis without bound.

An event is the stream entry `{id, kind, user, ts, data}`: `kind` one of KINDS, `user` the
notification user: services leave it "default" (they know accounts, not users) and the notifier
tells every user granted the event's `account_id`, or the admins when no one holds it
(services/notifier/store.py `recipients`), `ts` the UTC instant of
publishing (ISO-8601), `data` a JSON object whose fields depend on the kind. Money in `data` is
in paise (ints). What the message texts (services/notifier/messages.py) read, per kind:

    order_filled      account_id, order_id, side, quantity, symbol, average_price_paise, [bot_id]
    order_rejected    account_id, order_id, side, quantity, symbol, reason, [bot_id]
    gtt_triggered     account_id, gtt_id, side, quantity, symbol, leg
    bot_started       bot_id, name, account_id
    bot_stopped       bot_id, name, account_id, [reason]
    bot_error         bot_id, name, account_id, error
    daily_loss_latch  account_id, loss_paise, limit_paise, square_off
    emergency_stop    account_id, actor, reason
    session_expired   account_id
    fetch_finished    job_id, items, failed
    fetch_failed      job_id, error

Extra fields are kept (the webhook channel forwards `data` whole).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Counter

from mandi.core.errors import InvalidInput

log = logging.getLogger(__name__)

KINDS = ("order_filled", "order_rejected", "gtt_triggered", "bot_started", "bot_stopped",
         "bot_error", "daily_loss_latch", "emergency_stop", "session_expired", "fetch_finished",
         "fetch_failed")

MAXLEN = 10_000  # approximate cap of the stream (entries)
PUBLISH_TIMEOUT_S = 2.0  # an XADD slower than this is given up (and counted)

PUBLISHED = Counter("mandi_notify_published", "Notification events appended to the stream.",
                    ["kind"])
PUBLISH_FAILURES = Counter(
    "mandi_notify_publish_failures",
    "Notification events lost because Redis refused, failed or timed out the XADD.", ["kind"])

_pending: set[asyncio.Task[Any]] = set()  # strong references until each XADD ends


def stream_key(prefix: str) -> str:
    return f"{prefix}:notify:events"


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"unknown notification kind {kind!r}; known: {', '.join(KINDS)}",
                           field="kind")
    return kind


def encode(kind: str, data: dict[str, Any], user: str = "default",
           event_id: str | None = None) -> dict[str, str]:
    """The stream entry's fields (all strings)."""
    check_kind(kind)
    if not user:
        raise InvalidInput("notification user must not be empty", field="user")
    return {"id": event_id or uuid.uuid4().hex, "kind": kind, "user": user,
            "ts": datetime.now(UTC).isoformat(),
            "data": json.dumps(data, default=str, separators=(",", ":"))}


def decode(fields: dict[Any, Any]) -> dict[str, Any]:
    """A stream entry back into `{id, kind, user, ts, data}`; bytes or str fields."""
    text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
                                                          else v) for k, v in fields.items()}
    data = json.loads(text.get("data") or "{}")
    return {"id": text.get("id", ""), "kind": text.get("kind", ""),
            "user": text.get("user", "default"), "ts": text.get("ts", ""),
            "data": data if isinstance(data, dict) else {}}


async def _xadd(redis: aioredis.Redis, prefix: str, fields: dict[str, str]) -> str | None:
    kind = fields["kind"]
    try:
        entry = await asyncio.wait_for(
            redis.xadd(stream_key(prefix), fields, maxlen=MAXLEN, approximate=True),
            PUBLISH_TIMEOUT_S)
    except Exception as exc:  # a lost notification must not hurt the caller
        PUBLISH_FAILURES.labels(kind).inc()
        log.warning("notification %s (%s) not published: %s", kind, fields["id"],
                    type(exc).__name__)
        return None
    PUBLISHED.labels(kind).inc()
    return entry.decode() if isinstance(entry, bytes) else str(entry)


def publish_event(redis: aioredis.Redis | None, prefix: str, kind: str, data: dict[str, Any],
                  user: str = "default") -> asyncio.Task[str | None] | None:
    """Fire and forget: encode the event, schedule the XADD and return at once (the task, for
    tests that want to await it). A bad `kind` or empty `user` raises InvalidInput here — a
    programming error, found by the first test that publishes it. Without a Redis client or a
    running loop nothing is sent."""
    fields = encode(kind, data, user)
    if redis is None:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    task = loop.create_task(_xadd(redis, prefix, fields))
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return task
