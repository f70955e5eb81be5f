import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Exchange(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXCHANGE_UNSPECIFIED: _ClassVar[Exchange]
    EXCHANGE_NSE: _ClassVar[Exchange]
    EXCHANGE_BSE: _ClassVar[Exchange]
    EXCHANGE_NFO: _ClassVar[Exchange]
    EXCHANGE_BFO: _ClassVar[Exchange]
    EXCHANGE_INDICES: _ClassVar[Exchange]

class Segment(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEGMENT_UNSPECIFIED: _ClassVar[Segment]
    SEGMENT_EQUITY: _ClassVar[Segment]
    SEGMENT_DERIVATIVES: _ClassVar[Segment]

class InstrumentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTRUMENT_TYPE_UNSPECIFIED: _ClassVar[InstrumentType]
    INSTRUMENT_TYPE_EQ: _ClassVar[InstrumentType]
    INSTRUMENT_TYPE_FUT: _ClassVar[InstrumentType]
    INSTRUMENT_TYPE_CE: _ClassVar[InstrumentType]
    INSTRUMENT_TYPE_PE: _ClassVar[InstrumentType]
    INSTRUMENT_TYPE_INDEX: _ClassVar[InstrumentType]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_DONE: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
EXCHANGE_UNSPECIFIED: Exchange
EXCHANGE_NSE: Exchange
EXCHANGE_BSE: Exchange
EXCHANGE_NFO: Exchange
EXCHANGE_BFO: Exchange
EXCHANGE_INDICES: Exchange
SEGMENT_UNSPECIFIED: Segment
SEGMENT_EQUITY: Segment
SEGMENT_DERIVATIVES: Segment
INSTRUMENT_TYPE_UNSPECIFIED: InstrumentType
INSTRUMENT_TYPE_EQ: InstrumentType
INSTRUMENT_TYPE_FUT: InstrumentType
INSTRUMENT_TYPE_CE: InstrumentType
INSTRUMENT_TYPE_PE: InstrumentType
INSTRUMENT_TYPE_INDEX: InstrumentType
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_DONE: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class InstrumentRef(_message.Message):
    __slots__ = ("instrument_token", "symbol")
    INSTRUMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    instrument_token: int
    symbol: SymbolRef
    def __init__(self, instrument_token: _Optional[int] = ..., symbol: _Optional[_Union[SymbolRef, _Mapping]] = ...) -> None: ...

class SymbolRef(_message.Message):
    __slots__ = ("exchange", "tradingsymbol")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    TRADINGSYMBOL_FIELD_NUMBER: _ClassVar[int]
    exchange: Exchange
    tradingsymbol: str
    def __init__(self, exchange: _Optional[_Union[Exchange, str]] = ..., tradingsymbol: _Optional[str] = ...) -> None: ...

class Instrument(_message.Message):
    __slots__ = ("instrument_token", "exchange_token", "tradingsymbol", "name", "exchange", "segment", "instrument_type", "expiry", "strike_paise", "tick_size_paise", "lot_size", "last_price_paise", "underlying", "active", "last_seen")
    INSTRUMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TRADINGSYMBOL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    STRIKE_PAISE_FIELD_NUMBER: _ClassVar[int]
    TICK_SIZE_PAISE_FIELD_NUMBER: _ClassVar[int]
    LOT_SIZE_FIELD_NUMBER: _ClassVar[int]
    LAST_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    UNDERLYING_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    exchange: Exchange
    segment: str
    instrument_type: InstrumentType
    expiry: str
    strike_paise: int
    tick_size_paise: int
    lot_size: int
    last_price_paise: int
    underlying: str
    active: bool
    last_seen: str
    def __init__(self, instrument_token: _Optional[int] = ..., exchange_token: _Optional[int] = ..., tradingsymbol: _Optional[str] = ..., name: _Optional[str] = ..., exchange: _Optional[_Union[Exchange, str]] = ..., segment: _Optional[str] = ..., instrument_type: _Optional[_Union[InstrumentType, str]] = ..., expiry: _Optional[str] = ..., strike_paise: _Optional[int] = ..., tick_size_paise: _Optional[int] = ..., lot_size: _Optional[int] = ..., last_price_paise: _Optional[int] = ..., underlying: _Optional[str] = ..., active: _Optional[bool] = ..., last_seen: _Optional[str] = ...) -> None: ...

class Candle(_message.Message):
    __slots__ = ("ts", "open", "high", "low", "close", "volume", "oi")
    TS_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    OI_FIELD_NUMBER: _ClassVar[int]
    ts: _timestamp_pb2.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: int
    oi: int
    def __init__(self, ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open: _Optional[float] = ..., high: _Optional[float] = ..., low: _Optional[float] = ..., close: _Optional[float] = ..., volume: _Optional[int] = ..., oi: _Optional[int] = ...) -> None: ...

class CandleBatch(_message.Message):
    __slots__ = ("ts_unix_ms", "open", "high", "low", "close", "volume", "oi")
    TS_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    OI_FIELD_NUMBER: _ClassVar[int]
    ts_unix_ms: _containers.RepeatedScalarFieldContainer[int]
    open: _containers.RepeatedScalarFieldContainer[float]
    high: _containers.RepeatedScalarFieldContainer[float]
    low: _containers.RepeatedScalarFieldContainer[float]
    close: _containers.RepeatedScalarFieldContainer[float]
    volume: _containers.RepeatedScalarFieldContainer[int]
    oi: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ts_unix_ms: _Optional[_Iterable[int]] = ..., open: _Optional[_Iterable[float]] = ..., high: _Optional[_Iterable[float]] = ..., low: _Optional[_Iterable[float]] = ..., close: _Optional[_Iterable[float]] = ..., volume: _Optional[_Iterable[int]] = ..., oi: _Optional[_Iterable[int]] = ...) -> None: ...

class DepthLevel(_message.Message):
    __slots__ = ("price", "quantity", "orders")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    price: float
    quantity: int
    orders: int
    def __init__(self, price: _Optional[float] = ..., quantity: _Optional[int] = ..., orders: _Optional[int] = ...) -> None: ...

class Tick(_message.Message):
    __slots__ = ("instrument_token", "exchange_ts", "last_price", "last_traded_quantity", "average_traded_price", "volume_traded", "total_buy_quantity", "total_sell_quantity", "open", "high", "low", "close", "oi", "bids", "asks", "tradingsymbol", "exchange", "received_unix_ns")
    INSTRUMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_TS_FIELD_NUMBER: _ClassVar[int]
    LAST_PRICE_FIELD_NUMBER: _ClassVar[int]
    LAST_TRADED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_TRADED_PRICE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_TRADED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BUY_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SELL_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    OI_FIELD_NUMBER: _ClassVar[int]
    BIDS_FIELD_NUMBER: _ClassVar[int]
    ASKS_FIELD_NUMBER: _ClassVar[int]
    TRADINGSYMBOL_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_UNIX_NS_FIELD_NUMBER: _ClassVar[int]
    instrument_token: int
    exchange_ts: _timestamp_pb2.Timestamp
    last_price: float
    last_traded_quantity: int
    average_traded_price: float
    volume_traded: int
    total_buy_quantity: int
    total_sell_quantity: int
    open: float
    high: float
    low: float
    close: float
    oi: int
    bids: _containers.RepeatedCompositeFieldContainer[DepthLevel]
    asks: _containers.RepeatedCompositeFieldContainer[DepthLevel]
    tradingsymbol: str
    exchange: Exchange
    received_unix_ns: int
    def __init__(self, instrument_token: _Optional[int] = ..., exchange_ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_price: _Optional[float] = ..., last_traded_quantity: _Optional[int] = ..., average_traded_price: _Optional[float] = ..., volume_traded: _Optional[int] = ..., total_buy_quantity: _Optional[int] = ..., total_sell_quantity: _Optional[int] = ..., open: _Optional[float] = ..., high: _Optional[float] = ..., low: _Optional[float] = ..., close: _Optional[float] = ..., oi: _Optional[int] = ..., bids: _Optional[_Iterable[_Union[DepthLevel, _Mapping]]] = ..., asks: _Optional[_Iterable[_Union[DepthLevel, _Mapping]]] = ..., tradingsymbol: _Optional[str] = ..., exchange: _Optional[_Union[Exchange, str]] = ..., received_unix_ns: _Optional[int] = ...) -> None: ...

class TimeRange(_message.Message):
    __slots__ = ("to",)
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    to: _timestamp_pb2.Timestamp
    def __init__(self, to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., **kwargs) -> None: ...

class PageRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class PageResponse(_message.Message):
    __slots__ = ("next_page_token", "total")
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    total: int
    def __init__(self, next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...
