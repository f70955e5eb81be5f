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
