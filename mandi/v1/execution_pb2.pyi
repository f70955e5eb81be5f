import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mandi.v1 import common_pb2 as _common_pb2
from mandi.v1 import strategy_pb2 as _strategy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Side(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIDE_UNSPECIFIED: _ClassVar[Side]
    SIDE_BUY: _ClassVar[Side]
    SIDE_SELL: _ClassVar[Side]

class OrderType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_TYPE_UNSPECIFIED: _ClassVar[OrderType]
    ORDER_TYPE_MARKET: _ClassVar[OrderType]
    ORDER_TYPE_LIMIT: _ClassVar[OrderType]
    ORDER_TYPE_SL: _ClassVar[OrderType]
    ORDER_TYPE_SL_M: _ClassVar[OrderType]

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    ORDER_STATUS_PENDING: _ClassVar[OrderStatus]
    ORDER_STATUS_OPEN: _ClassVar[OrderStatus]
    ORDER_STATUS_TRIGGER_PENDING: _ClassVar[OrderStatus]
    ORDER_STATUS_PARTIALLY_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_COMPLETE: _ClassVar[OrderStatus]
    ORDER_STATUS_CANCELLED: _ClassVar[OrderStatus]
    ORDER_STATUS_REJECTED: _ClassVar[OrderStatus]

class BrokerKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BROKER_KIND_UNSPECIFIED: _ClassVar[BrokerKind]
    BROKER_KIND_KITE: _ClassVar[BrokerKind]
    BROKER_KIND_PAPER: _ClassVar[BrokerKind]
SIDE_UNSPECIFIED: Side
SIDE_BUY: Side
SIDE_SELL: Side
ORDER_TYPE_UNSPECIFIED: OrderType
ORDER_TYPE_MARKET: OrderType
ORDER_TYPE_LIMIT: OrderType
ORDER_TYPE_SL: OrderType
ORDER_TYPE_SL_M: OrderType
ORDER_STATUS_UNSPECIFIED: OrderStatus
ORDER_STATUS_PENDING: OrderStatus
ORDER_STATUS_OPEN: OrderStatus
ORDER_STATUS_TRIGGER_PENDING: OrderStatus
ORDER_STATUS_PARTIALLY_FILLED: OrderStatus
ORDER_STATUS_COMPLETE: OrderStatus
ORDER_STATUS_CANCELLED: OrderStatus
ORDER_STATUS_REJECTED: OrderStatus
BROKER_KIND_UNSPECIFIED: BrokerKind
BROKER_KIND_KITE: BrokerKind
BROKER_KIND_PAPER: BrokerKind

class OrderRequest(_message.Message):
    __slots__ = ("client_order_id", "symbol", "side", "quantity", "order_type", "price_paise", "trigger_price_paise", "product", "variety", "validity", "allow_duplicate", "stop_loss_paise", "target_paise", "trailing_stop_pct", "strategy_id", "market_protection", "validity_ttl", "disclosed_quantity", "stop_loss_pct", "target_pct")
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    VARIETY_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    STOP_LOSS_PAISE_FIELD_NUMBER: _ClassVar[int]
    TARGET_PAISE_FIELD_NUMBER: _ClassVar[int]
    TRAILING_STOP_PCT_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    MARKET_PROTECTION_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_TTL_FIELD_NUMBER: _ClassVar[int]
    DISCLOSED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    STOP_LOSS_PCT_FIELD_NUMBER: _ClassVar[int]
    TARGET_PCT_FIELD_NUMBER: _ClassVar[int]
    client_order_id: str
    symbol: _common_pb2.SymbolRef
    side: Side
    quantity: int
    order_type: OrderType
    price_paise: int
    trigger_price_paise: int
    product: _strategy_pb2.Product
    variety: str
    validity: str
    allow_duplicate: bool
    stop_loss_paise: int
    target_paise: int
    trailing_stop_pct: float
    strategy_id: str
    market_protection: float
    validity_ttl: int
    disclosed_quantity: int
    stop_loss_pct: float
    target_pct: float
    def __init__(self, client_order_id: _Optional[str] = ..., symbol: _Optional[_Union[_common_pb2.SymbolRef, _Mapping]] = ..., side: _Optional[_Union[Side, str]] = ..., quantity: _Optional[int] = ..., order_type: _Optional[_Union[OrderType, str]] = ..., price_paise: _Optional[int] = ..., trigger_price_paise: _Optional[int] = ..., product: _Optional[_Union[_strategy_pb2.Product, str]] = ..., variety: _Optional[str] = ..., validity: _Optional[str] = ..., allow_duplicate: _Optional[bool] = ..., stop_loss_paise: _Optional[int] = ..., target_paise: _Optional[int] = ..., trailing_stop_pct: _Optional[float] = ..., strategy_id: _Optional[str] = ..., market_protection: _Optional[float] = ..., validity_ttl: _Optional[int] = ..., disclosed_quantity: _Optional[int] = ..., stop_loss_pct: _Optional[float] = ..., target_pct: _Optional[float] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("order_id", "broker_order_id", "account_id", "request", "status", "status_message", "filled_quantity", "average_price_paise", "created_at", "updated_at", "children", "filled_at")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    BROKER_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FILLED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    FILLED_AT_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    broker_order_id: str
    account_id: str
    request: OrderRequest
    status: OrderStatus
    status_message: str
    filled_quantity: int
    average_price_paise: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    children: _containers.RepeatedCompositeFieldContainer[Order]
    filled_at: _timestamp_pb2.Timestamp
    def __init__(self, order_id: _Optional[str] = ..., broker_order_id: _Optional[str] = ..., account_id: _Optional[str] = ..., request: _Optional[_Union[OrderRequest, _Mapping]] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., status_message: _Optional[str] = ..., filled_quantity: _Optional[int] = ..., average_price_paise: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., children: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., filled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PlaceOrderRequest(_message.Message):
    __slots__ = ("account_id", "order")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    order: OrderRequest
    def __init__(self, account_id: _Optional[str] = ..., order: _Optional[_Union[OrderRequest, _Mapping]] = ...) -> None: ...

class PlaceOrderResponse(_message.Message):
    __slots__ = ("order", "duplicate")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    order: Order
    duplicate: bool
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ModifyOrderRequest(_message.Message):
    __slots__ = ("account_id", "order_id", "quantity", "price_paise", "trigger_price_paise", "order_type")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    ORDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    order_id: str
    quantity: int
    price_paise: int
    trigger_price_paise: int
    order_type: OrderType
    def __init__(self, account_id: _Optional[str] = ..., order_id: _Optional[str] = ..., quantity: _Optional[int] = ..., price_paise: _Optional[int] = ..., trigger_price_paise: _Optional[int] = ..., order_type: _Optional[_Union[OrderType, str]] = ...) -> None: ...

class ModifyOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class CancelOrderRequest(_message.Message):
    __slots__ = ("account_id", "order_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    order_id: str
    def __init__(self, account_id: _Optional[str] = ..., order_id: _Optional[str] = ...) -> None: ...

class CancelOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class ListOrdersRequest(_message.Message):
    __slots__ = ("account_id", "status", "page")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    status: OrderStatus
    page: _common_pb2.PageRequest
    def __init__(self, account_id: _Optional[str] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListOrdersResponse(_message.Message):
    __slots__ = ("orders", "page")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    page: _common_pb2.PageResponse
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("account_id", "order_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    order_id: str
    def __init__(self, account_id: _Optional[str] = ..., order_id: _Optional[str] = ...) -> None: ...

class GetOrderResponse(_message.Message):
    __slots__ = ("order", "events")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    order: Order
    events: _containers.RepeatedCompositeFieldContainer[OrderEvent]
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., events: _Optional[_Iterable[_Union[OrderEvent, _Mapping]]] = ...) -> None: ...

class OrderEvent(_message.Message):
    __slots__ = ("order_id", "account_id", "status", "broker_status", "filled_quantity", "average_price_paise", "message", "ts", "event_id")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BROKER_STATUS_FIELD_NUMBER: _ClassVar[int]
    FILLED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    account_id: str
    status: OrderStatus
    broker_status: str
    filled_quantity: int
    average_price_paise: int
    message: str
    ts: _timestamp_pb2.Timestamp
    event_id: int
    def __init__(self, order_id: _Optional[str] = ..., account_id: _Optional[str] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., broker_status: _Optional[str] = ..., filled_quantity: _Optional[int] = ..., average_price_paise: _Optional[int] = ..., message: _Optional[str] = ..., ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_id: _Optional[int] = ...) -> None: ...

class StreamOrderEventsRequest(_message.Message):
    __slots__ = ("account_id", "since_event_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    since_event_id: int
    def __init__(self, account_id: _Optional[str] = ..., since_event_id: _Optional[int] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("symbol", "product", "quantity", "average_price_paise", "last_price_paise", "realized_pnl_paise", "unrealized_pnl_paise", "stop_loss_paise", "target_paise", "trailing_stop_paise", "opened_at")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    LAST_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    UNREALIZED_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    STOP_LOSS_PAISE_FIELD_NUMBER: _ClassVar[int]
    TARGET_PAISE_FIELD_NUMBER: _ClassVar[int]
    TRAILING_STOP_PAISE_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    symbol: _common_pb2.SymbolRef
    product: _strategy_pb2.Product
    quantity: int
    average_price_paise: int
    last_price_paise: int
    realized_pnl_paise: int
    unrealized_pnl_paise: int
    stop_loss_paise: int
    target_paise: int
    trailing_stop_paise: int
    opened_at: _timestamp_pb2.Timestamp
    def __init__(self, symbol: _Optional[_Union[_common_pb2.SymbolRef, _Mapping]] = ..., product: _Optional[_Union[_strategy_pb2.Product, str]] = ..., quantity: _Optional[int] = ..., average_price_paise: _Optional[int] = ..., last_price_paise: _Optional[int] = ..., realized_pnl_paise: _Optional[int] = ..., unrealized_pnl_paise: _Optional[int] = ..., stop_loss_paise: _Optional[int] = ..., target_paise: _Optional[int] = ..., trailing_stop_paise: _Optional[int] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PositionsRequest(_message.Message):
    __slots__ = ("account_id", "include_closed")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CLOSED_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    include_closed: bool
    def __init__(self, account_id: _Optional[str] = ..., include_closed: _Optional[bool] = ...) -> None: ...

class PositionsResponse(_message.Message):
    __slots__ = ("positions",)
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    def __init__(self, positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ...) -> None: ...

class Trade(_message.Message):
    __slots__ = ("trade_id", "account_id", "symbol", "segment", "side", "quantity", "entry_price_paise", "exit_price_paise", "entry_ts", "exit_ts", "realized_pnl_paise", "charges_paise", "net_pnl_paise", "exit_reason", "strategy_id")
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ENTRY_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    EXIT_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_TS_FIELD_NUMBER: _ClassVar[int]
    EXIT_TS_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    CHARGES_PAISE_FIELD_NUMBER: _ClassVar[int]
    NET_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    EXIT_REASON_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    trade_id: str
    account_id: str
    symbol: _common_pb2.SymbolRef
    segment: str
    side: Side
    quantity: int
    entry_price_paise: int
    exit_price_paise: int
    entry_ts: _timestamp_pb2.Timestamp
    exit_ts: _timestamp_pb2.Timestamp
    realized_pnl_paise: int
    charges_paise: int
    net_pnl_paise: int
    exit_reason: str
    strategy_id: str
    def __init__(self, trade_id: _Optional[str] = ..., account_id: _Optional[str] = ..., symbol: _Optional[_Union[_common_pb2.SymbolRef, _Mapping]] = ..., segment: _Optional[str] = ..., side: _Optional[_Union[Side, str]] = ..., quantity: _Optional[int] = ..., entry_price_paise: _Optional[int] = ..., exit_price_paise: _Optional[int] = ..., entry_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exit_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., realized_pnl_paise: _Optional[int] = ..., charges_paise: _Optional[int] = ..., net_pnl_paise: _Optional[int] = ..., exit_reason: _Optional[str] = ..., strategy_id: _Optional[str] = ...) -> None: ...

class TradesRequest(_message.Message):
    __slots__ = ("account_id", "from_date", "to_date", "symbol", "segment", "page")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    from_date: str
    to_date: str
    symbol: str
    segment: str
    page: _common_pb2.PageRequest
    def __init__(self, account_id: _Optional[str] = ..., from_date: _Optional[str] = ..., to_date: _Optional[str] = ..., symbol: _Optional[str] = ..., segment: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class TradesSummary(_message.Message):
    __slots__ = ("trades", "total_profit_paise", "total_loss_paise", "net_paise", "win_rate")
    TRADES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PROFIT_PAISE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_LOSS_PAISE_FIELD_NUMBER: _ClassVar[int]
    NET_PAISE_FIELD_NUMBER: _ClassVar[int]
    WIN_RATE_FIELD_NUMBER: _ClassVar[int]
    trades: int
    total_profit_paise: int
    total_loss_paise: int
    net_paise: int
    win_rate: float
    def __init__(self, trades: _Optional[int] = ..., total_profit_paise: _Optional[int] = ..., total_loss_paise: _Optional[int] = ..., net_paise: _Optional[int] = ..., win_rate: _Optional[float] = ...) -> None: ...

class TradesResponse(_message.Message):
    __slots__ = ("trades", "summary", "page")
    TRADES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    trades: _containers.RepeatedCompositeFieldContainer[Trade]
    summary: TradesSummary
    page: _common_pb2.PageResponse
    def __init__(self, trades: _Optional[_Iterable[_Union[Trade, _Mapping]]] = ..., summary: _Optional[_Union[TradesSummary, _Mapping]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class PnlSummaryRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class PnlSummaryResponse(_message.Message):
    __slots__ = ("all_time_paise", "year_paise", "month_paise", "week_paise", "day_paise")
    ALL_TIME_PAISE_FIELD_NUMBER: _ClassVar[int]
    YEAR_PAISE_FIELD_NUMBER: _ClassVar[int]
    MONTH_PAISE_FIELD_NUMBER: _ClassVar[int]
    WEEK_PAISE_FIELD_NUMBER: _ClassVar[int]
    DAY_PAISE_FIELD_NUMBER: _ClassVar[int]
    all_time_paise: int
    year_paise: int
    month_paise: int
    week_paise: int
    day_paise: int
    def __init__(self, all_time_paise: _Optional[int] = ..., year_paise: _Optional[int] = ..., month_paise: _Optional[int] = ..., week_paise: _Optional[int] = ..., day_paise: _Optional[int] = ...) -> None: ...

class PnlCalendarRequest(_message.Message):
    __slots__ = ("account_id", "from_date", "to_date")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    from_date: str
    to_date: str
    def __init__(self, account_id: _Optional[str] = ..., from_date: _Optional[str] = ..., to_date: _Optional[str] = ...) -> None: ...

class DailyPnl(_message.Message):
    __slots__ = ("date", "pnl_paise", "trades")
    DATE_FIELD_NUMBER: _ClassVar[int]
    PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    date: str
    pnl_paise: int
    trades: int
    def __init__(self, date: _Optional[str] = ..., pnl_paise: _Optional[int] = ..., trades: _Optional[int] = ...) -> None: ...

class PnlCalendarResponse(_message.Message):
    __slots__ = ("days",)
    DAYS_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[DailyPnl]
    def __init__(self, days: _Optional[_Iterable[_Union[DailyPnl, _Mapping]]] = ...) -> None: ...

class DailyStatsRequest(_message.Message):
    __slots__ = ("account_id", "date")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    date: str
    def __init__(self, account_id: _Optional[str] = ..., date: _Optional[str] = ...) -> None: ...

class DailyStatsResponse(_message.Message):
    __slots__ = ("date", "realized_pnl_paise", "unrealized_pnl_paise", "trades", "loss_used_paise", "loss_limit_paise", "loss_used_pct", "trading_blocked")
    DATE_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    UNREALIZED_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    LOSS_USED_PAISE_FIELD_NUMBER: _ClassVar[int]
    LOSS_LIMIT_PAISE_FIELD_NUMBER: _ClassVar[int]
    LOSS_USED_PCT_FIELD_NUMBER: _ClassVar[int]
    TRADING_BLOCKED_FIELD_NUMBER: _ClassVar[int]
    date: str
    realized_pnl_paise: int
    unrealized_pnl_paise: int
    trades: int
    loss_used_paise: int
    loss_limit_paise: int
    loss_used_pct: float
    trading_blocked: bool
    def __init__(self, date: _Optional[str] = ..., realized_pnl_paise: _Optional[int] = ..., unrealized_pnl_paise: _Optional[int] = ..., trades: _Optional[int] = ..., loss_used_paise: _Optional[int] = ..., loss_limit_paise: _Optional[int] = ..., loss_used_pct: _Optional[float] = ..., trading_blocked: _Optional[bool] = ...) -> None: ...

class GttLeg(_message.Message):
    __slots__ = ("trigger_price_paise", "side", "quantity", "price_paise")
    TRIGGER_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    trigger_price_paise: int
    side: Side
    quantity: int
    price_paise: int
    def __init__(self, trigger_price_paise: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ..., quantity: _Optional[int] = ..., price_paise: _Optional[int] = ...) -> None: ...

class Gtt(_message.Message):
    __slots__ = ("gtt_id", "broker_gtt_id", "account_id", "symbol", "type", "legs", "status", "last_price_paise", "created_at", "product", "entry_order_id", "exit_order_id", "exit_leg", "exit_filled_quantity", "exit_average_price_paise")
    GTT_ID_FIELD_NUMBER: _ClassVar[int]
    BROKER_GTT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LEGS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    EXIT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    EXIT_LEG_FIELD_NUMBER: _ClassVar[int]
    EXIT_FILLED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXIT_AVERAGE_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    gtt_id: str
    broker_gtt_id: str
    account_id: str
    symbol: _common_pb2.SymbolRef
    type: str
    legs: _containers.RepeatedCompositeFieldContainer[GttLeg]
    status: str
    last_price_paise: int
    created_at: _timestamp_pb2.Timestamp
    product: _strategy_pb2.Product
    entry_order_id: str
    exit_order_id: str
    exit_leg: str
    exit_filled_quantity: int
    exit_average_price_paise: int
    def __init__(self, gtt_id: _Optional[str] = ..., broker_gtt_id: _Optional[str] = ..., account_id: _Optional[str] = ..., symbol: _Optional[_Union[_common_pb2.SymbolRef, _Mapping]] = ..., type: _Optional[str] = ..., legs: _Optional[_Iterable[_Union[GttLeg, _Mapping]]] = ..., status: _Optional[str] = ..., last_price_paise: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., product: _Optional[_Union[_strategy_pb2.Product, str]] = ..., entry_order_id: _Optional[str] = ..., exit_order_id: _Optional[str] = ..., exit_leg: _Optional[str] = ..., exit_filled_quantity: _Optional[int] = ..., exit_average_price_paise: _Optional[int] = ...) -> None: ...

class CreateGttRequest(_message.Message):
    __slots__ = ("account_id", "gtt")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    GTT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    gtt: Gtt
    def __init__(self, account_id: _Optional[str] = ..., gtt: _Optional[_Union[Gtt, _Mapping]] = ...) -> None: ...

class CreateGttResponse(_message.Message):
    __slots__ = ("gtt",)
    GTT_FIELD_NUMBER: _ClassVar[int]
    gtt: Gtt
    def __init__(self, gtt: _Optional[_Union[Gtt, _Mapping]] = ...) -> None: ...

class ModifyGttRequest(_message.Message):
    __slots__ = ("account_id", "gtt")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    GTT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    gtt: Gtt
    def __init__(self, account_id: _Optional[str] = ..., gtt: _Optional[_Union[Gtt, _Mapping]] = ...) -> None: ...

class ModifyGttResponse(_message.Message):
    __slots__ = ("gtt",)
    GTT_FIELD_NUMBER: _ClassVar[int]
    gtt: Gtt
    def __init__(self, gtt: _Optional[_Union[Gtt, _Mapping]] = ...) -> None: ...

class DeleteGttRequest(_message.Message):
    __slots__ = ("account_id", "gtt_id")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    GTT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    gtt_id: str
    def __init__(self, account_id: _Optional[str] = ..., gtt_id: _Optional[str] = ...) -> None: ...

class DeleteGttResponse(_message.Message):
    __slots__ = ("gtt",)
    GTT_FIELD_NUMBER: _ClassVar[int]
    gtt: Gtt
    def __init__(self, gtt: _Optional[_Union[Gtt, _Mapping]] = ...) -> None: ...

class ListGttsRequest(_message.Message):
    __slots__ = ("account_id", "entry_order_ids")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ORDER_IDS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    entry_order_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, account_id: _Optional[str] = ..., entry_order_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListGttsResponse(_message.Message):
    __slots__ = ("gtts",)
    GTTS_FIELD_NUMBER: _ClassVar[int]
    gtts: _containers.RepeatedCompositeFieldContainer[Gtt]
    def __init__(self, gtts: _Optional[_Iterable[_Union[Gtt, _Mapping]]] = ...) -> None: ...

class EmergencyStopRequest(_message.Message):
    __slots__ = ("account_id", "reason", "actor")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    reason: str
    actor: str
    def __init__(self, account_id: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class EmergencyStopResponse(_message.Message):
    __slots__ = ("orders_cancelled", "gtts_deleted", "positions_squared_off", "blocked", "failures")
    ORDERS_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    GTTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_SQUARED_OFF_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    orders_cancelled: int
    gtts_deleted: int
    positions_squared_off: int
    blocked: bool
    failures: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, orders_cancelled: _Optional[int] = ..., gtts_deleted: _Optional[int] = ..., positions_squared_off: _Optional[int] = ..., blocked: _Optional[bool] = ..., failures: _Optional[_Iterable[str]] = ...) -> None: ...

class ResetEmergencyStopRequest(_message.Message):
    __slots__ = ("account_id", "actor")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    actor: str
    def __init__(self, account_id: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class ResetEmergencyStopResponse(_message.Message):
    __slots__ = ("blocked",)
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    blocked: bool
    def __init__(self, blocked: _Optional[bool] = ...) -> None: ...

class RiskLimits(_message.Message):
    __slots__ = ("max_order_quantity", "max_order_value_paise", "max_open_positions", "max_capital_per_position_paise", "daily_loss_limit_paise", "price_collar_pct", "max_orders_per_second", "enforce_market_hours", "algo_id", "max_total_exposure_paise", "square_off_on_loss_limit")
    MAX_ORDER_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    MAX_ORDER_VALUE_PAISE_FIELD_NUMBER: _ClassVar[int]
    MAX_OPEN_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_CAPITAL_PER_POSITION_PAISE_FIELD_NUMBER: _ClassVar[int]
    DAILY_LOSS_LIMIT_PAISE_FIELD_NUMBER: _ClassVar[int]
    PRICE_COLLAR_PCT_FIELD_NUMBER: _ClassVar[int]
    MAX_ORDERS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ENFORCE_MARKET_HOURS_FIELD_NUMBER: _ClassVar[int]
    ALGO_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_TOTAL_EXPOSURE_PAISE_FIELD_NUMBER: _ClassVar[int]
    SQUARE_OFF_ON_LOSS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    max_order_quantity: int
    max_order_value_paise: int
    max_open_positions: int
    max_capital_per_position_paise: int
    daily_loss_limit_paise: int
    price_collar_pct: float
    max_orders_per_second: int
    enforce_market_hours: bool
    algo_id: str
    max_total_exposure_paise: int
    square_off_on_loss_limit: bool
    def __init__(self, max_order_quantity: _Optional[int] = ..., max_order_value_paise: _Optional[int] = ..., max_open_positions: _Optional[int] = ..., max_capital_per_position_paise: _Optional[int] = ..., daily_loss_limit_paise: _Optional[int] = ..., price_collar_pct: _Optional[float] = ..., max_orders_per_second: _Optional[int] = ..., enforce_market_hours: _Optional[bool] = ..., algo_id: _Optional[str] = ..., max_total_exposure_paise: _Optional[int] = ..., square_off_on_loss_limit: _Optional[bool] = ...) -> None: ...

class GetRiskLimitsRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetRiskLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: RiskLimits
    def __init__(self, limits: _Optional[_Union[RiskLimits, _Mapping]] = ...) -> None: ...

class SetRiskLimitsRequest(_message.Message):
    __slots__ = ("account_id", "limits", "actor")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    limits: RiskLimits
    actor: str
    def __init__(self, account_id: _Optional[str] = ..., limits: _Optional[_Union[RiskLimits, _Mapping]] = ..., actor: _Optional[str] = ...) -> None: ...

class SetRiskLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: RiskLimits
    def __init__(self, limits: _Optional[_Union[RiskLimits, _Mapping]] = ...) -> None: ...

class ReconcileDifference(_message.Message):
    __slots__ = ("kind", "key", "action", "detail")
    KIND_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    kind: str
    key: str
    action: str
    detail: str
    def __init__(self, kind: _Optional[str] = ..., key: _Optional[str] = ..., action: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class ReconcileRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class ReconcileResponse(_message.Message):
    __slots__ = ("differences",)
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    differences: _containers.RepeatedCompositeFieldContainer[ReconcileDifference]
    def __init__(self, differences: _Optional[_Iterable[_Union[ReconcileDifference, _Mapping]]] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("account_id", "broker", "name", "limits")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BROKER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    broker: BrokerKind
    name: str
    limits: RiskLimits
    def __init__(self, account_id: _Optional[str] = ..., broker: _Optional[_Union[BrokerKind, str]] = ..., name: _Optional[str] = ..., limits: _Optional[_Union[RiskLimits, _Mapping]] = ...) -> None: ...

class ListAccountsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAccountsResponse(_message.Message):
    __slots__ = ("accounts",)
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedCompositeFieldContainer[Account]
    def __init__(self, accounts: _Optional[_Iterable[_Union[Account, _Mapping]]] = ...) -> None: ...

class ImportPnlRequest(_message.Message):
    __slots__ = ("account_id", "data", "format")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    data: bytes
    format: str
    def __init__(self, account_id: _Optional[str] = ..., data: _Optional[bytes] = ..., format: _Optional[str] = ...) -> None: ...

class ImportPnlResponse(_message.Message):
    __slots__ = ("records", "duplicates", "rejected")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    records: int
    duplicates: int
    rejected: int
    def __init__(self, records: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ...) -> None: ...

class SegmentMargins(_message.Message):
    __slots__ = ("segment", "enabled", "net_paise", "available_cash_paise", "opening_balance_paise", "live_balance_paise", "collateral_paise", "utilised_debits_paise", "utilised_exposure_paise", "utilised_span_paise", "utilised_option_premium_paise", "m2m_realised_paise", "m2m_unrealised_paise")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    NET_PAISE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_CASH_PAISE_FIELD_NUMBER: _ClassVar[int]
    OPENING_BALANCE_PAISE_FIELD_NUMBER: _ClassVar[int]
    LIVE_BALANCE_PAISE_FIELD_NUMBER: _ClassVar[int]
    COLLATERAL_PAISE_FIELD_NUMBER: _ClassVar[int]
    UTILISED_DEBITS_PAISE_FIELD_NUMBER: _ClassVar[int]
    UTILISED_EXPOSURE_PAISE_FIELD_NUMBER: _ClassVar[int]
    UTILISED_SPAN_PAISE_FIELD_NUMBER: _ClassVar[int]
    UTILISED_OPTION_PREMIUM_PAISE_FIELD_NUMBER: _ClassVar[int]
    M2M_REALISED_PAISE_FIELD_NUMBER: _ClassVar[int]
    M2M_UNREALISED_PAISE_FIELD_NUMBER: _ClassVar[int]
    segment: str
    enabled: bool
    net_paise: int
    available_cash_paise: int
    opening_balance_paise: int
    live_balance_paise: int
    collateral_paise: int
    utilised_debits_paise: int
    utilised_exposure_paise: int
    utilised_span_paise: int
    utilised_option_premium_paise: int
    m2m_realised_paise: int
    m2m_unrealised_paise: int
    def __init__(self, segment: _Optional[str] = ..., enabled: _Optional[bool] = ..., net_paise: _Optional[int] = ..., available_cash_paise: _Optional[int] = ..., opening_balance_paise: _Optional[int] = ..., live_balance_paise: _Optional[int] = ..., collateral_paise: _Optional[int] = ..., utilised_debits_paise: _Optional[int] = ..., utilised_exposure_paise: _Optional[int] = ..., utilised_span_paise: _Optional[int] = ..., utilised_option_premium_paise: _Optional[int] = ..., m2m_realised_paise: _Optional[int] = ..., m2m_unrealised_paise: _Optional[int] = ...) -> None: ...

class Holding(_message.Message):
    __slots__ = ("symbol", "quantity", "t1_quantity", "average_price_paise", "last_price_paise", "pnl_paise", "day_change_paise", "isin")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    T1_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    LAST_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    DAY_CHANGE_PAISE_FIELD_NUMBER: _ClassVar[int]
    ISIN_FIELD_NUMBER: _ClassVar[int]
    symbol: _common_pb2.SymbolRef
    quantity: int
    t1_quantity: int
    average_price_paise: int
    last_price_paise: int
    pnl_paise: int
    day_change_paise: int
    isin: str
    def __init__(self, symbol: _Optional[_Union[_common_pb2.SymbolRef, _Mapping]] = ..., quantity: _Optional[int] = ..., t1_quantity: _Optional[int] = ..., average_price_paise: _Optional[int] = ..., last_price_paise: _Optional[int] = ..., pnl_paise: _Optional[int] = ..., day_change_paise: _Optional[int] = ..., isin: _Optional[str] = ...) -> None: ...

class GetAccountSnapshotRequest(_message.Message):
    __slots__ = ("account_id",)
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    def __init__(self, account_id: _Optional[str] = ...) -> None: ...

class GetAccountSnapshotResponse(_message.Message):
    __slots__ = ("account_id", "broker", "margins", "holdings", "positions", "day_realized_pnl_paise", "day_unrealized_pnl_paise", "as_of", "unavailable")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BROKER_FIELD_NUMBER: _ClassVar[int]
    MARGINS_FIELD_NUMBER: _ClassVar[int]
    HOLDINGS_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    DAY_REALIZED_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    DAY_UNREALIZED_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    broker: BrokerKind
    margins: _containers.RepeatedCompositeFieldContainer[SegmentMargins]
    holdings: _containers.RepeatedCompositeFieldContainer[Holding]
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    day_realized_pnl_paise: int
    day_unrealized_pnl_paise: int
    as_of: _timestamp_pb2.Timestamp
    unavailable: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, account_id: _Optional[str] = ..., broker: _Optional[_Union[BrokerKind, str]] = ..., margins: _Optional[_Iterable[_Union[SegmentMargins, _Mapping]]] = ..., holdings: _Optional[_Iterable[_Union[Holding, _Mapping]]] = ..., positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ..., day_realized_pnl_paise: _Optional[int] = ..., day_unrealized_pnl_paise: _Optional[int] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unavailable: _Optional[_Iterable[str]] = ...) -> None: ...

class AuditLogEntry(_message.Message):
    __slots__ = ("id", "account_id", "ts", "actor", "action", "detail")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    id: int
    account_id: str
    ts: _timestamp_pb2.Timestamp
    actor: str
    action: str
    detail: _struct_pb2.Struct
    def __init__(self, id: _Optional[int] = ..., account_id: _Optional[str] = ..., ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., detail: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ListAuditLogsRequest(_message.Message):
    __slots__ = ("account_ids", "before_id", "limit")
    ACCOUNT_IDS_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    account_ids: _containers.RepeatedScalarFieldContainer[str]
    before_id: int
    limit: int
    def __init__(self, account_ids: _Optional[_Iterable[str]] = ..., before_id: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListAuditLogsResponse(_message.Message):
    __slots__ = ("entries", "next_before_id")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditLogEntry]
    next_before_id: int
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditLogEntry, _Mapping]]] = ..., next_before_id: _Optional[int] = ...) -> None: ...
