"""`/api/v1/bots`: thin REST over the strategy service's bot RPCs (create, list, get, delete,
start, stop, pause). The body of a create is the backtest run body (`strategy`, `symbols`,
`interval`, `sizing`, `costs`, `capital`) plus `name`, `account_id`, `mode` and `product`;
`strategy` may be `{"id": "<saved strategy>"}`. Money is rupees at this edge, paise behind it.
Every order a bot sends carries the bot's id (as the order's `strategy_id`) and a
`client_order_id` of the form `<bot>:<bar epoch seconds>:<leg>`. `GET /{id}/parity?date=`
answers the parity report of the bot's day (services/strategy/parity.py).
"""

from __future__ import annotations

import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from google.protobuf import json_format

from mandi.core.errors import InvalidInput
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
from services.gateway.schemas.strategy import BotBody

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
    }


@router.post("")
async def create_bot(body: BotBody, stubs: Stubs, md: Caller) -> JSONResponse:
    if body.schedule is not None:
        raise InvalidInput("bot schedules are not supported yet; start and stop bots with "
                           "/start and /stop", field="schedule")
    spec = base_spec(body)
    spec.costs.product = PRODUCTS[body.product]
    resp = await stubs.strategy.Deploy(strategy_pb2.DeployRequest(
        spec=spec, name=body.name or "", account_id=body.account_id, mode=MODES[body.mode]),
        metadata=md)
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


# --- parity (branch parity): a bot's day against the backtest of that day ---------------------
def _parity_order(o: Any) -> dict[str, Any]:
    return {"side": o.side, "quantity": o.quantity,
            "price": _rupees(o.price_paise) if o.price_paise else None,
            "price_paise": o.price_paise or None, "bar_time": _ts(o.bar_ts),
            "reason": o.reason, "status": o.status, "filled_quantity": o.filled_quantity,
            "sent_time": _ts(o.sent_ts)}


@router.get("/{bot_id}/parity")
async def bot_parity(bot_id: str, stubs: Stubs, md: Caller, date: str = "",
                     refresh: bool = False) -> dict[str, Any]:
    """The parity report of the bot's IST trading day `date` (YYYY-MM-DD): every difference
    between what the bot did and the backtest of that day, explained or counted unexplained."""
    try:
        day = datetime.date.fromisoformat(date)
    except ValueError:
        raise InvalidInput(f"date must be YYYY-MM-DD, got {date!r}", field="date") from None
    r = await stubs.strategy.GetParity(strategy_pb2.GetParityRequest(
        deployment_id=bot_id, date=day.isoformat(), refresh=refresh), metadata=md)
    return {
        "success": True, "id": r.deployment_id, "date": r.date, "unexplained": r.unexplained,
        "differences": [{
            "kind": d.kind, "category": d.category, "explained": d.explained,
            "symbol": d.symbol, "tag": d.tag, "bar_time": _ts(d.bar_ts), "detail": d.detail,
            "amount": _rupees(d.amount_paise), "amount_paise": d.amount_paise,
            "client_order_id": d.client_order_id or None,
            "backtest": _parity_order(d.backtest) if d.HasField("backtest") else None,
            "live": _parity_order(d.live) if d.HasField("live") else None,
        } for d in r.differences],
        "orders": {"backtest": r.backtest_orders, "live": r.live_orders, "matched": r.matched},
        "pnl": {"backtest_paise": r.pnl_backtest_paise, "live_paise": r.pnl_live_paise,
                "difference_paise": r.pnl_difference_paise,
                "unexplained_paise": r.pnl_unexplained_paise,
                "backtest": _rupees(r.pnl_backtest_paise), "live": _rupees(r.pnl_live_paise)},
        "warmup": {"bot_from": _ts(r.warmup_bot_from),
                   "backtest_from": _ts(r.warmup_backtest_from)},
        "candles": [{"symbol": c.symbol, "stored": c.stored,
                     "live": c.live if c.live_known else None,
                     "missing": c.missing if c.live_known else None,
                     "differing": c.differing if c.live_known else None} for c in r.candles],
        "computed_at": _ts(r.computed_at), "stored": r.stored,
    }
