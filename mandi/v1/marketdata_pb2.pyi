import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mandi.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TickMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICK_MODE_UNSPECIFIED: _ClassVar[TickMode]
    TICK_MODE_LTP: _ClassVar[TickMode]
    TICK_MODE_QUOTE: _ClassVar[TickMode]
    TICK_MODE_FULL: _ClassVar[TickMode]
TICK_MODE_UNSPECIFIED: TickMode
TICK_MODE_LTP: TickMode
TICK_MODE_QUOTE: TickMode
TICK_MODE_FULL: TickMode

class SubscribeRequest(_message.Message):
    __slots__ = ("instruments", "mode", "candle_intervals")
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    CANDLE_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    instruments: _containers.RepeatedCompositeFieldContainer[_common_pb2.InstrumentRef]
    mode: TickMode
    candle_intervals: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, instruments: _Optional[_Iterable[_Union[_common_pb2.InstrumentRef, _Mapping]]] = ..., mode: _Optional[_Union[TickMode, str]] = ..., candle_intervals: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("subscribed",)
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    subscribed: _containers.RepeatedCompositeFieldContainer[_common_pb2.Instrument]
    def __init__(self, subscribed: _Optional[_Iterable[_Union[_common_pb2.Instrument, _Mapping]]] = ...) -> None: ...

class UnsubscribeRequest(_message.Message):
    __slots__ = ("instruments",)
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    instruments: _containers.RepeatedCompositeFieldContainer[_common_pb2.InstrumentRef]
    def __init__(self, instruments: _Optional[_Iterable[_Union[_common_pb2.InstrumentRef, _Mapping]]] = ...) -> None: ...

class UnsubscribeResponse(_message.Message):
    __slots__ = ("unsubscribed",)
    UNSUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    unsubscribed: int
    def __init__(self, unsubscribed: _Optional[int] = ...) -> None: ...

class ListSubscriptionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("instrument", "mode", "candle_intervals")
    INSTRUMENT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    CANDLE_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    instrument: _common_pb2.Instrument
    mode: TickMode
    candle_intervals: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, instrument: _Optional[_Union[_common_pb2.Instrument, _Mapping]] = ..., mode: _Optional[_Union[TickMode, str]] = ..., candle_intervals: _Optional[_Iterable[str]] = ...) -> None: ...

class ListSubscriptionsResponse(_message.Message):
    __slots__ = ("subscriptions",)
    SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    subscriptions: _containers.RepeatedCompositeFieldContainer[Subscription]
    def __init__(self, subscriptions: _Optional[_Iterable[_Union[Subscription, _Mapping]]] = ...) -> None: ...

class StreamTicksRequest(_message.Message):
    __slots__ = ("instrument_tokens", "queue_size")
    INSTRUMENT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    instrument_tokens: _containers.RepeatedScalarFieldContainer[int]
    queue_size: int
    def __init__(self, instrument_tokens: _Optional[_Iterable[int]] = ..., queue_size: _Optional[int] = ...) -> None: ...

class StreamTicksResponse(_message.Message):
    __slots__ = ("ticks", "dropped")
    TICKS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    ticks: _containers.RepeatedCompositeFieldContainer[_common_pb2.Tick]
    dropped: int
    def __init__(self, ticks: _Optional[_Iterable[_Union[_common_pb2.Tick, _Mapping]]] = ..., dropped: _Optional[int] = ...) -> None: ...

class StreamCandlesRequest(_message.Message):
    __slots__ = ("instrument_tokens", "interval", "include_forming", "queue_size", "since")
    INSTRUMENT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FORMING_FIELD_NUMBER: _ClassVar[int]
    QUEUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    instrument_tokens: _containers.RepeatedScalarFieldContainer[int]
    interval: str
    include_forming: bool
    queue_size: int
    since: _timestamp_pb2.Timestamp
    def __init__(self, instrument_tokens: _Optional[_Iterable[int]] = ..., interval: _Optional[str] = ..., include_forming: _Optional[bool] = ..., queue_size: _Optional[int] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StreamCandlesResponse(_message.Message):
    __slots__ = ("instrument_token", "interval", "candle", "closed", "dropped", "source", "gap")
    INSTRUMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    CANDLE_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    instrument_token: int
    interval: str
    candle: _common_pb2.Candle
    closed: bool
    dropped: int
    source: str
    gap: CandleGap
    def __init__(self, instrument_token: _Optional[int] = ..., interval: _Optional[str] = ..., candle: _Optional[_Union[_common_pb2.Candle, _Mapping]] = ..., closed: _Optional[bool] = ..., dropped: _Optional[int] = ..., source: _Optional[str] = ..., gap: _Optional[_Union[CandleGap, _Mapping]] = ...) -> None: ...

class CandleGap(_message.Message):
    __slots__ = ("to", "reason")
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    to: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., **kwargs) -> None: ...

class GetLtpRequest(_message.Message):
    __slots__ = ("instruments",)
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    instruments: _containers.RepeatedCompositeFieldContainer[_common_pb2.InstrumentRef]
    def __init__(self, instruments: _Optional[_Iterable[_Union[_common_pb2.InstrumentRef, _Mapping]]] = ...) -> None: ...

class Ltp(_message.Message):
    __slots__ = ("instrument_token", "last_price_paise", "ts")
    INSTRUMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LAST_PRICE_PAISE_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    instrument_token: int
    last_price_paise: int
    ts: _timestamp_pb2.Timestamp
    def __init__(self, instrument_token: _Optional[int] = ..., last_price_paise: _Optional[int] = ..., ts: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetLtpResponse(_message.Message):
    __slots__ = ("prices",)
    PRICES_FIELD_NUMBER: _ClassVar[int]
    prices: _containers.RepeatedCompositeFieldContainer[Ltp]
    def __init__(self, prices: _Optional[_Iterable[_Union[Ltp, _Mapping]]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConnectionStatus(_message.Message):
    __slots__ = ("index", "state", "instruments", "reconnects", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    RECONNECTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    state: str
    instruments: int
    reconnects: int
    error: str
    def __init__(self, index: _Optional[int] = ..., state: _Optional[str] = ..., instruments: _Optional[int] = ..., reconnects: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("active", "replica_id", "active_replica_id", "connections", "subscribed_instruments", "stream_subscribers")
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_INSTRUMENTS_FIELD_NUMBER: _ClassVar[int]
    STREAM_SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    active: bool
    replica_id: str
    active_replica_id: str
    connections: _containers.RepeatedCompositeFieldContainer[ConnectionStatus]
    subscribed_instruments: int
    stream_subscribers: int
    def __init__(self, active: _Optional[bool] = ..., replica_id: _Optional[str] = ..., active_replica_id: _Optional[str] = ..., connections: _Optional[_Iterable[_Union[ConnectionStatus, _Mapping]]] = ..., subscribed_instruments: _Optional[int] = ..., stream_subscribers: _Optional[int] = ...) -> None: ...
