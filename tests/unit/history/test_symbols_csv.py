"""Bulk symbol lists: forgiving about layout, strict about content."""

from __future__ import annotations

import pytest

from mandi.core.errors import InvalidInput
from services.history.symbols_csv import MAX_BYTES, MAX_LINES, parse_symbols_csv


def _pairs(data: bytes, **kw: str) -> list[tuple[str, str]]:
    return [(i.exchange, i.tradingsymbol) for i in parse_symbols_csv(data, **kw).items]


def test_parse_when_one_symbol_per_line_uses_default_exchange() -> None:
    assert _pairs(b"INFY\ntcs\n", default_exchange="BSE") == [("BSE", "INFY"), ("BSE", "TCS")]


def test_parse_when_exchange_symbol_pairs_with_header_and_comments_keeps_pairs() -> None:
    data = (b"\xef\xbb\xbfexchange,tradingsymbol\r\n# my list\r\n"
            b"NSE,INFY\r\nNFO, NIFTY24JANFUT # fut\r\n")
    assert _pairs(data) == [("NSE", "INFY"), ("NFO", "NIFTY24JANFUT")]


def test_parse_when_kite_colon_form_splits_exchange() -> None:
    assert _pairs(b"BSE:RELIANCE\n") == [("BSE", "RELIANCE")]


def test_parse_when_bad_lines_reports_line_numbers_and_reasons() -> None:
    parsed = parse_symbols_csv(b"INFY\nMCX,GOLD\nNSE,IN$FY\nNSE,INFY\na,b,c\n")
    assert [(i.exchange, i.tradingsymbol) for i in parsed.items] == [("NSE", "INFY")]
    reasons = {r.line: r.reason for r in parsed.rejected}
    assert "unknown exchange 'MCX'" in reasons[2]
    assert "invalid symbol" in reasons[3]
    assert reasons[4] == "duplicate of line 1"
    assert "expected SYMBOL or EXCHANGE,SYMBOL" in reasons[5]


def test_parse_when_binary_raises_invalid_input_naming_field() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_symbols_csv(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert err.value.field == "csv"
    assert "binary" in err.value.message


def test_parse_when_not_utf8_raises_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not UTF-8"):
        parse_symbols_csv(b"INFY\n\xff\xfe\n")


def test_parse_when_too_large_raises_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="limit is"):
        parse_symbols_csv(b"A\n" * (MAX_BYTES // 2 + 1))


def test_parse_when_too_many_lines_raises_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=f"limit is {MAX_LINES}"):
        parse_symbols_csv(b"INFY\n" * (MAX_LINES + 1))


def test_parse_when_empty_or_only_comments_raises_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        parse_symbols_csv(b"# nothing\n\n")


def test_parse_when_every_line_rejected_raises_with_first_reason() -> None:
    with pytest.raises(InvalidInput, match="line 1: unknown exchange"):
        parse_symbols_csv(b"MCX,GOLD\n")


def test_parse_when_default_exchange_unknown_raises_naming_default_exchange() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_symbols_csv(b"INFY\n", default_exchange="LSE")
    assert err.value.field == "default_exchange"
