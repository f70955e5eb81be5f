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
    __slots__ = ("instrument_tokens", "interval", "include_forming", "queue_size")
    INSTRUMENT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FORMING_FIELD_NUMBER: _ClassVar[int]
    QUEUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    instrument_tokens: _containers.RepeatedScalarFieldContainer[int]
    interval: str
    include_forming: bool
    queue_size: int
    def __init__(self, instrument_tokens: _Optional[_Iterable[int]] = ..., interval: _Optional[str] = ..., include_forming: _Optional[bool] = ..., queue_size: _Optional[int] = ...) -> None: ...

class StreamCandlesResponse(_message.Message):
    __slots__ = ("instrument_token", "interval", "candle", "closed", "dropped")
    INSTRUMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    CANDLE_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    instrument_token: int
    interval: str
    candle: _common_pb2.Candle
    closed: bool
    dropped: int
    def __init__(self, instrument_token: _Optional[int] = ..., interval: _Optional[str] = ..., candle: _Optional[_Union[_common_pb2.Candle, _Mapping]] = ..., closed: _Optional[bool] = ..., dropped: _Optional[int] = ...) -> None: ...

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
