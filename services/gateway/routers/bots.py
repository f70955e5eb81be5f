"""`/api/v1/bots`: thin REST over the strategy service's bot RPCs (create, list, get, delete,
start, stop, pause). The body of a create is the backtest run body (`strategy`, `symbols`,
`interval`, `sizing`, `costs`, `capital`) plus `name`, `account_id`, `mode`, `product` and an
optional `schedule` (`{"start", "stop", "days"}`, replaced or removed by PUT /{id}/schedule);
`strategy` may be `{"id": "<saved strategy>"}`. Money is rupees at this edge, paise behind it.
Every order a bot sends carries the bot's id (as the order's `strategy_id`) and a
`client_order_id` of the form `<bot>:<bar epoch seconds>:<leg>`.

Logs and signals: `GET /{id}/logs` (newest first, `level`, `since`, `before`, `limit`), `GET
/{id}/signals`. An external bot (`"strategy": {"type": "external"}`) answers its key once at
creation (`signal_key`; `POST /{id}/key` rotates it) and takes `POST /{id}/signals` with that
key in `X-Bot-Key` (rules in services/strategy/bot_external.py). `GET /{id}/parity?date=`
answers the parity report of the bot's day (services/strategy/parity.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import date as Date
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from google.protobuf import json_format

from mandi.core.errors import InvalidInput
from mandi.platform.protoconv import EXCHANGE_NAMES, parse_ist, to_timestamp
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
from services.gateway.schemas.bot_signals import SignalBody
from services.gateway.schemas.strategy import BotBody, BotScheduleBody, BotScheduleUpdate

# paging parameters: what the services' int64/int32 fields hold, refused (400) beyond it
Before = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
Limit = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
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


NS_KEYS = ("first_live_ts", "first_bar", "entry_ts", "bar_ts", "ts")  # epoch ns in a bot's state


def _iso_ns(v: Any) -> Any:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 10**15:
        return datetime.fromtimestamp(int(v) // 10**9, UTC).isoformat()
    return v


def state_json(v: Any, key: str = "") -> Any:
    """A bot's saved state for people: the protobuf Struct carries every number as a double,
    so whole numbers come back as ints, and the instants the runner keeps in epoch ns (first
    live bar, last bar per symbol, legs' entry times) as ISO-8601 UTC."""
    if isinstance(v, dict):
        if key == "last_bar":
            return {k: _iso_ns(t) for k, t in v.items()}
        return {k: state_json(x, k) for k, x in v.items()}
    if isinstance(v, list):
        return [state_json(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return _iso_ns(v) if key in NS_KEYS else v


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
        "state": state_json(json_format.MessageToDict(b.state)), "updated_at": _ts(b.updated_at),
        "schedule": {"start": b.schedule.start, "stop": b.schedule.stop,
                     "days": b.schedule.days} if b.HasField("schedule") else None,
    }


def order_json(o: strategy_pb2.BotOrder) -> dict[str, Any]:
    return {"client_order_id": o.client_order_id, "bar_time": _ts(o.bar_ts),
            "symbol": _symbol_text(o.symbol), "side": o.side, "quantity": o.quantity,
            "tag": o.tag, "reason": o.reason, "order_id": o.order_id or None,
            "status": o.status or None}


def _schedule(body: BotScheduleBody) -> strategy_pb2.BotSchedule:
    days = ",".join(body.days) if isinstance(body.days, list) else body.days
    return strategy_pb2.BotSchedule(start=body.start or "", stop=body.stop or "",
                                    days=days or "")


@router.post("")
async def create_bot(body: BotBody, stubs: Stubs, md: Caller) -> JSONResponse:
    if body.strategy.type == "external" and body.sizing.qty is None:
        body.sizing.qty = 1  # unused: an external bot's signals carry their own size
    spec = base_spec(body)
    spec.costs.product = PRODUCTS[body.product]
    req = strategy_pb2.DeployRequest(spec=spec, name=body.name or "",
                                     account_id=body.account_id, mode=MODES[body.mode])
    if body.schedule is not None:
        req.schedule.CopyFrom(_schedule(body.schedule))
    resp = await stubs.strategy.Deploy(req, metadata=md)
    out = {"success": True, **bot_json(resp.state)}
    if resp.signal_key:  # an external bot's key: shown this once
        out["signal_key"] = resp.signal_key
    return JSONResponse(out, status_code=201)


@router.get("")
async def list_bots(stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.ListBots(strategy_pb2.ListBotsRequest(), metadata=md)
    return {"success": True, "bots": [bot_json(b) for b in resp.bots]}


@router.get("/{bot_id}")
async def get_bot(bot_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    resp = await stubs.strategy.GetBot(strategy_pb2.GetBotRequest(deployment_id=bot_id),
                                       metadata=md)
    return {"success": True, **bot_json(resp.state),
            "order_list": [order_json(o) for o in resp.orders]}


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


# --- logs, signals, external signals -------------------------------------------------------------
KEY_HEADER = "X-Bot-Key"


def log_json(r: strategy_pb2.BotLog) -> dict[str, Any]:
    return {"id": r.id, "bot_id": r.deployment_id, "ts": _ts(r.ts), "level": r.level,
            "event": r.event, "message": r.message,
            "fields": json_format.MessageToDict(r.fields)}


def signal_json(s: strategy_pb2.Signal) -> dict[str, Any]:
    return {"seq": s.seq, "id": s.id, "bot_id": s.deployment_id, "source": s.source,
            "ts": _ts(s.ts), "symbol": _symbol_text(s.symbol), "side": s.action,
            "quantity": s.quantity, "target_weight": s.target_weight or None,
            "price": _rupees(s.price_paise) if s.price_paise else None, "reason": s.reason,
            "outcome": s.outcome, "detail": s.detail or None,
            "client_order_id": s.client_order_id or None, "order_id": s.order_id or None,
            "latency_ms": s.latency_us / 1000 if s.latency_us else None,
            "created_at": _ts(s.created_at)}


def logs_request(bot_id: str, level: str | None, since: str | None, before: int | None,
                 limit: int | None) -> strategy_pb2.ListBotLogsRequest:
    req = strategy_pb2.ListBotLogsRequest(deployment_id=bot_id, level=level or "",
                                          before_id=before or 0, limit=limit or 0)
    if since:
        req.since.CopyFrom(to_timestamp(parse_ist(since, field="since")))
    return req


def logs_json(resp: strategy_pb2.ListBotLogsResponse) -> dict[str, Any]:
    return {"success": True, "logs": [log_json(r) for r in resp.logs],
            "next_before": resp.next_before_id or None}


@router.get("/{bot_id}/logs")
async def bot_logs(bot_id: str, stubs: Stubs, md: Caller, level: str | None = None,
                   since: str | None = None, before: Before = None,
                   limit: Limit = None) -> dict[str, Any]:
    """Newest first; `level` is the lowest wanted, `since` an IST time or ISO 8601, `before`
    the `next_before` of the previous page."""
    resp = await stubs.strategy.ListBotLogs(logs_request(bot_id, level, since, before, limit),
                                            metadata=md)
    return logs_json(resp)


@router.get("/{bot_id}/signals")
async def bot_signals(bot_id: str, stubs: Stubs, md: Caller,
                      before: Before = None, limit: Limit = None) -> dict[str, Any]:
    resp = await stubs.strategy.ListSignals(strategy_pb2.ListSignalsRequest(
        deployment_id=bot_id, before_seq=before or 0, limit=limit or 0), metadata=md)
    return {"success": True, "signals": [signal_json(s) for s in resp.signals],
            "next_before": resp.next_before_seq or None}


@router.post("/{bot_id}/signals")
async def post_signal(bot_id: str, body: SignalBody, stubs: Stubs,
                      key: Annotated[str | None, Header(alias=KEY_HEADER)] = None
                      ) -> dict[str, Any]:
    """A signal for an external bot, authenticated by the bot's key (header X-Bot-Key), not by
    the user: the same `id` again answers the same signal (`duplicate: true`), never a second
    order."""
    req = strategy_pb2.PostSignalRequest(
        deployment_id=bot_id, key=key or "", id=body.id, symbol=body.symbol,
        side=body.side.upper(),
        target_weight="" if body.target_weight is None else str(body.target_weight))
    if body.quantity is not None:
        req.quantity = body.quantity
    if isinstance(body.ts, str):
        req.ts.CopyFrom(to_timestamp(parse_ist(body.ts, field="ts")))
    else:
        req.ts.CopyFrom(to_timestamp(datetime.fromtimestamp(body.ts, UTC)))
    resp = await stubs.strategy.PostSignal(req)
    return {"success": True, "duplicate": resp.duplicate, "signal": signal_json(resp.signal)}


@router.post("/{bot_id}/key")
async def rotate_key(bot_id: str, stubs: Stubs, md: Caller) -> dict[str, Any]:
    """A new key for an external bot (the old one stops working); shown this once."""
    resp = await stubs.strategy.RotateBotKey(strategy_pb2.RotateBotKeyRequest(
        deployment_id=bot_id), metadata=md)
    return {"success": True, "id": bot_id, "signal_key": resp.signal_key}
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
        day = Date.fromisoformat(date)
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
