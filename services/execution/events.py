"""Order events doorbell: after an order change commits (its order_events row), a message on a
Redis channel per account wakes StreamOrderEvents on any replica, which then reads the rows from
the table (services/execution/outbox.py). A lost message only delays an event (the relay also
reads every second); it never loses one.

The bus also carries execution's user notifications (order filled or rejected, GTT triggered,
daily loss latch, emergency stop, session expired) onto the notification stream
(mandi.platform.notify_events): `notify` schedules the XADD and returns, so the order path
never waits for it and a Redis outage never fails it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis.asyncio as aioredis

from mandi.platform.notify_events import publish_event


class EventBus:
    def __init__(self, redis: aioredis.Redis, prefix: str = "mandi:exec:events",
                 notify_prefix: str | None = None) -> None:
        self.redis = redis
        self.prefix = prefix
        # the root prefix of the notification stream (<it>:notify:events); None: notify nothing
        self.notify_prefix = notify_prefix
        self._pending: set[asyncio.Task[None]] = set()

    def publish_soon(self, account_id: str, order_id: str, status: str, **kw: Any) -> None:
        """Publish without waiting (the order path must not pay for the fan-out)."""
        task = asyncio.get_running_loop().create_task(
            self.publish(account_id, order_id, status, **kw))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def notify(self, kind: str, data: dict[str, Any]) -> None:
        """A user notification, fire and forget (see module docstring)."""
        if self.notify_prefix is not None:
            publish_event(self.redis, self.notify_prefix, kind, data)

    def notify_order(self, row: Any, status: str, *, filled: int = 0, avg: int = 0,
                     message: str = "") -> None:
        """order_filled when an order reaches COMPLETE, order_rejected when it is REJECTED;
        other statuses notify nothing. `row` is the order row."""
        if status not in ("COMPLETE", "REJECTED"):
            return
        data = {"account_id": row["account_id"], "order_id": row["order_id"],
                "symbol": row["tradingsymbol"], "exchange": row["exchange"],
                "side": row["side"], "strategy_id": row.get("strategy_id") or "",
                "bot_id": row.get("bot_id") or ""}
        if status == "COMPLETE":
            self.notify("order_filled", {**data, "quantity": filled or row["quantity"],
                                         "average_price_paise": avg})
        else:
            self.notify("order_rejected", {**data, "quantity": row["quantity"],
                                           "reason": message})

    def channel(self, account_id: str) -> str:
        return f"{self.prefix}:{account_id}"

    async def publish(self, account_id: str, order_id: str, status: str, *,
                      broker_status: str = "", filled: int = 0, avg: int = 0,
                      message: str = "") -> None:
        payload = {"order_id": order_id, "account_id": account_id, "status": status,
                   "broker_status": broker_status, "filled_quantity": filled,
                   "average_price_paise": avg, "message": message}
        try:
            await self.redis.publish(self.channel(account_id), json.dumps(payload))
        except Exception:  # a doorbell: the relay's fallback read finds the row anyway
            pass
