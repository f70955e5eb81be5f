"""Protobuf ⇄ domain conversions for the execution service (rows are asyncpg Records)."""

from __future__ import annotations

import json
from typing import Any

from mandi.core.errors import InvalidInput
from mandi.platform.protoconv import exchange_enum, exchange_name, to_timestamp
from mandi.v1 import common_pb2, execution_pb2, strategy_pb2
from services.execution.accounts import RiskLimits
from services.execution.orders import OrderSpec

SIDES = {execution_pb2.SIDE_BUY: "BUY", execution_pb2.SIDE_SELL: "SELL"}
SIDE_ENUM = {v: k for k, v in SIDES.items()}
ORDER_TYPES = {execution_pb2.ORDER_TYPE_MARKET: "MARKET", execution_pb2.ORDER_TYPE_LIMIT: "LIMIT",
               execution_pb2.ORDER_TYPE_SL: "SL", execution_pb2.ORDER_TYPE_SL_M: "SL-M"}
ORDER_TYPE_ENUM = {v: k for k, v in ORDER_TYPES.items()}
PRODUCTS = {strategy_pb2.PRODUCT_CNC: "CNC", strategy_pb2.PRODUCT_MIS: "MIS",
            strategy_pb2.PRODUCT_NRML: "NRML"}
PRODUCT_ENUM = {v: k for k, v in PRODUCTS.items()}
STATUS_ENUM = {name.removeprefix("ORDER_STATUS_"): value
               for name, value in execution_pb2.OrderStatus.items()}
BROKER_ENUM = {"kite": execution_pb2.BROKER_KIND_KITE, "paper": execution_pb2.BROKER_KIND_PAPER}


def _enum(table: dict[int, str], value: int, field: str) -> str:
    try:
        return table[value]
    except KeyError:
        raise InvalidInput(f"{field} is required", field=field) from None


def spec_from_proto(o: execution_pb2.OrderRequest) -> OrderSpec:
    return OrderSpec(
        client_order_id=o.client_order_id.strip(),
        exchange=exchange_name(o.symbol.exchange, field="symbol.exchange"),
        tradingsymbol=o.symbol.tradingsymbol.strip().upper(),
        side=_enum(SIDES, o.side, "side"), quantity=o.quantity,
        order_type=_enum(ORDER_TYPES, o.order_type, "order_type"),
        product=PRODUCTS.get(o.product, "CNC"), price_paise=o.price_paise,
        trigger_price_paise=o.trigger_price_paise, variety=o.variety or "regular",
        validity=o.validity or "DAY", allow_duplicate=o.allow_duplicate,
        stop_loss_paise=o.stop_loss_paise, target_paise=o.target_paise,
        trailing_stop_pct=o.trailing_stop_pct, strategy_id=o.strategy_id,
        market_protection=o.market_protection, validity_ttl=o.validity_ttl,
        disclosed_quantity=o.disclosed_quantity, stop_loss_pct=o.stop_loss_pct,
        target_pct=o.target_pct)


def symbol(exchange: str, tradingsymbol: str) -> common_pb2.SymbolRef:
    try:
        exch = exchange_enum(exchange)
    except InvalidInput:
        exch = 0
    return common_pb2.SymbolRef(exchange=exch, tradingsymbol=tradingsymbol)


def order_to_proto(row: Any, children: list[Any] | None = None) -> execution_pb2.Order:
    req = execution_pb2.OrderRequest(
        client_order_id=row["client_order_id"], symbol=symbol(row["exchange"],
                                                              row["tradingsymbol"]),
        side=SIDE_ENUM[row["side"]], quantity=row["quantity"],
        order_type=ORDER_TYPE_ENUM[row["order_type"]], price_paise=row["price_paise"],
        trigger_price_paise=row["trigger_price_paise"],
        product=PRODUCT_ENUM.get(row["product"], 0), variety=row["variety"],
        validity=row["validity"], stop_loss_paise=row["stop_loss_paise"],
        target_paise=row["target_paise"], trailing_stop_pct=row["trailing_stop_pct"],
        strategy_id=row["strategy_id"], market_protection=row["market_protection"],
        validity_ttl=row["validity_ttl"], disclosed_quantity=row["disclosed_quantity"],
        stop_loss_pct=row["stop_loss_pct"], target_pct=row["target_pct"])
    return execution_pb2.Order(
        order_id=row["order_id"], broker_order_id=row["broker_order_id"] or "",
        account_id=row["account_id"], request=req, status=STATUS_ENUM[row["status"]],
        status_message=row["status_message"], filled_quantity=row["filled_quantity"],
        average_price_paise=row["average_price_paise"],
        created_at=to_timestamp(row["created_at"]), updated_at=to_timestamp(row["updated_at"]),
        filled_at=to_timestamp(row["filled_at"]) if row.get("filled_at") else None,
        children=[order_to_proto(c) for c in children or []])


