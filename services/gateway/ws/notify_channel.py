"""`/ws/notifications`: the caller's own notifications, as `GET /api/v1/notifications` lists
them. Snapshot = the newest page (50) with the total and unread counts; then one
`notification` message per notification the notifier stores for the caller, read from the
Redis channel the notifier announces it on (one subscription per user per gateway process,
whichever process's notifier stored it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import WebSocket

from services.gateway.auth.principal import Principal
from services.gateway.ws.channels import Channel, Refresher
from services.gateway.ws.hub import RESYNC
from services.gateway.ws.redis_feed import RedisFeed
from services.gateway.ws.topic import Topic
from services.notifier.worker import stored_channel

PAGE = 50


async def _caller(_ws: WebSocket, who: Principal, _app: Any) -> str:
    return who.username


def _feed(app: Any, user: str, _who: Principal) -> RedisFeed:
    host = app.state.notifier

    async def connect() -> Any:
        await host.wait_ready()
        return host.redis
    return RedisFeed(connect, stored_channel(app.state.ws_settings.redis_prefix, user))


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


async def notifications_snapshot(app: Any, user: str, _who: Principal) -> dict[str, Any]:
    store = await app.state.notifier.get_store()
    items, total, unread = await store.list(user, page=1, page_size=PAGE, unread_only=False)
    return {"user": user, "total": total, "unread": unread,
            "items": [{k: _iso(v) for k, v in item.items()} for item in items]}


def _listener(topic: Topic, work: set[asyncio.Task[Any]], app: Any, who: Principal
              ) -> Callable[[Any], None]:
    resync = Refresher(topic, work, "snapshot",
                       lambda: notifications_snapshot(app, topic.key, who))

    def on_event(item: Any) -> None:
        if item is RESYNC:
            resync.request()
        else:
            topic.publish("notification", item)
    return on_event


NOTIFICATIONS = Channel("notifications", "notifications", _caller, _feed,
                        notifications_snapshot, _listener)
