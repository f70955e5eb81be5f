import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mandi.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FillConvention(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILL_CONVENTION_UNSPECIFIED: _ClassVar[FillConvention]
    FILL_CONVENTION_NEXT_OPEN: _ClassVar[FillConvention]
    FILL_CONVENTION_CLOSE: _ClassVar[FillConvention]

class Product(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRODUCT_UNSPECIFIED: _ClassVar[Product]
    PRODUCT_CNC: _ClassVar[Product]
    PRODUCT_MIS: _ClassVar[Product]
    PRODUCT_NRML: _ClassVar[Product]

class RunMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_MODE_UNSPECIFIED: _ClassVar[RunMode]
    RUN_MODE_PAPER: _ClassVar[RunMode]
    RUN_MODE_LIVE: _ClassVar[RunMode]

class BotStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOT_STATUS_UNSPECIFIED: _ClassVar[BotStatus]
    BOT_STATUS_CREATED: _ClassVar[BotStatus]
    BOT_STATUS_RUNNING: _ClassVar[BotStatus]
    BOT_STATUS_PAUSED: _ClassVar[BotStatus]
    BOT_STATUS_STOPPED: _ClassVar[BotStatus]
    BOT_STATUS_ERROR: _ClassVar[BotStatus]
FILL_CONVENTION_UNSPECIFIED: FillConvention
FILL_CONVENTION_NEXT_OPEN: FillConvention
FILL_CONVENTION_CLOSE: FillConvention
PRODUCT_UNSPECIFIED: Product
PRODUCT_CNC: Product
PRODUCT_MIS: Product
PRODUCT_NRML: Product
RUN_MODE_UNSPECIFIED: RunMode
RUN_MODE_PAPER: RunMode
RUN_MODE_LIVE: RunMode
BOT_STATUS_UNSPECIFIED: BotStatus
BOT_STATUS_CREATED: BotStatus
BOT_STATUS_RUNNING: BotStatus
BOT_STATUS_PAUSED: BotStatus
BOT_STATUS_STOPPED: BotStatus
BOT_STATUS_ERROR: BotStatus

class StrategyDef(_message.Message):
    __slots__ = ("id", "name", "type", "params", "rules", "code", "owner", "created_at", "updated_at", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    type: str
    params: _struct_pb2.Struct
    rules: _struct_pb2.Struct
    code: str
    owner: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    version: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., rules: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., code: _Optional[str] = ..., owner: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class FieldError(_message.Message):
    __slots__ = ("field", "message")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    field: str
    message: str
    def __init__(self, field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListStrategiesRequest(_message.Message):
    __slots__ = ("owner", "page")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    owner: str
    page: _common_pb2.PageRequest
    def __init__(self, owner: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListStrategiesResponse(_message.Message):
    __slots__ = ("strategies", "page")
    STRATEGIES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    strategies: _containers.RepeatedCompositeFieldContainer[StrategyDef]
    page: _common_pb2.PageResponse
    def __init__(self, strategies: _Optional[_Iterable[_Union[StrategyDef, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class GetStrategyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyDef
    def __init__(self, strategy: _Optional[_Union[StrategyDef, _Mapping]] = ...) -> None: ...

class CreateStrategyRequest(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyDef
    def __init__(self, strategy: _Optional[_Union[StrategyDef, _Mapping]] = ...) -> None: ...

class CreateStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyDef
    def __init__(self, strategy: _Optional[_Union[StrategyDef, _Mapping]] = ...) -> None: ...

class UpdateStrategyRequest(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyDef
    def __init__(self, strategy: _Optional[_Union[StrategyDef, _Mapping]] = ...) -> None: ...

class UpdateStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyDef
    def __init__(self, strategy: _Optional[_Union[StrategyDef, _Mapping]] = ...) -> None: ...

class DeleteStrategyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteStrategyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ValidateStrategyRequest(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyDef
    def __init__(self, strategy: _Optional[_Union[StrategyDef, _Mapping]] = ...) -> None: ...

class ValidateStrategyResponse(_message.Message):
    __slots__ = ("valid", "errors")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    errors: _containers.RepeatedCompositeFieldContainer[FieldError]
    def __init__(self, valid: _Optional[bool] = ..., errors: _Optional[_Iterable[_Union[FieldError, _Mapping]]] = ...) -> None: ...

class ImportStrategyRequest(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class ImportStrategyResponse(_message.Message):
    __slots__ = ("strategy",)
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyDef
    def __init__(self, strategy: _Optional[_Union[StrategyDef, _Mapping]] = ...) -> None: ...

class ExportStrategyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ExportStrategyResponse(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class Sizing(_message.Message):
    __slots__ = ("type", "qty", "capital_paise", "pct", "risk_pct", "atr_multiple")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    QTY_FIELD_NUMBER: _ClassVar[int]
    CAPITAL_PAISE_FIELD_NUMBER: _ClassVar[int]
    PCT_FIELD_NUMBER: _ClassVar[int]
    RISK_PCT_FIELD_NUMBER: _ClassVar[int]
    ATR_MULTIPLE_FIELD_NUMBER: _ClassVar[int]
    type: str
    qty: int
    capital_paise: int
    pct: float
    risk_pct: float
    atr_multiple: float
    def __init__(self, type: _Optional[str] = ..., qty: _Optional[int] = ..., capital_paise: _Optional[int] = ..., pct: _Optional[float] = ..., risk_pct: _Optional[float] = ..., atr_multiple: _Optional[float] = ...) -> None: ...

class Costs(_message.Message):
    __slots__ = ("product", "slippage_bps", "slippage_ticks", "disable_charges")
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    SLIPPAGE_BPS_FIELD_NUMBER: _ClassVar[int]
    SLIPPAGE_TICKS_FIELD_NUMBER: _ClassVar[int]
    DISABLE_CHARGES_FIELD_NUMBER: _ClassVar[int]
    product: Product
    slippage_bps: float
    slippage_ticks: int
    disable_charges: bool
    def __init__(self, product: _Optional[_Union[Product, str]] = ..., slippage_bps: _Optional[float] = ..., slippage_ticks: _Optional[int] = ..., disable_charges: _Optional[bool] = ...) -> None: ...

class BacktestSpec(_message.Message):
    __slots__ = ("strategy", "strategy_id", "symbols", "interval", "to", "capital_paise", "sizing", "costs", "fill")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    CAPITAL_PAISE_FIELD_NUMBER: _ClassVar[int]
    SIZING_FIELD_NUMBER: _ClassVar[int]
    COSTS_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyDef
    strategy_id: str
    symbols: _containers.RepeatedCompositeFieldContainer[_common_pb2.SymbolRef]
    interval: str
    to: _timestamp_pb2.Timestamp
    capital_paise: int
    sizing: Sizing
    costs: Costs
    fill: FillConvention
    def __init__(self, strategy: _Optional[_Union[StrategyDef, _Mapping]] = ..., strategy_id: _Optional[str] = ..., symbols: _Optional[_Iterable[_Union[_common_pb2.SymbolRef, _Mapping]]] = ..., interval: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., capital_paise: _Optional[int] = ..., sizing: _Optional[_Union[Sizing, _Mapping]] = ..., costs: _Optional[_Union[Costs, _Mapping]] = ..., fill: _Optional[_Union[FillConvention, str]] = ..., **kwargs) -> None: ...

class RunBacktestRequest(_message.Message):
    __slots__ = ("spec", "owner")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    spec: BacktestSpec
    owner: str
    def __init__(self, spec: _Optional[_Union[BacktestSpec, _Mapping]] = ..., owner: _Optional[str] = ...) -> None: ...

class BacktestProgress(_message.Message):
    __slots__ = ("backtest_id", "state", "progress", "bars_done", "bars_total", "error")
    BACKTEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    BARS_DONE_FIELD_NUMBER: _ClassVar[int]
    BARS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    backtest_id: str
    state: _common_pb2.JobState
    progress: float
    bars_done: int
    bars_total: int
    error: str
    def __init__(self, backtest_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.JobState, str]] = ..., progress: _Optional[float] = ..., bars_done: _Optional[int] = ..., bars_total: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class Metrics(_message.Message):
    __slots__ = ("total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown", "max_drawdown_duration_bars", "win_rate", "profit_factor", "expectancy_paise", "avg_win_paise", "avg_loss_paise", "exposure", "trades", "turnover_paise", "charges_paise", "net_pnl_paise", "final_equity_paise")
    TOTAL_RETURN_FIELD_NUMBER: _ClassVar[int]
    CAGR_FIELD_NUMBER: _ClassVar[int]
    VOLATILITY_FIELD_NUMBER: _ClassVar[int]
    SHARPE_FIELD_NUMBER: _ClassVar[int]
    SORTINO_FIELD_NUMBER: _ClassVar[int]
    CALMAR_FIELD_NUMBER: _ClassVar[int]
    MAX_DRAWDOWN_FIELD_NUMBER: _ClassVar[int]
    MAX_DRAWDOWN_DURATION_BARS_FIELD_NUMBER: _ClassVar[int]
    WIN_RATE_FIELD_NUMBER: _ClassVar[int]
    PROFIT_FACTOR_FIELD_NUMBER: _ClassVar[int]
    EXPECTANCY_PAISE_FIELD_NUMBER: _ClassVar[int]
    AVG_WIN_PAISE_FIELD_NUMBER: _ClassVar[int]
    AVG_LOSS_PAISE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    TURNOVER_PAISE_FIELD_NUMBER: _ClassVar[int]
    CHARGES_PAISE_FIELD_NUMBER: _ClassVar[int]
    NET_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    FINAL_EQUITY_PAISE_FIELD_NUMBER: _ClassVar[int]
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration_bars: int
    win_rate: float
    profit_factor: float
    expectancy_paise: int
    avg_win_paise: int
    avg_loss_paise: int
    exposure: float
    trades: int
    turnover_paise: int
    charges_paise: int
    net_pnl_paise: int
    final_equity_paise: int
    def __init__(self, total_return: _Optional[float] = ..., cagr: _Optional[float] = ..., volatility: _Optional[float] = ..., sharpe: _Optional[float] = ..., sortino: _Optional[float] = ..., calmar: _Optional[float] = ..., max_drawdown: _Optional[float] = ..., max_drawdown_duration_bars: _Optional[int] = ..., win_rate: _Optional[float] = ..., profit_factor: _Optional[float] = ..., expectancy_paise: _Optional[int] = ..., avg_win_paise: _Optional[int] = ..., avg_loss_paise: _Optional[int] = ..., exposure: _Optional[float] = ..., trades: _Optional[int] = ..., turnover_paise: _Optional[int] = ..., charges_paise: _Optional[int] = ..., net_pnl_paise: _Optional[int] = ..., final_equity_paise: _Optional[int] = ...) -> None: ...

class BacktestTrade(_message.Message):
    __slots__ = ("symbol", "side", "quantity", "entry_ts", "entry_price_paise", "exit_ts", "exit_price_paise", "gross_pnl_paise", "charges_paise", "net_pnl_paise", "exit_reason")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ENTRY_TS_FIELD_NUMBER: _ClassVar[int]
    ENTRY_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    EXIT_TS_FIELD_NUMBER: _ClassVar[int]
    EXIT_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    GROSS_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    CHARGES_PAISE_FIELD_NUMBER: _ClassVar[int]
    NET_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    EXIT_REASON_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    side: str
    quantity: int
    entry_ts: _timestamp_pb2.Timestamp
    entry_price_paise: int
    exit_ts: _timestamp_pb2.Timestamp
    exit_price_paise: int
    gross_pnl_paise: int
    charges_paise: int
    net_pnl_paise: int
    exit_reason: str
    def __init__(self, symbol: _Optional[str] = ..., side: _Optional[str] = ..., quantity: _Optional[int] = ..., entry_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., entry_price_paise: _Optional[int] = ..., exit_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exit_price_paise: _Optional[int] = ..., gross_pnl_paise: _Optional[int] = ..., charges_paise: _Optional[int] = ..., net_pnl_paise: _Optional[int] = ..., exit_reason: _Optional[str] = ...) -> None: ...

class EquityPoint(_message.Message):
    __slots__ = ("ts", "equity_paise", "drawdown")
    TS_FIELD_NUMBER: _ClassVar[int]
    EQUITY_PAISE_FIELD_NUMBER: _ClassVar[int]
    DRAWDOWN_FIELD_NUMBER: _ClassVar[int]
    ts: _timestamp_pb2.Timestamp
    equity_paise: int
    drawdown: float
    def __init__(self, ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., equity_paise: _Optional[int] = ..., drawdown: _Optional[float] = ...) -> None: ...

class Backtest(_message.Message):
    __slots__ = ("id", "spec", "state", "progress", "created_at", "finished_at", "error", "summary", "owner", "partial")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    spec: BacktestSpec
    state: _common_pb2.JobState
    progress: float
    created_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    error: str
    summary: Metrics
    owner: str
    partial: BacktestPartial
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[BacktestSpec, _Mapping]] = ..., state: _Optional[_Union[_common_pb2.JobState, str]] = ..., progress: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., summary: _Optional[_Union[Metrics, _Mapping]] = ..., owner: _Optional[str] = ..., partial: _Optional[_Union[BacktestPartial, _Mapping]] = ...) -> None: ...

class BacktestPartial(_message.Message):
    __slots__ = ("bars_done", "as_of", "equity_paise", "trades", "net_pnl_paise", "equity", "recent_trades")
    BARS_DONE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    EQUITY_PAISE_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    NET_PNL_PAISE_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    RECENT_TRADES_FIELD_NUMBER: _ClassVar[int]
    bars_done: int
    as_of: _timestamp_pb2.Timestamp
    equity_paise: int
    trades: int
    net_pnl_paise: int
    equity: _containers.RepeatedCompositeFieldContainer[EquityPoint]
    recent_trades: _containers.RepeatedCompositeFieldContainer[BacktestTrade]
    def __init__(self, bars_done: _Optional[int] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., equity_paise: _Optional[int] = ..., trades: _Optional[int] = ..., net_pnl_paise: _Optional[int] = ..., equity: _Optional[_Iterable[_Union[EquityPoint, _Mapping]]] = ..., recent_trades: _Optional[_Iterable[_Union[BacktestTrade, _Mapping]]] = ...) -> None: ...

class GetBacktestRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetBacktestResponse(_message.Message):
    __slots__ = ("backtest",)
    BACKTEST_FIELD_NUMBER: _ClassVar[int]
    backtest: Backtest
    def __init__(self, backtest: _Optional[_Union[Backtest, _Mapping]] = ...) -> None: ...

class GetBacktestResultsRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetBacktestResultsResponse(_message.Message):
    __slots__ = ("backtest", "metrics", "trades", "equity", "data_source")
    BACKTEST_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TRADES_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    DATA_SOURCE_FIELD_NUMBER: _ClassVar[int]
    backtest: Backtest
    metrics: Metrics
    trades: _containers.RepeatedCompositeFieldContainer[BacktestTrade]
    equity: _containers.RepeatedCompositeFieldContainer[EquityPoint]
    data_source: DataSource
    def __init__(self, backtest: _Optional[_Union[Backtest, _Mapping]] = ..., metrics: _Optional[_Union[Metrics, _Mapping]] = ..., trades: _Optional[_Iterable[_Union[BacktestTrade, _Mapping]]] = ..., equity: _Optional[_Iterable[_Union[EquityPoint, _Mapping]]] = ..., data_source: _Optional[_Union[DataSource, _Mapping]] = ...) -> None: ...

class DataSource(_message.Message):
    __slots__ = ("service", "table", "interval", "to", "bars", "symbols")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    service: str
    table: str
    interval: str
    to: _timestamp_pb2.Timestamp
    bars: int
    symbols: _containers.RepeatedCompositeFieldContainer[SymbolBars]
    def __init__(self, service: _Optional[str] = ..., table: _Optional[str] = ..., interval: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., bars: _Optional[int] = ..., symbols: _Optional[_Iterable[_Union[SymbolBars, _Mapping]]] = ..., **kwargs) -> None: ...

class SymbolBars(_message.Message):
    __slots__ = ("symbol", "bars", "first_ts", "last_ts")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    FIRST_TS_FIELD_NUMBER: _ClassVar[int]
    LAST_TS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    bars: int
    first_ts: _timestamp_pb2.Timestamp
    last_ts: _timestamp_pb2.Timestamp
    def __init__(self, symbol: _Optional[str] = ..., bars: _Optional[int] = ..., first_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListBacktestsRequest(_message.Message):
    __slots__ = ("owner", "page", "state", "strategy", "symbol")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    owner: str
    page: _common_pb2.PageRequest
    state: _common_pb2.JobState
    strategy: str
    symbol: str
    def __init__(self, owner: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., state: _Optional[_Union[_common_pb2.JobState, str]] = ..., strategy: _Optional[str] = ..., symbol: _Optional[str] = ...) -> None: ...

class ListBacktestsResponse(_message.Message):
    __slots__ = ("backtests", "page")
    BACKTESTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    backtests: _containers.RepeatedCompositeFieldContainer[Backtest]
    page: _common_pb2.PageResponse
    def __init__(self, backtests: _Optional[_Iterable[_Union[Backtest, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class DeleteBacktestRequest(_message.Message):
    __slots__ = ("id", "optimization")
    ID_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    optimization: bool
    def __init__(self, id: _Optional[str] = ..., optimization: _Optional[bool] = ...) -> None: ...

class DeleteBacktestResponse(_message.Message):
    __slots__ = ("backtest", "action")
    BACKTEST_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    backtest: Backtest
    action: str
    def __init__(self, backtest: _Optional[_Union[Backtest, _Mapping]] = ..., action: _Optional[str] = ...) -> None: ...

class CancelBacktestRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelBacktestResponse(_message.Message):
    __slots__ = ("backtest",)
    BACKTEST_FIELD_NUMBER: _ClassVar[int]
    backtest: Backtest
    def __init__(self, backtest: _Optional[_Union[Backtest, _Mapping]] = ...) -> None: ...

class ParamRange(_message.Message):
    __slots__ = ("name", "start", "stop", "step", "values")
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    name: str
    start: float
    stop: float
    step: float
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, name: _Optional[str] = ..., start: _Optional[float] = ..., stop: _Optional[float] = ..., step: _Optional[float] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class OptimizeRequest(_message.Message):
    __slots__ = ("spec", "ranges", "objective", "walk_forward_splits", "in_sample_fraction", "as_job")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    WALK_FORWARD_SPLITS_FIELD_NUMBER: _ClassVar[int]
    IN_SAMPLE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    AS_JOB_FIELD_NUMBER: _ClassVar[int]
    spec: BacktestSpec
    ranges: _containers.RepeatedCompositeFieldContainer[ParamRange]
    objective: str
    walk_forward_splits: int
    in_sample_fraction: float
    as_job: bool
    def __init__(self, spec: _Optional[_Union[BacktestSpec, _Mapping]] = ..., ranges: _Optional[_Iterable[_Union[ParamRange, _Mapping]]] = ..., objective: _Optional[str] = ..., walk_forward_splits: _Optional[int] = ..., in_sample_fraction: _Optional[float] = ..., as_job: _Optional[bool] = ...) -> None: ...

class OptimizeResult(_message.Message):
    __slots__ = ("params", "metrics", "out_of_sample")
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    params: _struct_pb2.Struct
    metrics: Metrics
    out_of_sample: Metrics
    def __init__(self, params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., metrics: _Optional[_Union[Metrics, _Mapping]] = ..., out_of_sample: _Optional[_Union[Metrics, _Mapping]] = ...) -> None: ...

class OptimizeProgress(_message.Message):
    __slots__ = ("done", "total", "best", "finished", "job_id")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BEST_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    done: int
    total: int
    best: _containers.RepeatedCompositeFieldContainer[OptimizeResult]
    finished: bool
    job_id: str
    def __init__(self, done: _Optional[int] = ..., total: _Optional[int] = ..., best: _Optional[_Iterable[_Union[OptimizeResult, _Mapping]]] = ..., finished: _Optional[bool] = ..., job_id: _Optional[str] = ...) -> None: ...

class GetOptimizationRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetOptimizationResponse(_message.Message):
    __slots__ = ("id", "state", "progress", "error", "objective", "request", "result", "created_at", "finished_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: _common_pb2.JobState
    progress: float
    error: str
    objective: str
    request: OptimizeRequest
    result: OptimizeProgress
    created_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.JobState, str]] = ..., progress: _Optional[float] = ..., error: _Optional[str] = ..., objective: _Optional[str] = ..., request: _Optional[_Union[OptimizeRequest, _Mapping]] = ..., result: _Optional[_Union[OptimizeProgress, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeployRequest(_message.Message):
    __slots__ = ("strategy_id", "symbols", "interval", "account_id", "mode", "sizing", "product", "name", "spec", "owner", "schedule")
    STRATEGY_ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SIZING_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    strategy_id: str
    symbols: _containers.RepeatedCompositeFieldContainer[_common_pb2.SymbolRef]
    interval: str
    account_id: str
    mode: RunMode
    sizing: Sizing
    product: Product
    name: str
    spec: BacktestSpec
    owner: str
    schedule: BotSchedule
    def __init__(self, strategy_id: _Optional[str] = ..., symbols: _Optional[_Iterable[_Union[_common_pb2.SymbolRef, _Mapping]]] = ..., interval: _Optional[str] = ..., account_id: _Optional[str] = ..., mode: _Optional[_Union[RunMode, str]] = ..., sizing: _Optional[_Union[Sizing, _Mapping]] = ..., product: _Optional[_Union[Product, str]] = ..., name: _Optional[str] = ..., spec: _Optional[_Union[BacktestSpec, _Mapping]] = ..., owner: _Optional[str] = ..., schedule: _Optional[_Union[BotSchedule, _Mapping]] = ...) -> None: ...

class DeployResponse(_message.Message):
    __slots__ = ("deployment_id", "state", "signal_key")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_KEY_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    state: BotState
    signal_key: str
    def __init__(self, deployment_id: _Optional[str] = ..., state: _Optional[_Union[BotState, _Mapping]] = ..., signal_key: _Optional[str] = ...) -> None: ...

class BotSchedule(_message.Message):
    __slots__ = ("start", "stop", "days")
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    start: str
    stop: str
    days: str
    def __init__(self, start: _Optional[str] = ..., stop: _Optional[str] = ..., days: _Optional[str] = ...) -> None: ...

class SetBotScheduleRequest(_message.Message):
    __slots__ = ("deployment_id", "schedule")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    schedule: BotSchedule
    def __init__(self, deployment_id: _Optional[str] = ..., schedule: _Optional[_Union[BotSchedule, _Mapping]] = ...) -> None: ...

class SetBotScheduleResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: BotState
    def __init__(self, state: _Optional[_Union[BotState, _Mapping]] = ...) -> None: ...

class StartRequest(_message.Message):
    __slots__ = ("deployment_id",)
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    def __init__(self, deployment_id: _Optional[str] = ...) -> None: ...

class StartResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: BotState
    def __init__(self, state: _Optional[_Union[BotState, _Mapping]] = ...) -> None: ...

class StopRequest(_message.Message):
    __slots__ = ("deployment_id",)
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    def __init__(self, deployment_id: _Optional[str] = ...) -> None: ...

class StopResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: BotState
    def __init__(self, state: _Optional[_Union[BotState, _Mapping]] = ...) -> None: ...

class PauseRequest(_message.Message):
    __slots__ = ("deployment_id",)
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    def __init__(self, deployment_id: _Optional[str] = ...) -> None: ...

class PauseResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: BotState
    def __init__(self, state: _Optional[_Union[BotState, _Mapping]] = ...) -> None: ...

class ListBotsRequest(_message.Message):
    __slots__ = ("owner",)
    OWNER_FIELD_NUMBER: _ClassVar[int]
    owner: str
    def __init__(self, owner: _Optional[str] = ...) -> None: ...

class ListBotsResponse(_message.Message):
    __slots__ = ("bots",)
    BOTS_FIELD_NUMBER: _ClassVar[int]
    bots: _containers.RepeatedCompositeFieldContainer[BotState]
    def __init__(self, bots: _Optional[_Iterable[_Union[BotState, _Mapping]]] = ...) -> None: ...

class GetBotRequest(_message.Message):
    __slots__ = ("deployment_id",)
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    def __init__(self, deployment_id: _Optional[str] = ...) -> None: ...

class GetBotResponse(_message.Message):
    __slots__ = ("state", "orders")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    state: BotState
    orders: _containers.RepeatedCompositeFieldContainer[BotOrder]
    def __init__(self, state: _Optional[_Union[BotState, _Mapping]] = ..., orders: _Optional[_Iterable[_Union[BotOrder, _Mapping]]] = ...) -> None: ...

class DeleteBotRequest(_message.Message):
    __slots__ = ("deployment_id",)
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    def __init__(self, deployment_id: _Optional[str] = ...) -> None: ...

class DeleteBotResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BotOrder(_message.Message):
    __slots__ = ("client_order_id", "bar_ts", "symbol", "side", "quantity", "tag", "reason", "order_id", "status")
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    BAR_TS_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    client_order_id: str
    bar_ts: _timestamp_pb2.Timestamp
    symbol: _common_pb2.SymbolRef
    side: str
    quantity: int
    tag: str
    reason: str
    order_id: str
    status: str
    def __init__(self, client_order_id: _Optional[str] = ..., bar_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., symbol: _Optional[_Union[_common_pb2.SymbolRef, _Mapping]] = ..., side: _Optional[str] = ..., quantity: _Optional[int] = ..., tag: _Optional[str] = ..., reason: _Optional[str] = ..., order_id: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class Signal(_message.Message):
    __slots__ = ("deployment_id", "ts", "symbol", "action", "quantity", "price_paise", "reason", "id", "source", "outcome", "detail", "client_order_id", "order_id", "target_weight", "seq", "created_at", "latency_us")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_US_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    ts: _timestamp_pb2.Timestamp
    symbol: _common_pb2.SymbolRef
    action: str
    quantity: int
    price_paise: int
    reason: str
    id: str
    source: str
    outcome: str
    detail: str
    client_order_id: str
    order_id: str
    target_weight: str
    seq: int
    created_at: _timestamp_pb2.Timestamp
    latency_us: int
    def __init__(self, deployment_id: _Optional[str] = ..., ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., symbol: _Optional[_Union[_common_pb2.SymbolRef, _Mapping]] = ..., action: _Optional[str] = ..., quantity: _Optional[int] = ..., price_paise: _Optional[int] = ..., reason: _Optional[str] = ..., id: _Optional[str] = ..., source: _Optional[str] = ..., outcome: _Optional[str] = ..., detail: _Optional[str] = ..., client_order_id: _Optional[str] = ..., order_id: _Optional[str] = ..., target_weight: _Optional[str] = ..., seq: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latency_us: _Optional[int] = ...) -> None: ...

class StreamSignalsRequest(_message.Message):
    __slots__ = ("deployment_id", "recent")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECENT_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    recent: int
    def __init__(self, deployment_id: _Optional[str] = ..., recent: _Optional[int] = ...) -> None: ...

class StreamBotStateRequest(_message.Message):
    __slots__ = ("deployment_id",)
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    def __init__(self, deployment_id: _Optional[str] = ...) -> None: ...

class BotState(_message.Message):
    __slots__ = ("deployment_id", "running", "mode", "account_id", "state", "updated_at", "status", "name", "error", "bars", "orders", "spec", "owner", "schedule")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    running: bool
    mode: RunMode
    account_id: str
    state: _struct_pb2.Struct
    updated_at: _timestamp_pb2.Timestamp
    status: BotStatus
    name: str
    error: str
    bars: int
    orders: int
    spec: BacktestSpec
    owner: str
    schedule: BotSchedule
    def __init__(self, deployment_id: _Optional[str] = ..., running: _Optional[bool] = ..., mode: _Optional[_Union[RunMode, str]] = ..., account_id: _Optional[str] = ..., state: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[BotStatus, str]] = ..., name: _Optional[str] = ..., error: _Optional[str] = ..., bars: _Optional[int] = ..., orders: _Optional[int] = ..., spec: _Optional[_Union[BacktestSpec, _Mapping]] = ..., owner: _Optional[str] = ..., schedule: _Optional[_Union[BotSchedule, _Mapping]] = ...) -> None: ...

class BotLog(_message.Message):
    __slots__ = ("id", "deployment_id", "ts", "level", "event", "message", "fields")
    ID_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: int
    deployment_id: str
    ts: _timestamp_pb2.Timestamp
    level: str
    event: str
    message: str
    fields: _struct_pb2.Struct
    def __init__(self, id: _Optional[int] = ..., deployment_id: _Optional[str] = ..., ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., level: _Optional[str] = ..., event: _Optional[str] = ..., message: _Optional[str] = ..., fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ListBotLogsRequest(_message.Message):
    __slots__ = ("deployment_id", "level", "since", "before_id", "limit")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    level: str
    since: _timestamp_pb2.Timestamp
    before_id: int
    limit: int
    def __init__(self, deployment_id: _Optional[str] = ..., level: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., before_id: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListBotLogsResponse(_message.Message):
    __slots__ = ("logs", "next_before_id")
    LOGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    logs: _containers.RepeatedCompositeFieldContainer[BotLog]
    next_before_id: int
    def __init__(self, logs: _Optional[_Iterable[_Union[BotLog, _Mapping]]] = ..., next_before_id: _Optional[int] = ...) -> None: ...

class ListSignalsRequest(_message.Message):
    __slots__ = ("deployment_id", "before_seq", "limit")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    BEFORE_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    before_seq: int
    limit: int
    def __init__(self, deployment_id: _Optional[str] = ..., before_seq: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListSignalsResponse(_message.Message):
    __slots__ = ("signals", "next_before_seq")
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEFORE_SEQ_FIELD_NUMBER: _ClassVar[int]
    signals: _containers.RepeatedCompositeFieldContainer[Signal]
    next_before_seq: int
    def __init__(self, signals: _Optional[_Iterable[_Union[Signal, _Mapping]]] = ..., next_before_seq: _Optional[int] = ...) -> None: ...

class PostSignalRequest(_message.Message):
    __slots__ = ("deployment_id", "key", "id", "symbol", "side", "quantity", "target_weight", "ts")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TARGET_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    key: str
    id: str
    symbol: str
    side: str
    quantity: int
    target_weight: str
    ts: _timestamp_pb2.Timestamp
    def __init__(self, deployment_id: _Optional[str] = ..., key: _Optional[str] = ..., id: _Optional[str] = ..., symbol: _Optional[str] = ..., side: _Optional[str] = ..., quantity: _Optional[int] = ..., target_weight: _Optional[str] = ..., ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PostSignalResponse(_message.Message):
    __slots__ = ("signal", "duplicate")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    signal: Signal
    duplicate: bool
    def __init__(self, signal: _Optional[_Union[Signal, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class RotateBotKeyRequest(_message.Message):
    __slots__ = ("deployment_id",)
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    def __init__(self, deployment_id: _Optional[str] = ...) -> None: ...

class RotateBotKeyResponse(_message.Message):
    __slots__ = ("signal_key",)
    SIGNAL_KEY_FIELD_NUMBER: _ClassVar[int]
    signal_key: str
    def __init__(self, signal_key: _Optional[str] = ...) -> None: ...

class StreamBotLogsRequest(_message.Message):
    __slots__ = ("deployment_id", "recent", "level")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECENT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    recent: int
    level: str
    def __init__(self, deployment_id: _Optional[str] = ..., recent: _Optional[int] = ..., level: _Optional[str] = ...) -> None: ...

class GetParityRequest(_message.Message):
    __slots__ = ("deployment_id", "date", "refresh")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    date: str
    refresh: bool
    def __init__(self, deployment_id: _Optional[str] = ..., date: _Optional[str] = ..., refresh: _Optional[bool] = ...) -> None: ...

class ParityOrder(_message.Message):
    __slots__ = ("side", "quantity", "price_paise", "bar_ts", "reason", "status", "filled_quantity", "sent_ts")
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    BAR_TS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILLED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    SENT_TS_FIELD_NUMBER: _ClassVar[int]
    side: str
    quantity: int
    price_paise: int
    bar_ts: _timestamp_pb2.Timestamp
    reason: str
    status: str
    filled_quantity: int
    sent_ts: _timestamp_pb2.Timestamp
    def __init__(self, side: _Optional[str] = ..., quantity: _Optional[int] = ..., price_paise: _Optional[int] = ..., bar_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., status: _Optional[str] = ..., filled_quantity: _Optional[int] = ..., sent_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ParityDifference(_message.Message):
    __slots__ = ("kind", "category", "explained", "symbol", "tag", "bar_ts", "detail", "amount_paise", "client_order_id", "backtest", "live")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    EXPLAINED_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    BAR_TS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_PAISE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    BACKTEST_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    category: str
    explained: bool
    symbol: str
    tag: str
    bar_ts: _timestamp_pb2.Timestamp
    detail: str
    amount_paise: int
    client_order_id: str
    backtest: ParityOrder
    live: ParityOrder
    def __init__(self, kind: _Optional[str] = ..., category: _Optional[str] = ..., explained: _Optional[bool] = ..., symbol: _Optional[str] = ..., tag: _Optional[str] = ..., bar_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detail: _Optional[str] = ..., amount_paise: _Optional[int] = ..., client_order_id: _Optional[str] = ..., backtest: _Optional[_Union[ParityOrder, _Mapping]] = ..., live: _Optional[_Union[ParityOrder, _Mapping]] = ...) -> None: ...

class GetParityResponse(_message.Message):
    __slots__ = ("deployment_id", "date", "differences", "unexplained", "backtest_orders", "live_orders", "matched", "pnl_backtest_paise", "pnl_live_paise", "pnl_difference_paise", "pnl_unexplained_paise", "computed_at", "stored", "warmup_bot_from", "warmup_backtest_from", "candles")
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    UNEXPLAINED_FIELD_NUMBER: _ClassVar[int]
    BACKTEST_ORDERS_FIELD_NUMBER: _ClassVar[int]
    LIVE_ORDERS_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    PNL_BACKTEST_PAISE_FIELD_NUMBER: _ClassVar[int]
    PNL_LIVE_PAISE_FIELD_NUMBER: _ClassVar[int]
    PNL_DIFFERENCE_PAISE_FIELD_NUMBER: _ClassVar[int]
    PNL_UNEXPLAINED_PAISE_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_AT_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    WARMUP_BOT_FROM_FIELD_NUMBER: _ClassVar[int]
    WARMUP_BACKTEST_FROM_FIELD_NUMBER: _ClassVar[int]
    CANDLES_FIELD_NUMBER: _ClassVar[int]
    deployment_id: str
    date: str
    differences: _containers.RepeatedCompositeFieldContainer[ParityDifference]
    unexplained: int
    backtest_orders: int
    live_orders: int
    matched: int
    pnl_backtest_paise: int
    pnl_live_paise: int
    pnl_difference_paise: int
    pnl_unexplained_paise: int
    computed_at: _timestamp_pb2.Timestamp
    stored: bool
    warmup_bot_from: _timestamp_pb2.Timestamp
    warmup_backtest_from: _timestamp_pb2.Timestamp
    candles: _containers.RepeatedCompositeFieldContainer[ParityCandles]
    def __init__(self, deployment_id: _Optional[str] = ..., date: _Optional[str] = ..., differences: _Optional[_Iterable[_Union[ParityDifference, _Mapping]]] = ..., unexplained: _Optional[int] = ..., backtest_orders: _Optional[int] = ..., live_orders: _Optional[int] = ..., matched: _Optional[int] = ..., pnl_backtest_paise: _Optional[int] = ..., pnl_live_paise: _Optional[int] = ..., pnl_difference_paise: _Optional[int] = ..., pnl_unexplained_paise: _Optional[int] = ..., computed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stored: _Optional[bool] = ..., warmup_bot_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., warmup_backtest_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., candles: _Optional[_Iterable[_Union[ParityCandles, _Mapping]]] = ...) -> None: ...

class ParityCandles(_message.Message):
    __slots__ = ("symbol", "stored", "live_known", "live", "missing", "differing")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    LIVE_KNOWN_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    DIFFERING_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    stored: int
    live_known: bool
    live: int
    missing: int
    differing: int
    def __init__(self, symbol: _Optional[str] = ..., stored: _Optional[int] = ..., live_known: _Optional[bool] = ..., live: _Optional[int] = ..., missing: _Optional[int] = ..., differing: _Optional[int] = ...) -> None: ...
