"""The order-events outbox relay behind StreamOrderEvents.

Every order status change is an `order_events` row committed in the same transaction as the
order update; that table is the outbox. The Redis pub/sub message published after the commit
(events.EventBus.publish) is only a doorbell: it may be lost (the process killed between commit
and publish, a Redis blip), so the relay reads the table on every doorbell and at least every
POLL_S as a fallback, and sends each row with its id (`event_id`). Delivery is at least once;
a client that dedupes by event_id applies each event exactly once, and resumes after a
reconnect by passing the highest event_id it saw as `since_event_id`.

The look-back (why no row is skipped). A bigserial id is taken at INSERT, not at commit, so a row
with a lower id can become visible after a higher one was delivered: a plain `id > cursor`
would skip it. Migration 009 records on each row `xid`, its writing transaction (assigned before
the row's id is drawn), and `snap_xmin`, the oldest transaction running when it was written.
Each read also returns its own snapshot's xmin X. A row invisible to that read belongs to a
transaction still running at the snapshot or started after it, so its xid >= X: the next read
asks for `id > cursor OR xid >= X` and finds it whatever its id. Rows read again that way were
already sent; the relay remembers those ids (only while their xid >= X, so the set holds just
the rows of transactions that were in flight) and drops them.
On a resume from a client's cursor C the horizon is C's own snap_xmin: any transaction holding
an id below C and uncommitted when the client's previous stream last read was running when C was
written, so its xid >= C.snap_xmin. Rows of that horizon the client already had are sent again
(bounded by what was in flight; the client dedupes). The horizon is exact, not a time window:
no transaction, however slow, can slip a row past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

POLL_S = 1.0  # the fallback read when no doorbell rang
BATCH = 500  # rows per read; a longer backlog is read again at once

# "from now on": the newest id, the horizon, and the rows already committed at or above it (a
# later read would return them again: they are before "now", so they count as sent)
_START = """
WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
                  coalesce((SELECT max(id) FROM order_events WHERE account_id = $1), 0) AS cursor)
SELECT s.xmin, s.cursor, e.id, e.xid::text::bigint AS xid
FROM s LEFT JOIN LATERAL (
  SELECT id, xid FROM order_events
  WHERE account_id = $1 AND xid >= s.xmin::text::xid8) e ON true"""

_RESUME = """
SELECT e.id, e.xid::text::bigint AS xid,
       CASE WHEN e.id IS NULL THEN 0  -- the client had none of the account's rows
            ELSE coalesce(e.snap_xmin::text::bigint,  -- a row from before migration 009
                          pg_snapshot_xmin(pg_current_snapshot())::text::bigint) END AS xmin
FROM (SELECT 1) one LEFT JOIN LATERAL (
  SELECT id, xid, snap_xmin FROM order_events WHERE account_id = $1 AND id <= $2
  ORDER BY id DESC LIMIT 1) e ON true"""

# one statement, so the rows and the xmin come from the same snapshot
_READ = """
WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin)
SELECT s.xmin, e.id, e.order_id, e.account_id, e.status, e.broker_status, e.filled_quantity,
       e.average_price_paise, e.message, e.ts, e.xid::text::bigint AS xid
FROM s LEFT JOIN LATERAL (
  SELECT * FROM order_events
  WHERE account_id = $1 AND (id > $2 OR xid >= $3::bigint::text::xid8)
    AND NOT id = ANY($4::bigint[])
  ORDER BY id LIMIT $5) e ON true
ORDER BY e.id"""


class Relay:
    """One stream's position: `cursor` the highest id sent, `horizon` the xmin below which no
    unsent row can appear, `sent` the ids at or above the horizon already sent (id -> xid)."""

    def __init__(self, pool: Any, account_id: str) -> None:
        self.pool, self.account_id = pool, account_id
        self.cursor = 0
        self.horizon = 0
        self.sent: dict[int, int] = {}
        self.start_cursor = 0

    async def start(self, since: int) -> None:
        """`since` > 0: after that event; < 0: from the account's first event; 0: from now on.
        Sets `cursor` to where the stream starts, -1 for an account without events yet."""
        if since < 0:
            self.cursor, self.horizon = 0, 0
        elif since > 0:
            self.cursor = since
            row = await self.pool.fetchrow(_RESUME, self.account_id, since)
            self.horizon = row["xmin"]
            if row["id"] is not None and row["xid"] is not None:
                self.sent[row["id"]] = row["xid"]  # the cursor's own row: the client has it
        else:  # from now on: whatever commits after this snapshot
            rows = await self.pool.fetch(_START, self.account_id)
            self.cursor, self.horizon = rows[0]["cursor"], rows[0]["xmin"]
            self.sent = {r["id"]: r["xid"] for r in rows if r["id"] is not None}
        self.start_cursor = self.cursor or -1  # 0 would mean "now" to a resuming client

    async def read(self) -> list[Any]:
        """The committed rows not sent yet, in id order (the whole backlog, BATCH at a time)."""
        out: list[Any] = []
        while True:
            rows = await self.pool.fetch(_READ, self.account_id, self.cursor, self.horizon,
                                         list(self.sent), BATCH)
            xmin = rows[0]["xmin"]
            got = [r for r in rows if r["id"] is not None]
            for r in got:
                self.cursor = max(self.cursor, r["id"])
                if r["xid"] is not None:
                    self.sent[r["id"]] = r["xid"]
            out.extend(got)
            # xmin only moves forward; rows of transactions older than it are all visible now
            self.horizon = max(self.horizon, xmin)
            self.sent = {i: x for i, x in self.sent.items() if x >= self.horizon}
            if len(got) < BATCH:
                return out


async def relay(pool: Any, redis: aioredis.Redis, channel: str, account_id: str, since: int,
                ready: Callable[[int], Awaitable[None]] | None = None,
                poll_s: float = POLL_S) -> AsyncIterator[Any]:
    """The account's order_events rows: those after `since` (0: from now on; < 0: all), then
    live.
    `ready(cursor)` is awaited once the doorbell is subscribed and the start read: no later
    commit can be missed; `cursor` is where the stream starts (a client may resume from it)."""
    pubsub: Any = None
    r = Relay(pool, account_id)

    async def subscribe() -> Any:
        ps = redis.pubsub()
        try:
            await ps.subscribe(channel)
            # confirmed: every publish from here on rings (else the fallback read finds it)
            while (await ps.get_message(timeout=5.0) or {}).get("type") != "subscribe":
                pass
            return ps
        except Exception as exc:  # Redis away: the fallback reads carry the stream
            log.warning("order events doorbell unavailable for %s: %r", account_id, exc)
            with contextlib.suppress(Exception):
                await ps.aclose()
            return None

    async def ring() -> None:
        """Wait for a doorbell (draining any queued behind it) or POLL_S, whichever first."""
        nonlocal pubsub
        if pubsub is None:
            pubsub = await subscribe()
            if pubsub is None:
                await asyncio.sleep(poll_s)
                return
        try:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=poll_s)
            while msg is not None:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
        except Exception as exc:
            log.warning("order events doorbell lost for %s: %r", account_id, exc)
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            pubsub = None
            await asyncio.sleep(poll_s)

    try:
        pubsub = await subscribe()
        await r.start(since)
        if ready is not None:
            await ready(r.start_cursor)
        while True:
            for row in await r.read():
                yield row
            await ring()
    finally:
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
                await pubsub.aclose()
