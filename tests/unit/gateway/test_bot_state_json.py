"""A bot's saved state as the REST API shows it: whole numbers as ints, epoch-ns instants as
ISO-8601 UTC (the protobuf Struct that carries the state turns every number into a double)."""

from __future__ import annotations

from google.protobuf import json_format, struct_pb2

from services.gateway.routers.bots import state_json


def test_state_instants_become_iso_and_whole_numbers_ints():
    bar = 1_795_670_100 * 10**9  # 2026-11-26 05:15 UTC
    st = struct_pb2.Struct()
    st.update({"first_live_ts": bar, "first_bar": bar - 86_400 * 10**9,
               "last_bar": {"NSE:INFY": bar}, "refused": 0, "realized_paise": 12_345,
               "legs": {"NSE:INFY": {"P1": {"qty": 7, "entry_ts": bar, "stop_pct": 2.5}}},
               "entries_blocked": ""})
    out = state_json(json_format.MessageToDict(st))
    assert out["first_live_ts"] == "2026-11-26T05:15:00+00:00"
    assert out["first_bar"] == "2026-11-25T05:15:00+00:00"
    assert out["last_bar"] == {"NSE:INFY": "2026-11-26T05:15:00+00:00"}
    assert out["refused"] == 0 and type(out["refused"]) is int
    assert out["realized_paise"] == 12_345 and type(out["realized_paise"]) is int
    leg = out["legs"]["NSE:INFY"]["P1"]
    assert leg == {"qty": 7, "entry_ts": "2026-11-26T05:15:00+00:00", "stop_pct": 2.5}
    assert out["entries_blocked"] == ""
