"""`/ws/account?account_id=`: the account card of seed 002's monitoring page, live.

Snapshot = `GET /api/v1/account` (execution's GetAccountSnapshot: broker margins and holdings,
ledger positions, today's P&L). Then an `account` message with the whole card whenever it
changed: re-read after an order event with a fill (the account's StreamOrderEvents, shared
with `/ws/orders` and `/ws/positions`; a burst of fills is one read), and every
`MANDI_GATEWAY_WS_ACCOUNT_REFRESH_S` (5 s) while the market is open (by the gateway's clock),
since prices move margins and P&L without any order. One reader per account per process,
whatever the number of sockets; `as_of` alone changing is not a change.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mandi.core.calendar import is_market_open
from mandi.v1 import execution_pb2 as pb
from services.gateway.auth.principal import Principal
from services.gateway.routers.account import account_json
from services.gateway.ws.channels import Channel, Refresher, _order_events, account_of
from services.gateway.ws.hub import RESYNC
from services.gateway.ws.topic import Topic


async def account_snapshot(app: Any, account_id: str, _who: Principal) -> dict[str, Any]:
    # as the system: the socket's caller was admitted to the account by the guard, and the
    # reader is shared by every socket on it
    resp = await app.state.backends.execution.GetAccountSnapshot(
        pb.GetAccountSnapshotRequest(account_id=account_id))
    data = account_json(resp)
    data.pop("success", None)
    return data


def _without_as_of(data: Any) -> Any:
    return {k: v for k, v in data.items() if k != "as_of"} if isinstance(data, dict) else data


def _market_open(app: Any) -> bool:
    clock = getattr(app.state, "clock", None)
    return is_market_open(clock.now() if clock is not None else datetime.now(UTC))


async def _every(app: Any, refresh: Refresher, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):  # a clock that cannot tell (the simulator away)
            if _market_open(app):
                refresh.request()


def _listener(topic: Topic, work: set[asyncio.Task[Any]], app: Any, who: Principal
              ) -> Callable[[Any], None]:
    refresh = Refresher(topic, work, "account",
                        lambda: account_snapshot(app, topic.key, who), same=_without_as_of)
    ticker = asyncio.get_running_loop().create_task(
        _every(app, refresh, app.state.ws_settings.gateway_ws_account_refresh_s))
    work.add(ticker)  # cancelled with the topic (hub._expire)

    def on_event(ev: Any) -> None:
        if ev is RESYNC or ev.filled_quantity > 0:
            refresh.request()
    return on_event


ACCOUNT = Channel("account", "order_events", account_of, _order_events, account_snapshot,
                  _listener)
