"""How the HDF5 reader names a dataset from its key, infers an interval from bar spacing and
refuses files that are not HDF5 before PyTables parses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mandi.core.errors import InvalidInput
from services.history.hdf5_import import parse_mapping, segment_of
from services.history.hdf5_reader import Override, check_signature, infer_interval, parse_key


@pytest.mark.parametrize(("key", "expected"), [
    ("/NSE/INFY/day", ("NSE", "INFY", "day", "")),
    ("/equity/NSE_INFY_minute", ("NSE", "INFY", "minute", "EQUITY")),
    ("/derivatives/NFO/NIFTY25NOVFUT/5min", ("NFO", "NIFTY25NOVFUT", "5minute", "DERIVATIVES")),
    ("/data/BSE_BAJAJ-AUTO_daily", ("BSE", "BAJAJ-AUTO", "day", "")),
    ("/NSE_M&M_15m", ("NSE", "M&M", "15minute", "")),
    ("/INFY", ("", "INFY", "", "")),
    ("/ohlcv/nse/sbin/60minute", ("NSE", "SBIN", "60minute", "")),
])
def test_parse_key_when_usual_layouts_finds_exchange_symbol_interval(
        key: str, expected: tuple[str, str, str, str]) -> None:
    assert parse_key(key) == expected


def _ist_ms(*stamps: str) -> np.ndarray:
    return pd.DatetimeIndex(stamps).tz_localize("Asia/Kolkata").as_unit("ms").asi8


def test_infer_interval_when_bars_spaced_evenly_names_the_kite_interval() -> None:
    assert infer_interval(_ist_ms("2025-11-17", "2025-11-18", "2025-11-20")) == "day"
    assert infer_interval(_ist_ms("2025-11-18 09:15", "2025-11-18 09:20",
                                  "2025-11-18 09:30")) == "5minute"
    assert infer_interval(_ist_ms("2025-11-18 09:15", "2025-11-18 09:22")) is None  # 7 min
    assert infer_interval(_ist_ms("2025-11-18 09:15")) is None  # one intraday bar: unknown


def test_check_signature_when_not_hdf5_raises_naming_file(tmp_path: Path) -> None:
    junk = tmp_path / "EQUITY.h5"
    junk.write_bytes(b"date,open\n" + b"x" * 5000)
    with pytest.raises(InvalidInput) as err:
        check_signature(junk)
    assert err.value.field == "file" and "HDF5" in str(err.value)
    ok = tmp_path / "ok.h5"
    ok.write_bytes(b"\0" * 512 + b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # after a user block
    check_signature(ok)


def test_segment_of_when_not_given_comes_from_file_name() -> None:
    assert segment_of("/x/EQUITY.h5") == "EQUITY"
    assert segment_of("derivatives_2024.h5") == "DERIVATIVES"
    assert segment_of("mine.h5") == ""
    assert segment_of("EQUITY.h5", "derivatives") == "DERIVATIVES"
    with pytest.raises(InvalidInput) as err:
        segment_of("x.h5", "MCX")
    assert err.value.field == "segment"


def test_parse_mapping_when_partial_keeps_blanks_for_detection() -> None:
    got = parse_mapping(["/a=NSE:INFY:day", "/b=:WIPRO"], ["/c"])
    assert got == {"/a": Override("NSE", "INFY", "day"), "/b": Override("", "WIPRO", ""),
                   "/c": Override(skip=True)}
    with pytest.raises(InvalidInput) as err:
        parse_mapping(["no-equals"], [])
    assert err.value.field == "mapping"


def test_export_hdf5_when_symbol_cannot_be_a_key_reads_back_from_attributes(
        tmp_path: Path) -> None:
    from mandi.core.candles import CandleFrame
    from services.history.hdf5_reader import export_hdf5, read_hdf5

    ts = _ist_ms("2025-11-17", "2025-11-18")
    frame = CandleFrame(ts=ts, open=np.array([1.5, 2.0]), high=np.array([2.0, 2.5]),
                        low=np.array([1.0, 1.5]), close=np.array([2.0, 2.5]),
                        volume=np.array([10, 20]), oi=np.array([0, 7]))
    path = tmp_path / "out.h5"
    path.write_bytes(export_hdf5(frame, "INDICES", "NIFTY 50", "day"))
    [ds] = read_hdf5(path)
    assert (ds.key, ds.exchange, ds.symbol, ds.interval) == (
        "/INDICES/NIFTY_50/day", "INDICES", "NIFTY 50", "day")
    assert ds.frame is not None and ds.frame.equals(frame)


def test_parse_key_when_groups_wrap_the_series_the_innermost_name_is_the_symbol() -> None:
    assert parse_key("/mystore/v2/NSE/INFY/day") == ("NSE", "INFY", "day", "")
    assert parse_key("/misc/x") == ("", "X", "", "")
