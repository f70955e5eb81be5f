"""The vectorised parse of Kite's candle rows gives what kiteconnect's own parser gives."""

from __future__ import annotations

from datetime import datetime

from kiteconnect import KiteConnect

from mandi.core.candles import CandleFrame
from mandi.kite.client import candles_from_rows

ROWS = [["2025-06-10T09:15:00+0530", 1523.45, 1525.0, 1520.05, 1524.1, 1200],
        ["2025-06-10T09:16:00+0530", 1524.1, 1524.9, 1523.3, 1524.85, 0]]


def test_candles_from_rows_when_ist_stamps_equal_kiteconnect_parse() -> None:
    reference = KiteConnect("k")._format_historical({"candles": ROWS})
    assert candles_from_rows(ROWS).equals(CandleFrame.from_kite(reference))


def test_candles_from_rows_when_oi_column_keeps_it() -> None:
    rows = [[*r, 77 + i] for i, r in enumerate(ROWS)]
    assert candles_from_rows(rows).oi.tolist() == [77, 78]


def test_candles_from_rows_when_other_offset_falls_back_to_exact_parse() -> None:
    rows = [["2025-06-10T03:45:00+0000", 1.0, 2.0, 0.5, 1.5, 10]]
    frame = candles_from_rows(rows)
    assert frame.datetimes()[0] == datetime.fromisoformat("2025-06-10T09:15:00+05:30")
