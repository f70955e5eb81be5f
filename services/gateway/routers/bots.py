"""`/api/v1/bots`: thin REST over the strategy service's bot RPCs (create, list, get, delete,
start, stop, pause). The body of a create is the backtest run body (`strategy`, `symbols`,
`interval`, `sizing`, `costs`, `capital`) plus `name`, `account_id`, `mode`, `product` and an
optional `schedule` (`{"start", "stop", "days"}`, replaced or removed by PUT /{id}/schedule);
`strategy` may be `{"id": "<saved strategy>"}`. Money is rupees at this edge, paise behind it.
Every order a bot sends carries the bot's id (as the order's `strategy_id`) and a
`client_order_id` of the form `<bot>:<bar epoch seconds>:<leg>`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from google.protobuf import json_format

from mandi.platform.protoconv import EXCHANGE_NAMES
from mandi.v1 import strategy_pb2
from services.gateway.routers.strategy import (
    PRODUCTS,
    Caller,
    Stubs,
    _rupees,
    _ts,
    base_spec,
    strategy_json,
)
from services.gateway.schemas.strategy import BotBody, BotScheduleBody, BotScheduleUpdate

router = APIRouter(prefix="/api/v1/bots", tags=["bots"])

MODES = {"paper": strategy_pb2.RUN_MODE_PAPER, "live": strategy_pb2.RUN_MODE_LIVE}
MODE_NAMES = {v: k for k, v in MODES.items()}
STATUS_NAMES = {strategy_pb2.BOT_STATUS_CREATED: "created",
                strategy_pb2.BOT_STATUS_RUNNING: "running",
                strategy_pb2.BOT_STATUS_PAUSED: "paused",
                strategy_pb2.BOT_STATUS_STOPPED: "stopped",
                strategy_pb2.BOT_STATUS_ERROR: "error"}


def _symbol_text(ref: Any) -> str:
    return f"{EXCHANGE_NAMES.get(ref.exchange, '?')}:{ref.tradingsymbol}"


def bot_json(b: strategy_pb2.BotState) -> dict[str, Any]:
    spec = b.spec
    return {
        "id": b.deployment_id, "name": b.name, "status": STATUS_NAMES.get(b.status, "unknown"),
        "mode": MODE_NAMES.get(b.mode, "unknown"), "account_id": b.account_id,
        "error": b.error or None, "strategy": strategy_json(spec.strategy),
        "symbols": [_symbol_text(s) for s in spec.symbols], "interval": spec.interval,
        "capital": _rupees(spec.capital_paise),
        "product": strategy_pb2.Product.Name(spec.costs.product).removeprefix("PRODUCT_"),
        "bars": b.bars, "orders": b.orders,
        "state": json_format.MessageToDict(b.state), "updated_at": _ts(b.updated_at),
        "schedule": {"start": b.schedule.start, "stop": b.schedule.stop,
                     "days": b.schedule.days} if b.HasField("schedule") else None,
    }


def _schedule(body: BotScheduleBody) -> strategy_pb2.BotSchedule:
    days = ",".join(body.days) if isinstance(body.days, list) else body.days
    return strategy_pb2.BotSchedule(start=body.start or "", stop=body.stop or "",
                                    days=days or "")


@router.post("")
async def create_bot(body: BotBody, stubs: Stubs, md: Caller) -> JSONResponse:
    spec = base_spec(body)
    spec.costs.product = PRODUCTS[body.product]
    req = strategy_pb2.DeployRequest(spec=spec, name=body.name or "",
                                     account_id=body.account_id, mode=MODES[body.mode])
    if body.schedule is not None:
        req.schedule.CopyFrom(_schedule(body.schedule))
    resp = await stubs.strategy.Deploy(req, metadata=md)
    return JSONResponse({"success": True, **bot_json(resp.state)}, status_code=201)


@router.get("")
async def list_bots(stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.ListBots(strategy_pb2.ListBotsRequest(), metadata=md)
    return {"success": True, "bots": [bot_json(b) for b in resp.bots]}


@router.get("/{bot_id}")
async def get_bot(bot_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.GetBot(strategy_pb2.GetBotRequest(deployment_id=bot_id),
                                       metadata=md)
    return {"success": True, **bot_json(resp.state), "order_list": [{
        "client_order_id": o.client_order_id, "bar_time": _ts(o.bar_ts),
        "symbol": _symbol_text(o.symbol), "side": o.side, "quantity": o.quantity,
        "tag": o.tag, "reason": o.reason, "order_id": o.order_id or None,
        "status": o.status or None} for o in resp.orders]}


@router.delete("/{bot_id}")
async def delete_bot(bot_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    await stubs.strategy.DeleteBot(strategy_pb2.DeleteBotRequest(deployment_id=bot_id),
                                   metadata=md)
    return {"success": True, "id": bot_id}


@router.put("/{bot_id}/schedule")
async def set_bot_schedule(bot_id: str, body: BotScheduleUpdate, stubs: Stubs,
                           md: Caller) -> dict[str, Any]:
    req = strategy_pb2.SetBotScheduleRequest(deployment_id=bot_id)
    if body.schedule is not None:
        req.schedule.CopyFrom(_schedule(body.schedule))
    resp = await stubs.strategy.SetBotSchedule(req, metadata=md)
    return {"success": True, **bot_json(resp.state)}


@router.post("/{bot_id}/start")
async def start_bot(bot_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.Start(strategy_pb2.StartRequest(deployment_id=bot_id),
                                      metadata=md)
    return {"success": True, **bot_json(resp.state)}


@router.post("/{bot_id}/stop")
async def stop_bot(bot_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.Stop(strategy_pb2.StopRequest(deployment_id=bot_id),
                                     metadata=md)
    return {"success": True, **bot_json(resp.state)}


@router.post("/{bot_id}/pause")
async def pause_bot(bot_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.Pause(strategy_pb2.PauseRequest(deployment_id=bot_id),
                                      metadata=md)
    return {"success": True, **bot_json(resp.state)}
