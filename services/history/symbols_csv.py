"""Parse a user's bulk list of symbols into batch items.

Users paste watchlists exported from everywhere: one `SYMBOL` per line, `EXCHANGE,SYMBOL`,
a header row, `#` comments, Windows line endings, a BOM. The parser is forgiving about layout
and strict about content: every line that cannot become an item is reported back with its line
number and reason instead of failing the whole upload, while input that is not a symbol list at
all (binary, too large) is refused outright with InvalidInput naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mandi.core.errors import InvalidInput

MAX_BYTES = 1_000_000
MAX_LINES = 5000
EXCHANGES = ("NSE", "BSE", "NFO", "BFO")
# Kite trading symbols: letters, digits and - & _ . ; index names carry spaces ("NIFTY 50").
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9&_.\- ]{0,39}$")
_HEADER_WORDS = {"symbol", "tradingsymbol", "exchange", "ticker", "scrip", "instrument"}


@dataclass(frozen=True, slots=True)
class SymbolItem:
    line: int
    exchange: str
    tradingsymbol: str


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedSymbols:
    items: list[SymbolItem]
    rejected: list[Rejected]


def _decode(data: bytes, field: str) -> str:
    if len(data) > MAX_BYTES:
        raise InvalidInput(
            f"symbol file is {len(data)} bytes; the limit is {MAX_BYTES} bytes", field=field
        )
    if b"\x00" in data:
        raise InvalidInput("symbol file looks binary (contains NUL bytes); expected CSV text",
                           field=field)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"symbol file is not UTF-8 text (bad byte at offset {exc.start})", field=field
        ) from None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t")
    if controls:
        raise InvalidInput(
            f"symbol file contains {controls} control characters; expected CSV text", field=field
        )
    return text


def parse_symbols_csv(
    data: bytes, *, default_exchange: str = "NSE", field: str = "csv"
) -> ParsedSymbols:
    """Items in file order (duplicates dropped and reported) plus rejected lines with reasons.

    Raises InvalidInput when the file as a whole is unusable: too large, binary, too many lines,
    or no symbol on any line.
    """
    default_exchange = default_exchange.strip().upper()
    if default_exchange not in EXCHANGES:
        raise InvalidInput(
            f"default exchange {default_exchange!r} is not one of {', '.join(EXCHANGES)}",
            field="default_exchange",
        )
    text = _decode(data, field)
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"symbol file has {len(lines)} lines; the limit is {MAX_LINES}",
                           field=field)
    items: list[SymbolItem] = []
    rejected: list[Rejected] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cells = [c.strip().strip('"').strip() for c in re.split(r"[,;\t]", line)]
        cells = [c for c in cells if c]
        if not items and not rejected and {c.lower() for c in cells} & _HEADER_WORDS:
            continue  # header row
        if len(cells) == 1:
            exchange, symbol = default_exchange, cells[0].upper()
            if ":" in symbol:  # NSE:INFY, as Kite writes it
                exchange, _, symbol = symbol.partition(":")
        elif len(cells) == 2:
            exchange, symbol = cells[0].upper(), cells[1].upper()
        else:
            rejected.append(Rejected(number, raw, "expected SYMBOL or EXCHANGE,SYMBOL"))
            continue
        if exchange not in EXCHANGES:
            rejected.append(Rejected(number, raw,
                                     f"unknown exchange {exchange!r}; expected one of "
                                     f"{', '.join(EXCHANGES)}"))
            continue
        if not _SYMBOL.match(symbol):
            rejected.append(Rejected(number, raw, f"invalid symbol {symbol!r}"))
            continue
        key = (exchange, symbol)
        if key in seen:
            rejected.append(Rejected(number, raw, f"duplicate of line {seen[key]}"))
            continue
        seen[key] = number
        items.append(SymbolItem(number, exchange, symbol))
    if not items:
        reason = (f"line {rejected[0].line}: {rejected[0].reason}" if rejected
                  else "the file is empty")
        raise InvalidInput(f"symbol file has no symbols: {reason}", field=field)
    return ParsedSymbols(items, rejected)
