"""Conversions between protobuf messages and domain values, in one place.

Every service and the gateway convert exchanges, timestamps and instrument references the same
way; a wrong value raises InvalidInput naming the field instead of silently becoming a default.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from google.protobuf.timestamp_pb2 import Timestamp

from mandi.core.clock import IST
from mandi.core.errors import InvalidInput
from mandi.v1 import common_pb2

EXCHANGES: dict[str, int] = {
    "NSE": common_pb2.EXCHANGE_NSE,
    "BSE": common_pb2.EXCHANGE_BSE,
    "NFO": common_pb2.EXCHANGE_NFO,
    "BFO": common_pb2.EXCHANGE_BFO,
    "INDICES": common_pb2.EXCHANGE_INDICES,
}
EXCHANGE_NAMES: dict[int, str] = {v: k for k, v in EXCHANGES.items()}
SEGMENT_EXCHANGES: dict[str, tuple[str, ...]] = {
    "EQUITY": ("NSE", "BSE"),
    "DERIVATIVES": ("NFO", "BFO"),
}
SEGMENTS: dict[str, int] = {
    "EQUITY": common_pb2.SEGMENT_EQUITY,
    "DERIVATIVES": common_pb2.SEGMENT_DERIVATIVES,
}
SEGMENT_NAMES: dict[int, str] = {v: k for k, v in SEGMENTS.items()}
INSTRUMENT_TYPES: dict[str, int] = {
    "EQ": common_pb2.INSTRUMENT_TYPE_EQ,
    "FUT": common_pb2.INSTRUMENT_TYPE_FUT,
    "CE": common_pb2.INSTRUMENT_TYPE_CE,
    "PE": common_pb2.INSTRUMENT_TYPE_PE,
    "INDEX": common_pb2.INSTRUMENT_TYPE_INDEX,
}
INSTRUMENT_TYPE_NAMES: dict[int, str] = {v: k for k, v in INSTRUMENT_TYPES.items()}


def exchange_enum(name: str, *, field: str = "exchange",
                  allowed: tuple[str, ...] | None = None) -> int:
    key = (name or "").strip().upper()
    if key not in EXCHANGES or (allowed is not None and key not in allowed):
        choices = ", ".join(allowed or tuple(EXCHANGES))
        raise InvalidInput(f"unknown exchange {name!r}; expected one of {choices}", field=field)
    return EXCHANGES[key]


def exchange_name(value: int, *, field: str = "exchange") -> str:
    try:
        return EXCHANGE_NAMES[value]
    except KeyError:
        raise InvalidInput("exchange is required", field=field) from None


def segment_enum(name: str, *, field: str = "segment") -> int:
    key = (name or "").strip().upper()
    if key not in SEGMENTS:
        raise InvalidInput(f"unknown segment {name!r}; expected EQUITY or DERIVATIVES",
                           field=field)
    return SEGMENTS[key]


def to_timestamp(dt: datetime) -> Timestamp:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: timestamps must be timezone-aware")
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def has_timestamp(ts: Timestamp) -> bool:
    return ts.seconds != 0 or ts.nanos != 0


def parse_ist(value: str, *, field: str, end_of_day: bool = False) -> datetime:
    """Parse a user date or datetime given in exchange time.

    Accepts `YYYY-MM-DD` (start of that IST day, or the start of the next day when
    `end_of_day`, so a to_date is inclusive), `YYYY-MM-DD HH:MM[:SS]`, and ISO 8601 with an
    offset. Returns an aware UTC datetime.
    """
    text = (value or "").strip()
    if not text:
        raise InvalidInput("a date is required (YYYY-MM-DD)", field=field)
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            dt = datetime.combine(d, time(0), IST)
            if end_of_day:
                dt = datetime.combine(date.fromordinal(d.toordinal() + 1), time(0), IST)
            return dt.astimezone(UTC)
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"malformed date {value!r}; expected YYYY-MM-DD or "
                           "YYYY-MM-DD HH:MM:SS", field=field) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=IST)
    return dt.astimezone(UTC)


def symbol_ref(exchange: str, tradingsymbol: str, *, field: str = "symbol",
               allowed: tuple[str, ...] | None = None) -> common_pb2.InstrumentRef:
    sym = (tradingsymbol or "").strip().upper()
    if not sym:
        raise InvalidInput("a trading symbol is required", field=field)
    if len(sym) > 64 or any(c.isspace() and c != " " for c in sym):
        raise InvalidInput(f"malformed trading symbol {tradingsymbol!r}", field=field)
    return common_pb2.InstrumentRef(symbol=common_pb2.SymbolRef(
        exchange=exchange_enum(exchange, allowed=allowed), tradingsymbol=sym))
