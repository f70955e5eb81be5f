"""The account channels: what each one snapshots, which upstream it reads, what it publishes.

* `orders`: snapshot = the account's open orders and today's (IST, by the gateway's clock),
  newest first, as REST lists them; then one `order` message per execution order event
  (status, fills), straight from StreamOrderEvents.
* `positions`: snapshot = the account's positions as `GET /api/v1/positions`; an order event
  with a fill makes the gateway re-read them (once per event burst per process, not per
  socket) and publish `positions` with the whole list when it changed.

Both read the same upstream: one StreamOrderEvents per account per gateway process, re-opened
after the last event_id it delivered when execution restarts (repeats dropped by id).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput, NotFound
from mandi.platform.grpc_client import STREAM_TIMEOUT_S
from mandi.platform.protoconv import from_timestamp, has_timestamp
from mandi.v1 import execution_pb2 as pb
from services.gateway.auth.principal import Principal
from services.gateway.clients import Backends
from services.gateway.routers.trading import STATUS_NAMES, order_json, position_json, rupees
from services.gateway.ws.hub import RESYNC
from services.gateway.ws.topic import Topic

TERMINAL = frozenset({"COMPLETE", "CANCELLED", "REJECTED"})
SNAPSHOT_ORDERS = 500


@dataclass(frozen=True)
class Channel:
    """What a channel is made of. `app` is the gateway's FastAPI app (stubs, clock, notifier on
    app.state); `key` picks the topic (an account, a user, a symbol...)."""

    name: str
    source: str  # the upstream it reads, shared with every channel of the same source and key
    # (socket, caller, app) -> the key, once the caller may read it (else NotFound: 4404)
    key_of: Callable[[WebSocket, Principal, Any], Awaitable[str]]
    # (app, key, caller) -> a stream call (hub.Source); the caller is the first socket's
    open_feed: Callable[..., Any]  # (app, key, caller[, since]) -> the stream call
    snapshot: Callable[[Any, str, Principal], Awaitable[Any]]  # -> the snapshot's data
    # (topic, its tasks, app, the first socket's caller) -> what the source's events call
    listener: Callable[[Topic, set[asyncio.Task[Any]], Any, Principal],
                       Callable[[Any], None]]
    # open_feed takes a 4th argument, the last event_id seen, and resumes after it
    resumable: bool = False


async def account_of(ws: WebSocket, who: Principal, _app: Any) -> str:
    """`?account_id=`, or the caller's only account when it holds exactly one."""
    named = ws.query_params.get("account_id", "")
    if named:
        if not who.holds(named):  # the guard refused it at the start; a recheck, later
            raise NotFound(f"no account {named!r}", field="account_id")
        return named
    if not who.is_admin and len(who.accounts) == 1:
        return next(iter(who.accounts))
    raise InvalidInput("name the account with ?account_id=", field="account_id")


def _stubs(app: Any) -> Backends:
    return app.state.backends


def _now(app: Any) -> datetime:
    clock = getattr(app.state, "clock", None)
    return clock.now() if clock is not None else datetime.now(UTC)


def order_event_json(ev: pb.OrderEvent) -> dict[str, Any]:
    return {"order_id": ev.order_id, "account_id": ev.account_id,
            "status": STATUS_NAMES.get(ev.status, "UNSPECIFIED"),
            "broker_status": ev.broker_status, "filled_quantity": ev.filled_quantity,
            "average_price": rupees(ev.average_price_paise),
            "average_price_paise": ev.average_price_paise, "message": ev.message,
            "ts": from_timestamp(ev.ts).isoformat() if has_timestamp(ev.ts) else None,
            "event_id": ev.event_id}


def _order_events(app: Any, account_id: str, _who: Principal, since: int = 0) -> Any:
    # no principal: the stream is shared by every socket on the account, each admitted by the
    # gateway's guard; execution serves it as the system. `since`: the last event_id the
    # source saw, so a re-opened stream (execution restarted) loses nothing (hub.Source)
    return _stubs(app).execution.StreamOrderEvents(
        pb.StreamOrderEventsRequest(account_id=account_id, since_event_id=since),
        timeout=STREAM_TIMEOUT_S)


async def orders_snapshot(app: Any, account_id: str, _who: Principal) -> dict[str, Any]:
    resp = await _stubs(app).execution.ListOrders(pb.ListOrdersRequest(
        account_id=account_id, page={"page_size": SNAPSHOT_ORDERS}))
    today = _now(app).astimezone(IST).date()
    keep = [o for o in resp.orders
            if STATUS_NAMES.get(o.status) not in TERMINAL
            or from_timestamp(o.created_at).astimezone(IST).date() == today]
    return {"account_id": account_id, "orders": [order_json(o) for o in keep]}


async def positions_snapshot(app: Any, account_id: str, _who: Principal) -> dict[str, Any]:
    resp = await _stubs(app).execution.Positions(pb.PositionsRequest(account_id=account_id))
    return {"account_id": account_id, "positions": [position_json(p) for p in resp.positions]}


class Refresher:
    """Re-read something and publish it, coalescing bursts: while a read runs, further
    requests make one more read after it, never a queue of them. Publishes only changes
    (compared through `same`, e.g. leaving a timestamp out)."""

    def __init__(self, topic: Topic, work: set[asyncio.Task[Any]], type_: str,
                 read: Callable[[], Awaitable[Any]],
                 same: Callable[[Any], Any] = lambda data: data) -> None:
        self.topic, self.work, self.type, self.read = topic, work, type_, read
        self.same = same
        self.task: asyncio.Task[Any] | None = None
        self.again = False
        self.last: Any = None

    def request(self) -> None:
        if self.task is not None and not self.task.done():
            self.again = True
            return
        self.task = asyncio.get_running_loop().create_task(self._run())
        self.work.add(self.task)
        self.task.add_done_callback(self.work.discard)

    async def _run(self) -> None:
        while True:
            self.again = False
            try:
                data = await self.read()
            except Exception:  # the service is away: the next event or resync reads again
                data = None
            if data is not None and self.same(data) != self.last:
                self.last = self.same(data)
                self.topic.publish(self.type, data)
            if not self.again:
                return


def _orders_listener(topic: Topic, work: set[asyncio.Task[Any]], app: Any, who: Principal
                     ) -> Callable[[Any], None]:
    resync = Refresher(topic, work, "snapshot", lambda: orders_snapshot(app, topic.key, who))

    def on_event(ev: Any) -> None:
        if ev is RESYNC:
            resync.request()
        else:
            topic.publish("order", order_event_json(ev))
    return on_event


def _positions_listener(topic: Topic, work: set[asyncio.Task[Any]], app: Any,
                        who: Principal) -> Callable[[Any], None]:
    refresh = Refresher(topic, work, "positions",
                        lambda: positions_snapshot(app, topic.key, who))

    def on_event(ev: Any) -> None:
        if ev is RESYNC or ev.filled_quantity > 0:
            refresh.request()
    return on_event


ORDERS = Channel("orders", "order_events", account_of, _order_events, orders_snapshot,
                 _orders_listener, resumable=True)
POSITIONS = Channel("positions", "order_events", account_of, _order_events,
                    positions_snapshot, _positions_listener, resumable=True)
