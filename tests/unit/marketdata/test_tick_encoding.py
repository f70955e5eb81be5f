"""The two tick encodings of the fan-out: the Redis channel's column format round-trips every
field a Tick carries, and the numpy protobuf writer produces exactly what the protobuf runtime
would for the same ticks, for every mode and for any subset of rows."""

from __future__ import annotations

import numpy as np
import pytest

from mandi.testing.ticks import NSE_TOKENS, make_batch, mixed_batch
from mandi.v1 import marketdata_pb2
from services.marketdata import tickwire
from services.marketdata.tickproto import EncodedTicks, dropped_field, tick_message
from services.marketdata.ticks import MODE_FULL, MODE_LTP, MODE_QUOTE, TickBatch

WIRE_FIELDS = [f for f in TickBatch.__dataclass_fields__ if f != "last_trade_ts"]


def _reference(batch: TickBatch, rows, dropped: int = 0) -> bytes:
    msg = marketdata_pb2.StreamTicksResponse(dropped=dropped)
    msg.ticks.extend(tick_message(batch, int(i)) for i in rows)
    return msg.SerializeToString()


@pytest.mark.parametrize("mode", [MODE_LTP, MODE_QUOTE, MODE_FULL])
def test_wire_when_packed_and_unpacked_every_tick_field_survives(mode: int) -> None:
    batch = make_batch(list(NSE_TOKENS) * 3, mode, seed=mode)
    back = tickwire.unpack(tickwire.pack(batch))
    for name in WIRE_FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(batch, name), err_msg=name)


def test_wire_when_mixed_modes_absent_fields_stay_absent() -> None:
    batch = mixed_batch(30)
    back = tickwire.unpack(tickwire.pack(batch))
    for name in WIRE_FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(batch, name), err_msg=name)
    assert (back.volume[batch.mode == MODE_LTP] == -1).all()


def test_wire_when_ltp_only_is_small() -> None:
    assert len(tickwire.pack(make_batch(list(NSE_TOKENS), MODE_LTP))) == 9 + 8 * 25


@pytest.mark.parametrize("data", [b"", b"XXXX\x00\x01\x00\x00\x00", tickwire.pack(
    make_batch([408065], MODE_QUOTE))[:-3]])
def test_wire_when_garbage_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        tickwire.unpack(data)


def test_wire_when_empty_batch_round_trips() -> None:
    assert len(tickwire.unpack(tickwire.pack(TickBatch.empty()))) == 0


@pytest.mark.parametrize("mode", [MODE_LTP, MODE_QUOTE, MODE_FULL])
def test_proto_when_whole_batch_equals_protobuf_runtime(mode: int) -> None:
    batch = make_batch(list(NSE_TOKENS) * 4, mode, seed=7)
    assert EncodedTicks(batch).body() == _reference(batch, range(len(batch)))


def test_proto_when_mixed_modes_and_subset_equals_protobuf_runtime() -> None:
    batch = mixed_batch(40, seed=3)
    batch.depth_qty[2, 3] = 0  # empty parts of a depth level are left out, as proto3 does
    batch.depth_orders[5, :] = 0
    enc = EncodedTicks(batch)
    assert enc.body() == _reference(batch, range(40))
    rows = np.flatnonzero(batch.token == NSE_TOKENS[2])
    assert enc.body(rows) + dropped_field(12345) == _reference(batch, rows, dropped=12345)


def test_proto_when_large_values_and_other_segments_decode_to_rupees() -> None:
    batch = make_batch([408065, 0x1234503, 0x1234506], MODE_FULL)  # NSE, CDS, BCD
    batch.volume[0] = 2**32 - 1
    batch.received_ns[1] = 2**62
    msg = marketdata_pb2.StreamTicksResponse.FromString(EncodedTicks(batch).body())
    assert msg.SerializeToString() == _reference(batch, range(3))
    assert msg.ticks[0].volume_traded == 2**32 - 1
    assert msg.ticks[0].last_price == batch.price[0] / 100
    assert msg.ticks[1].last_price == batch.price[1] / 10_000_000
    assert msg.ticks[2].bids[0].price == batch.depth_price[2, 0] / 10_000


def test_proto_when_empty_batch_encodes_nothing() -> None:
    assert EncodedTicks(TickBatch.empty()).body() == b""
    assert dropped_field(0) == b""