def event_to_proto(row: Any) -> execution_pb2.OrderEvent:
    return execution_pb2.OrderEvent(
        order_id=row["order_id"], account_id=row["account_id"],
        status=STATUS_ENUM.get(row["status"], 0), broker_status=row["broker_status"],
        filled_quantity=row["filled_quantity"], average_price_paise=row["average_price_paise"],
        message=row["message"], ts=to_timestamp(row["ts"]) if row.get("ts") else None,
        event_id=row.get("id") or 0)


def position_to_proto(row: Any, gtt: Any | None) -> execution_pb2.Position:
    stop = target = trail = 0
    if gtt is not None:
        for leg in json.loads(gtt["legs"]):
            if leg.get("role") == "sl":
                stop = leg["trigger_price_paise"]
            elif leg.get("role") == "tp":
                target = leg["trigger_price_paise"]
        trail = stop if gtt["trailing_stop_pct"] else 0
    qty, last = row["quantity"], row["last_price_paise"]
    unreal = (qty * last - (1 if qty > 0 else -1) * row["cost_paise"]) if qty and last else 0
    return execution_pb2.Position(
        symbol=symbol(row["exchange"], row["tradingsymbol"]),
        product=PRODUCT_ENUM.get(row["product"], 0), quantity=qty,
        average_price_paise=row["average_price_paise"], last_price_paise=last,
        realized_pnl_paise=row["realized_pnl_paise"], unrealized_pnl_paise=unreal,
        stop_loss_paise=stop, target_paise=target, trailing_stop_paise=trail,
        opened_at=to_timestamp(row["opened_at"]))


def trade_to_proto(row: Any) -> execution_pb2.Trade:
    return execution_pb2.Trade(
        trade_id=row["trade_id"], account_id=row["account_id"],
        symbol=symbol(row["exchange"], row["tradingsymbol"]), segment=row["segment"],
        side=SIDE_ENUM.get(row["side"], 0), quantity=row["quantity"],
        entry_price_paise=row["entry_price_paise"], exit_price_paise=row["exit_price_paise"],
        entry_ts=to_timestamp(row["entry_ts"]), exit_ts=to_timestamp(row["exit_ts"]),
        realized_pnl_paise=row["realized_pnl_paise"], charges_paise=row["charges_paise"],
        net_pnl_paise=row["net_pnl_paise"], exit_reason=row["exit_reason"],
        strategy_id=row["strategy_id"])


def gtt_to_proto(row: Any) -> execution_pb2.Gtt:
    legs = [execution_pb2.GttLeg(trigger_price_paise=leg["trigger_price_paise"],
                                 side=SIDE_ENUM[leg["side"]], quantity=leg["quantity"],
                                 price_paise=leg["price_paise"])
            for leg in json.loads(row["legs"])]
    return execution_pb2.Gtt(
        gtt_id=row["gtt_id"], broker_gtt_id=row["broker_gtt_id"] or "",
        account_id=row["account_id"], symbol=symbol(row["exchange"], row["tradingsymbol"]),
        type=row["type"], legs=legs, status=row["status"],
        last_price_paise=row["last_price_paise"], created_at=to_timestamp(row["created_at"]),
        product=PRODUCT_ENUM.get(row["product"], 0),
        entry_order_id=row["entry_order_id"] or "", exit_order_id=row.get("exit_order_id") or "",
        exit_leg=row.get("exit_leg") or "",
        exit_filled_quantity=row.get("exit_filled_quantity") or 0,
        exit_average_price_paise=row.get("exit_average_price_paise") or 0)


def legs_from_proto(g: execution_pb2.Gtt) -> list[dict[str, Any]]:
    return [{"trigger_price_paise": leg.trigger_price_paise,
             "side": _enum(SIDES, leg.side, "legs.side"), "quantity": leg.quantity,
             "price_paise": leg.price_paise} for leg in g.legs]


def limits_to_proto(lim: RiskLimits) -> execution_pb2.RiskLimits:
    return execution_pb2.RiskLimits(**lim.__dict__)


def limits_from_proto(p: execution_pb2.RiskLimits) -> RiskLimits:
    return RiskLimits(
        max_order_quantity=p.max_order_quantity, max_order_value_paise=p.max_order_value_paise,
        max_open_positions=p.max_open_positions,
        max_capital_per_position_paise=p.max_capital_per_position_paise,
        daily_loss_limit_paise=p.daily_loss_limit_paise, price_collar_pct=p.price_collar_pct,
        max_orders_per_second=p.max_orders_per_second,
        enforce_market_hours=p.enforce_market_hours, algo_id=p.algo_id,
        max_total_exposure_paise=p.max_total_exposure_paise,
        square_off_on_loss_limit=p.square_off_on_loss_limit)
