"""The ticker codec against Zerodha's sample frames and kiteconnect's own parser."""

from __future__ import annotations

import base64
import json
import time

import pytest
from kiteconnect import KiteTicker

from mandi.kite import ticker_codec as tc
from mandi.testing.kitesim import KITE_MOCKS as MOCKS


def _sample(name: str) -> tuple[bytes, dict]:
    packet = base64.b64decode((MOCKS / f"ticker_{name}.packet").read_text())
    return packet, json.loads((MOCKS / f"ticker_{name}.json").read_text())


def _kc_parse(frame: bytes) -> list[dict]:
    return KiteTicker("k", "t")._parse_binary(frame)


def test_decode_full_sample_packet_equals_sample_json_exactly():
    packet, expected = _sample("full")
    (tick,) = tc.decode_frame(tc.encode_frame([packet]))
    assert tc.to_kite_json(tick) == expected


def test_decode_quote_sample_packet_matches_sample_json():
    packet, expected = _sample("quote")
    (tick,) = tc.decode_frame(tc.encode_frame([packet]))
    got = tc.to_kite_json(tick)
    # Zerodha's quote sample copies "change" from the full sample (1573.7 - 1567.8); the quote
    # packet's own last price is 1573.15, so its change can only be 1573.15 - 1567.8.
    assert expected["change"] == pytest.approx(1573.7 - 1567.8)
    assert got.pop("change") == pytest.approx(1573.15 - 1567.8)
    expected.pop("change")
    assert got == expected


def test_ltp_sample_json_round_trips_through_the_ltp_layout():
    expected = json.loads((MOCKS / "ticker_ltp.json").read_text())
    packet = tc.encode_ltp(expected["instrument_token"], round(expected["last_price"] * 100))
    (tick,) = tc.decode_frame(tc.encode_frame([packet]))
    assert tc.to_kite_json(tick) == expected


@pytest.mark.parametrize("name", ["full", "quote"])
def test_codec_decode_equals_kiteconnect_parser_on_samples(name):
    packet, _ = _sample(name)
    frame = tc.encode_frame([packet])
    ours, theirs = tc.decode_frame(frame), _kc_parse(frame)
    assert _naive(ours) == theirs


def _naive(ticks: list[dict]) -> list[dict]:
    """Our aware IST datetimes as the client's naive local ones (same instant)."""
    out = []
    for t in ticks:
        t = dict(t)
        for k in ("last_trade_time", "exchange_timestamp"):
            if k in t:
                t[k] = _local_naive(t[k])
        out.append(t)
    return out


def _local_naive(dt):
    from datetime import datetime

    return datetime.fromtimestamp(dt.timestamp())


def test_vectorised_records_encode_like_scalar_encoders_and_kiteconnect_parses_them():
    now = int(time.time())
    full = tc.records(tc.FULL_DTYPE, 2)
    full["token"] = [408065, 779521]
    full["last_price"] = [157370, 47000]
    full["volume_traded"] = [1000, 2000]
    full["open"], full["high"], full["low"], full["close"] = 1, 2, 3, 4
    full["last_trade_time"] = now
    full["exchange_timestamp"] = now
    full["oi"] = 7
    full["depth"]["quantity"][:, 0] = 11
    full["depth"]["price"][:, 9] = 157395
    full["depth"]["orders"][:, 5] = 3
    idx = tc.records(tc.INDEX_FULL_DTYPE, 1)
    idx["token"], idx["last_price"], idx["open"], idx["close"] = 256265, 2600000, 2590000, 2580000
    idx["exchange_timestamp"] = now
    ltp = tc.records(tc.LTP_DTYPE, 1)
    ltp["token"], ltp["last_price"] = 738561, 150005
    frame = tc.frame(full, idx, ltp)
    ours = tc.decode_frame(frame)
    assert [t["mode"] for t in ours] == ["full", "full", "full", "ltp"]
    assert ours[0]["depth"]["buy"][0]["quantity"] == 11
    assert ours[1]["depth"]["sell"][4]["price"] == 1573.95
    assert ours[0]["depth"]["sell"][0]["orders"] == 3
    assert ours[2]["tradable"] is False and ours[2]["ohlc"]["open"] == 25900.0
    assert ours[3]["last_price"] == 1500.05
    assert _naive(ours) == _kc_parse(frame)
    scalar = tc.encode_index(256265, 2600000, (2590000, 0, 0, 2580000), 0, now)
    assert tc.split_packets(frame)[2] == scalar


def test_heartbeat_and_unknown_lengths_yield_no_ticks():
    assert tc.decode_frame(tc.HEARTBEAT) == []
    assert tc.decode_frame(tc.encode_frame([b"\x00" * 13])) == []


def test_price_divisor_follows_segment_byte():
    assert tc.price_divisor(408065) == 100.0
    assert tc.price_divisor(3 + 256 * 5) == 1e7
    assert tc.price_divisor(6 + 256 * 5) == 1e4
    assert tc.is_tradable(256265) is False
