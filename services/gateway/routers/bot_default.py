"""Seed 002's single-bot calls, on the user's default bot: `GET /api/v1/state`, `POST
/api/v1/bot/start`, `POST /api/v1/bot/stop` (`GET /api/v1/logs`, the user's bot logs with the
audit log of their accounts, is routers/logs.py).

The default bot is the user's bot named `default` (as the default strategy behind
/api/v1/strategy is the one named `default`), else their only bot. No bot is 404; several and
none named `default` is 409 — name one `default`, or use /api/v1/bots/{id}.

`/state` is the bot (as `GET /api/v1/bots/{id}`) with its open positions (from the bot's own
state: a strategy bot's legs, an external bot's net quantities), its orders and counters. P&L
is not in it yet: execution's `/api/v1/positions` and `/api/v1/pnl` have it per account.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mandi.core.errors import NotFound, PreconditionFailed
from mandi.v1 import strategy_pb2
from services.gateway.routers.bots import (
    bot_json,
    order_json,
    start_bot,
    stop_bot,
)
from services.gateway.routers.strategy import Caller, Stubs

router = APIRouter(prefix="/api/v1", tags=["bots"])

DEFAULT_BOT = "default"


async def default_bot(stubs: Any, md: Any) -> strategy_pb2.BotState:
    bots = list((await stubs.strategy.ListBots(strategy_pb2.ListBotsRequest(),
                                               metadata=md)).bots)
    named = [b for b in bots if b.name == DEFAULT_BOT]
    if named:
        return named[0]
    if not bots:
        raise NotFound("you have no bot; create one with POST /api/v1/bots", field="bot")
    if len(bots) > 1:
        raise PreconditionFailed(
            f"you have {len(bots)} bots and none is named {DEFAULT_BOT!r}: name one "
            f"{DEFAULT_BOT!r} or use /api/v1/bots/{{id}}", field="bot")
    return bots[0]


def positions_json(state: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for symbol, legs in sorted((state.get("legs") or {}).items()):
        for tag, leg in sorted(legs.items()):
            out.append({"symbol": symbol, "tag": tag, "side": leg.get("side"),
                        "quantity": int(leg.get("qty", 0)),
                        "entry_price": int(leg.get("entry_price_paise", 0)) / 100})
    for symbol, qty in sorted((state.get("positions") or {}).items()):
        if int(qty):
            out.append({"symbol": symbol, "tag": "external",
                        "side": "BUY" if int(qty) > 0 else "SELL", "quantity": abs(int(qty)),
                        "entry_price": None})
    return out


@router.get("/state")
async def state(stubs: Stubs, md: Caller) -> dict[str, Any]:
    bot = await default_bot(stubs, md)
    return await state_payload(stubs, bot.deployment_id, md)


async def state_payload(stubs: Any, bot_id: str, md: Any) -> dict[str, Any]:
    """`GET /api/v1/state` of a bot (also /ws/state's snapshot and updates)."""
    resp = await stubs.strategy.GetBot(strategy_pb2.GetBotRequest(deployment_id=bot_id),
                                       metadata=md)
    b = bot_json(resp.state)
    positions = positions_json(b["state"])
    return {"success": True, "bot": b, "status": b["status"],
            "running": resp.state.running, "error": b["error"], "positions": positions,
            "orders": [order_json(o) for o in resp.orders],
            "metrics": {"bars": b["bars"], "orders": b["orders"],
                        "open_positions": len(positions)},
            "updated_at": b["updated_at"]}


@router.post("/bot/start")
async def start(stubs: Stubs, md: Caller) -> dict[str, Any]:
    bot = await default_bot(stubs, md)
    return await start_bot(bot.deployment_id, stubs, md)


@router.post("/bot/stop")
async def stop(stubs: Stubs, md: Caller) -> dict[str, Any]:
    bot = await default_bot(stubs, md)
    return await stop_bot(bot.deployment_id, stubs, md)
