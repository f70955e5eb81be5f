"""Trading REST (`/api/v1/...`), served by the execution service (seed 004's dashboard endpoints
are routers/dashboards.py).

Every call names its account with `account_id` (query or body); the gateway's guard has already
refused (404) an account the caller does not hold, and the execution service scopes every query
to it. The verified user and role go to execution as a signed principal (clients.py),
and the user is the `actor` of risk-limit changes and emergency stops. Listing accounts and an
emergency stop without an account cover only the caller's accounts (an admin: every account).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from mandi.core.errors import InvalidInput, PermissionDenied
from mandi.core.money import paise_to_rupees, rupees_to_paise
from mandi.platform.protoconv import EXCHANGE_NAMES, from_timestamp, has_timestamp, symbol_ref
from mandi.v1 import execution_pb2 as pb
from mandi.v1 import strategy_pb2
from services.gateway.auth.enforce import Me
from services.gateway.clients import Backends
from services.gateway.deps import backends
from services.gateway.schemas.trading import (
    AccountBody,
    EmergencyBody,
    GttBody,
    ModifyBody,
    OrderBody,
    RiskBody,
)

router = APIRouter(tags=["trading"])
Stubs = Annotated[Backends, Depends(backends)]
Account = Annotated[str, Query(min_length=1, max_length=32)]

SIDES = {"BUY": pb.SIDE_BUY, "SELL": pb.SIDE_SELL}
ORDER_TYPES = {"MARKET": pb.ORDER_TYPE_MARKET, "LIMIT": pb.ORDER_TYPE_LIMIT,
               "SL": pb.ORDER_TYPE_SL, "SL-M": pb.ORDER_TYPE_SL_M}
PRODUCTS = {"CNC": strategy_pb2.PRODUCT_CNC, "MIS": strategy_pb2.PRODUCT_MIS,
            "NRML": strategy_pb2.PRODUCT_NRML}
STATUS_NAMES = {v: k.removeprefix("ORDER_STATUS_") for k, v in pb.OrderStatus.items()}
STATUS_BY_NAME = {v: k for k, v in STATUS_NAMES.items()}
MAX_UPLOAD_BYTES = 8 << 20


def _choice(table: dict[str, int], value: str, field: str) -> int:
    try:
        return table[value.strip().upper()]
    except KeyError:
        raise InvalidInput(f"{field} must be one of {', '.join(table)}", field=field) from None


def _paise(value: Decimal | None, field: str) -> int:
    if value is None:
        return 0
    try:
        return rupees_to_paise(value)
    except ValueError:
        raise InvalidInput(f"{field} is not an amount", field=field) from None


def rupees(paise: int) -> float:
    return float(paise_to_rupees(paise))


def _ts(ts: Any) -> str | None:
    return from_timestamp(ts).isoformat() if has_timestamp(ts) else None


def order_json(o: pb.Order) -> dict[str, Any]:
    r = o.request
    return {
        "order_id": o.order_id, "status": STATUS_NAMES.get(o.status, "UNSPECIFIED"),
        "broker_order_id": o.broker_order_id or None, "account_id": o.account_id,
        "client_order_id": r.client_order_id, "exchange": EXCHANGE_NAMES.get(r.symbol.exchange),
        "symbol": r.symbol.tradingsymbol, "side": "BUY" if r.side == pb.SIDE_BUY else "SELL",
        "quantity": r.quantity,
        "order_type": next((k for k, v in ORDER_TYPES.items() if v == r.order_type), None),
        "price": rupees(r.price_paise), "trigger_price": rupees(r.trigger_price_paise),
        "product": next((k for k, v in PRODUCTS.items() if v == r.product), None),
        "filled_quantity": o.filled_quantity, "average_price": rupees(o.average_price_paise),
        "variety": r.variety, "validity": r.validity, "validity_ttl": r.validity_ttl,
        "disclosed_quantity": r.disclosed_quantity, "market_protection": r.market_protection,
        "status_message": o.status_message, "created_at": _ts(o.created_at),
        "updated_at": _ts(o.updated_at), "children": [order_json(c) for c in o.children],
    }


def gtt_json(g: pb.Gtt) -> dict[str, Any]:
    return {"gtt_id": g.gtt_id, "broker_gtt_id": g.broker_gtt_id or None,
            "exchange": EXCHANGE_NAMES.get(g.symbol.exchange), "symbol": g.symbol.tradingsymbol,
            "type": g.type, "status": g.status, "last_price": rupees(g.last_price_paise),
            "legs": [{"trigger_price": rupees(leg.trigger_price_paise),
                      "side": "BUY" if leg.side == pb.SIDE_BUY else "SELL",
                      "quantity": leg.quantity, "price": rupees(leg.price_paise)}
                     for leg in g.legs],
            "created_at": _ts(g.created_at)}


def limits_json(lim: pb.RiskLimits) -> dict[str, Any]:
    return {"max_order_quantity": lim.max_order_quantity,
            "max_order_value": rupees(lim.max_order_value_paise),
            "max_open_positions": lim.max_open_positions,
            "max_capital_per_position": rupees(lim.max_capital_per_position_paise),
            "daily_loss_limit": rupees(lim.daily_loss_limit_paise),
            "price_collar_pct": lim.price_collar_pct,
            "max_orders_per_second": lim.max_orders_per_second,
            "enforce_market_hours": lim.enforce_market_hours, "algo_id": lim.algo_id,
            "max_total_exposure": rupees(lim.max_total_exposure_paise),
            "square_off_on_loss_limit": lim.square_off_on_loss_limit}


# --- accounts and orders -------------------------------------------------------------------
@router.get("/api/v1/accounts")
async def list_accounts(stubs: Stubs, who: Me) -> dict[str, Any]:
    resp = await stubs.execution.ListAccounts(pb.ListAccountsRequest(), metadata=who.metadata())
    kinds = {pb.BROKER_KIND_KITE: "kite", pb.BROKER_KIND_PAPER: "paper"}
    return {"success": True, "accounts": [
        {"account_id": a.account_id, "broker": kinds.get(a.broker), "name": a.name,
         "limits": limits_json(a.limits)} for a in resp.accounts if who.holds(a.account_id)]}


def _client_order_id(body: OrderBody) -> str:
    """The idempotency key: client_order_id, else Kite's tag (Mandi sends the key to Kite as the
    tag, so the two must agree when both are given), else a fresh one."""
    if body.client_order_id and body.tag and body.client_order_id != body.tag:
        raise InvalidInput("tag and client_order_id differ; Mandi sends client_order_id to Kite "
                           "as the tag, so give one of them", field="tag")
    return body.client_order_id or body.tag or f"api{uuid.uuid4().hex[:17]}"


@router.post("/api/v1/orders", status_code=201)
async def place_order(body: OrderBody, stubs: Stubs) -> dict[str, Any]:
    req = pb.OrderRequest(
        client_order_id=_client_order_id(body),
        symbol=symbol_ref(body.exchange, body.symbol).symbol,
        side=_choice(SIDES, body.side, "side"), quantity=body.quantity,
        order_type=_choice(ORDER_TYPES, body.order_type, "order_type"),
        price_paise=_paise(body.price, "price"),
        trigger_price_paise=_paise(body.trigger_price, "trigger_price"),
        product=_choice(PRODUCTS, body.product, "product"), variety=body.variety.strip().lower(),
        validity=body.validity.strip().upper(), allow_duplicate=body.allow_duplicate,
        stop_loss_paise=_paise(body.stop_loss, "stop_loss"),
        target_paise=_paise(body.target, "target"), trailing_stop_pct=body.trailing_stop_pct,
        strategy_id=body.strategy_id, market_protection=body.market_protection,
        validity_ttl=body.validity_ttl, disclosed_quantity=body.disclosed_quantity)
    resp = await stubs.execution.PlaceOrder(pb.PlaceOrderRequest(account_id=body.account_id,
                                                                 order=req))
    return {"success": True, "order_id": resp.order.order_id,
            "status": STATUS_NAMES.get(resp.order.status), "duplicate": resp.duplicate,
            "order": order_json(resp.order)}


@router.get("/api/v1/orders")
async def list_orders(stubs: Stubs, account_id: Account, status: str = "",
                      page_size: int = Query(100, ge=1, le=500),
                      page_token: str = "") -> dict[str, Any]:
    code = 0
    if status:
        code = STATUS_BY_NAME.get(status.strip().upper(), -1)
        if code < 0:
            raise InvalidInput(f"unknown status {status!r}", field="status")
    resp = await stubs.execution.ListOrders(pb.ListOrdersRequest(
        account_id=account_id, status=code,
        page={"page_size": page_size, "page_token": page_token}))
    return {"success": True, "orders": [order_json(o) for o in resp.orders],
            "next_page_token": resp.page.next_page_token or None}


@router.get("/api/v1/orders/{order_id}")
async def get_order(order_id: str, stubs: Stubs, account_id: Account) -> dict[str, Any]:
    resp = await stubs.execution.GetOrder(pb.GetOrderRequest(account_id=account_id,
                                                             order_id=order_id))
    return {"success": True, "order": order_json(resp.order), "events": [
        {"status": STATUS_NAMES.get(e.status), "broker_status": e.broker_status,
         "filled_quantity": e.filled_quantity, "average_price": rupees(e.average_price_paise),
         "message": e.message, "ts": _ts(e.ts)} for e in resp.events]}


@router.delete("/api/v1/orders/{order_id}")
async def cancel_order(order_id: str, stubs: Stubs, account_id: Account) -> dict[str, Any]:
    resp = await stubs.execution.CancelOrder(pb.CancelOrderRequest(account_id=account_id,
                                                                   order_id=order_id))
    return {"success": True, "order_id": resp.order.order_id,
            "status": STATUS_NAMES.get(resp.order.status), "order": order_json(resp.order)}


@router.patch("/api/v1/orders/{order_id}")
async def modify_order(order_id: str, body: ModifyBody, stubs: Stubs) -> dict[str, Any]:
    if body.quantity is not None and body.quantity <= 0:
        raise InvalidInput("quantity must be positive", field="quantity")
    resp = await stubs.execution.ModifyOrder(pb.ModifyOrderRequest(
        account_id=body.account_id, order_id=order_id, quantity=body.quantity or 0,
        price_paise=_paise(body.price, "price"),
        trigger_price_paise=_paise(body.trigger_price, "trigger_price"),
        order_type=_choice(ORDER_TYPES, body.order_type, "order_type") if body.order_type
        else 0))
    return {"success": True, "order_id": resp.order.order_id,
            "status": STATUS_NAMES.get(resp.order.status), "order": order_json(resp.order)}


def position_json(p: pb.Position) -> dict[str, Any]:
    return {"exchange": EXCHANGE_NAMES.get(p.symbol.exchange), "symbol": p.symbol.tradingsymbol,
            "product": next((k for k, v in PRODUCTS.items() if v == p.product), None),
            "quantity": p.quantity, "average_price": rupees(p.average_price_paise),
            "last_price": rupees(p.last_price_paise), "realized_pnl": rupees(p.realized_pnl_paise),
            "unrealized_pnl": rupees(p.unrealized_pnl_paise),
            "stop_loss": rupees(p.stop_loss_paise), "target": rupees(p.target_paise),
            "trailing_stop": rupees(p.trailing_stop_paise), "opened_at": _ts(p.opened_at)}


@router.get("/api/v1/positions")
async def positions(stubs: Stubs, account_id: Account,
                    include_closed: bool = False) -> dict[str, Any]:
    resp = await stubs.execution.Positions(pb.PositionsRequest(
        account_id=account_id, include_closed=include_closed))
    return {"success": True, "positions": [position_json(p) for p in resp.positions]}


# --- GTT -----------------------------------------------------------------------------------
def _gtt_msg(body: GttBody, gtt_id: str = "") -> pb.Gtt:
    legs = [pb.GttLeg(trigger_price_paise=_paise(leg.trigger_price, "trigger_price"),
                      side=_choice(SIDES, leg.side, "side"), quantity=leg.quantity,
                      price_paise=_paise(leg.price, "price")) for leg in body.legs]
    symbol = symbol_ref(body.exchange, body.symbol).symbol if body.symbol else None
    return pb.Gtt(gtt_id=gtt_id, symbol=symbol, legs=legs,
                  product=_choice(PRODUCTS, body.product, "product"),
                  last_price_paise=_paise(body.last_price, "last_price"))


@router.get("/api/v1/gtt")
async def list_gtts(stubs: Stubs, account_id: Account) -> dict[str, Any]:
    resp = await stubs.execution.ListGtts(pb.ListGttsRequest(account_id=account_id))
    return {"success": True, "gtts": [gtt_json(g) for g in resp.gtts]}


@router.post("/api/v1/gtt", status_code=201)
async def create_gtt(body: GttBody, stubs: Stubs) -> dict[str, Any]:
    if not body.symbol:
        raise InvalidInput("symbol is required", field="symbol")
    resp = await stubs.execution.CreateGtt(pb.CreateGttRequest(account_id=body.account_id,
                                                               gtt=_gtt_msg(body)))
    return {"success": True, "gtt": gtt_json(resp.gtt)}


@router.put("/api/v1/gtt/{gtt_id}")
async def modify_gtt(gtt_id: str, body: GttBody, stubs: Stubs) -> dict[str, Any]:
    resp = await stubs.execution.ModifyGtt(pb.ModifyGttRequest(account_id=body.account_id,
                                                               gtt=_gtt_msg(body, gtt_id)))
    return {"success": True, "gtt": gtt_json(resp.gtt)}


@router.delete("/api/v1/gtt/{gtt_id}")
async def delete_gtt(gtt_id: str, stubs: Stubs, account_id: Account) -> dict[str, Any]:
    resp = await stubs.execution.DeleteGtt(pb.DeleteGttRequest(account_id=account_id,
                                                               gtt_id=gtt_id))
    return {"success": True, "gtt": gtt_json(resp.gtt)}


# --- risk, emergency stop, reconciliation ---------------------------------------------------
@router.get("/api/v1/risk")
async def get_risk(stubs: Stubs, account_id: Account) -> dict[str, Any]:
    resp = await stubs.execution.GetRiskLimits(pb.GetRiskLimitsRequest(account_id=account_id))
    return {"success": True, "account_id": account_id, "limits": limits_json(resp.limits)}


@router.put("/api/v1/risk")
async def set_risk(body: RiskBody, stubs: Stubs, who: Me) -> dict[str, Any]:
    lim = pb.RiskLimits(
        max_order_quantity=body.max_order_quantity or 0,
        max_order_value_paise=_paise(body.max_order_value, "max_order_value"),
        max_open_positions=body.max_open_positions or 0,
        max_capital_per_position_paise=_paise(body.max_capital_per_position,
                                               "max_capital_per_position"),
        daily_loss_limit_paise=_paise(body.daily_loss_limit, "daily_loss_limit"),
        price_collar_pct=body.price_collar_pct or 0.0,
        max_orders_per_second=body.max_orders_per_second or 0,
        max_total_exposure_paise=_paise(body.max_total_exposure, "max_total_exposure"))
    current = await stubs.execution.GetRiskLimits(
        pb.GetRiskLimitsRequest(account_id=body.account_id))
    lim.enforce_market_hours = (current.limits.enforce_market_hours
                                if body.enforce_market_hours is None
                                else body.enforce_market_hours)
    lim.algo_id = current.limits.algo_id if body.algo_id is None else body.algo_id
    lim.square_off_on_loss_limit = (current.limits.square_off_on_loss_limit
                                    if body.square_off_on_loss_limit is None
                                    else body.square_off_on_loss_limit)
    resp = await stubs.execution.SetRiskLimits(
        pb.SetRiskLimitsRequest(account_id=body.account_id, limits=lim, actor=who.username),
        metadata=who.metadata())
    return {"success": True, "account_id": body.account_id, "limits": limits_json(resp.limits)}


def _stopped(account_id: str, r: pb.EmergencyStopResponse) -> dict[str, Any]:
    return {"account_id": account_id, "orders_cancelled": r.orders_cancelled,
            "gtts_deleted": r.gtts_deleted, "positions_squared_off": r.positions_squared_off,
            "blocked": r.blocked, "failures": list(r.failures)}


@router.post("/api/v1/bot/emergency_stop")
async def emergency_stop(stubs: Stubs, who: Me,
                         body: EmergencyBody | None = None) -> dict[str, Any]:
    """Stop one account, or — called with no account, as the seed's bot does — every account the
    caller holds. The reset is for admins."""
    body = body or EmergencyBody()
    md = who.metadata()
    if body.reset:
        if not who.is_admin:
            raise PermissionDenied("only an admin may reset an emergency stop", field="reset")
        if not body.account_id:
            raise InvalidInput("a reset names its account_id", field="account_id")
        resp = await stubs.execution.ResetEmergencyStop(
            pb.ResetEmergencyStopRequest(account_id=body.account_id, actor=who.username),
            metadata=md)
        return {"success": True, "blocked": resp.blocked}
    if body.account_id:
        r = await stubs.execution.EmergencyStop(pb.EmergencyStopRequest(
            account_id=body.account_id, reason=body.reason, actor=who.username), timeout=120,
            metadata=md)
        return {"success": True, **_stopped(body.account_id, r),
                "accounts": [_stopped(body.account_id, r)]}
    out = []
    accounts = (await stubs.execution.ListAccounts(pb.ListAccountsRequest(),
                                                   metadata=md)).accounts
    for a in (a for a in accounts if who.holds(a.account_id)):
        try:  # one account failing must not leave the others running
            r = await stubs.execution.EmergencyStop(pb.EmergencyStopRequest(
                account_id=a.account_id, reason=body.reason, actor=who.username), timeout=120,
                metadata=md)
        except grpc.aio.AioRpcError as exc:
            out.append({"account_id": a.account_id, "orders_cancelled": 0, "gtts_deleted": 0,
                        "positions_squared_off": 0, "blocked": False, "failures": [],
                        "error": exc.details() or exc.code().name})
            continue
        out.append(_stopped(a.account_id, r))
    failed = [a["account_id"] for a in out if "error" in a]
    extra = {"error": f"emergency stop failed for {', '.join(failed)}; see accounts",
             "error_type": "api"} if failed else {}
    return {"success": not failed, **extra, "accounts": out,
            **{k: sum(a[k] for a in out) for k in ("orders_cancelled", "gtts_deleted",
                                                    "positions_squared_off")},
            "blocked": bool(out) and all(a["blocked"] for a in out),
            "failures": [f"{a['account_id']}: {f}" for a in out for f in a["failures"]]}


@router.post("/api/v1/reconcile")
async def reconcile(body: AccountBody, stubs: Stubs) -> dict[str, Any]:
    r = await stubs.execution.Reconcile(pb.ReconcileRequest(account_id=body.account_id),
                                        timeout=120)
    return {"success": True, "differences": [
        {"kind": d.kind, "key": d.key, "action": d.action, "detail": d.detail}
        for d in r.differences]}


@router.post("/api/v1/pnl/import")
async def import_pnl(stubs: Stubs, account_id: Annotated[str, Form()],
                     file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput("file too large", field="file")
    fmt = "csv" if (file.filename or "").lower().endswith(".csv") else "json"
    r = await stubs.execution.ImportPnl(pb.ImportPnlRequest(account_id=account_id, data=data,
                                                            format=fmt))
    return {"success": True, "imported": r.records, "duplicates": r.duplicates,
            "rejected": r.rejected}
