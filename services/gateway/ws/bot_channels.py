"""`/ws/state` and `/ws/logs`: one bot's state and log, from the strategy service.

The bot is `?bot_id=`, else the caller's default bot (as `GET /api/v1/state`: the one named
`default`, else the only one). Reading it with the caller's own principal (GetBot) is the
access check, done for every socket before it joins — also before a `?since=` replay — so
another user's bot is refused (4404) as REST refuses it.

* `state`: snapshot = `GET /api/v1/state` of the bot (the bot, its positions, orders and
  counters); StreamBotState reports each change (a bar processed, a status change) and the
  gateway re-reads the whole state once per burst and publishes `state` when it changed.
* `logs`: snapshot = the bot's newest 100 log records (oldest first); then one `log` message
  per new record (StreamBotLogs). Records carry their `id`: the first upstream message may
  repeat the newest record of a snapshot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import WebSocket

from mandi.platform.grpc_client import STREAM_TIMEOUT_S
from mandi.v1 import strategy_pb2
from services.gateway.auth.principal import Principal
from services.gateway.routers.bot_default import default_bot, state_payload
from services.gateway.routers.bots import log_json
from services.gateway.ws.channels import Channel, Refresher
from services.gateway.ws.hub import RESYNC
from services.gateway.ws.topic import Topic

RECENT_LOGS = 100


async def bot_of(ws: WebSocket, who: Principal, app: Any) -> str:
    stubs, md = app.state.backends, who.metadata()
    bot_id = ws.query_params.get("bot_id", "")
    if not bot_id:
        return (await default_bot(stubs, md)).deployment_id
    await stubs.strategy.GetBot(strategy_pb2.GetBotRequest(deployment_id=bot_id), metadata=md)
    return bot_id


async def state_snapshot(app: Any, bot_id: str, who: Principal) -> dict[str, Any]:
    return await state_payload(app.state.backends, bot_id, who.metadata())


def _state_feed(app: Any, bot_id: str, who: Principal) -> Any:
    return app.state.backends.strategy.StreamBotState(
        strategy_pb2.StreamBotStateRequest(deployment_id=bot_id), metadata=who.metadata(),
        timeout=STREAM_TIMEOUT_S)


def _state_listener(topic: Topic, work: set[asyncio.Task[Any]], app: Any, who: Principal
                    ) -> Callable[[Any], None]:
    refresh = Refresher(topic, work, "state", lambda: state_snapshot(app, topic.key, who))

    def on_event(ev: Any) -> None:
        refresh.request()  # a change or a RESYNC: re-read the whole state
    return on_event


async def logs_snapshot(app: Any, bot_id: str, who: Principal) -> dict[str, Any]:
    resp = await app.state.backends.strategy.ListBotLogs(strategy_pb2.ListBotLogsRequest(
        deployment_id=bot_id, limit=RECENT_LOGS), metadata=who.metadata())
    return {"bot_id": bot_id, "logs": [log_json(r) for r in reversed(resp.logs)]}


def _logs_feed(app: Any, bot_id: str, who: Principal) -> Any:
    return app.state.backends.strategy.StreamBotLogs(
        strategy_pb2.StreamBotLogsRequest(deployment_id=bot_id, recent=1),
        metadata=who.metadata(), timeout=STREAM_TIMEOUT_S)


def _logs_listener(topic: Topic, work: set[asyncio.Task[Any]], app: Any, who: Principal
                   ) -> Callable[[Any], None]:
    last = 0

    def on_event(ev: Any) -> None:
        nonlocal last
        if ev is RESYNC or ev.id <= last:  # a re-opened stream repeats its newest record
            return
        last = ev.id
        topic.publish("log", log_json(ev))
    return on_event


STATE = Channel("state", "bot_state", bot_of, _state_feed, state_snapshot, _state_listener)
LOGS = Channel("logs", "bot_logs", bot_of, _logs_feed, logs_snapshot, _logs_listener)
