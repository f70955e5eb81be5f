"""GetCandles writes its protobuf bytes with numpy; they must equal the library's bytes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mandi.core.candles import CandleFrame
from mandi.platform.wire import varint, varints
from mandi.v1 import common_pb2, history_pb2
from services.history.convert import candle_batch, candles_response_bytes

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(st.lists(INT64, max_size=50))
def test_varints_when_any_int64_equal_protobuf_encoding(values: list[int]) -> None:
    expected = common_pb2.CandleBatch(volume=values).SerializeToString()
    got = varints(np.array(values, dtype=np.int64))
    assert expected == ((varint(6 << 3 | 2) + varint(len(got)) + got) if values else b"")


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=2**31))
def test_candles_response_bytes_when_frame_equal_library_serialization(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = CandleFrame(
        ts=1_735_700_000_000 + np.arange(n, dtype=np.int64) * 60_000,
        open=rng.random(n) * 3000, high=rng.random(n) * 3000, low=rng.random(n) * 3000,
        close=rng.random(n) * 3000, volume=rng.integers(0, 10**9, n),
        oi=np.where(rng.random(n) < 0.5, 0, rng.integers(0, 10**7, n)))
    inst = common_pb2.Instrument(instrument_token=408065, tradingsymbol="INFY")
    expected = history_pb2.GetCandlesResponse(batch=candle_batch(frame), instrument=inst)
    raw = candles_response_bytes(frame, inst)
    assert history_pb2.GetCandlesResponse.FromString(raw) == expected
    assert raw == expected.SerializeToString()
