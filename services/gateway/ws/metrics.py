"""Prometheus metrics of the WebSocket channels, by channel name (orders, positions, ...)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONNECTIONS = Gauge("mandi_ws_connections", "Open WebSocket connections", ["channel"])
MESSAGES = Counter("mandi_ws_messages_sent_total",
                   "Messages sent to WebSocket clients (snapshots, changes, pings)", ["channel"])
DROPS = Counter("mandi_ws_slow_client_drops_total",
                "WebSocket clients closed with 1013 because their send queue was full",
                ["channel"])
RESUMES = Counter("mandi_ws_resumes_total",
                  "Reconnects with ?since=: replayed without a gap, or sent a new snapshot",
                  ["channel", "outcome"])
UPSTREAM_RESTARTS = Counter("mandi_ws_upstream_restarts_total",
                            "Upstream gRPC streams of the channels re-opened after an error",
                            ["channel"])
UPSTREAM_DUPLICATES = Counter("mandi_ws_upstream_duplicates_total",
                              "Upstream events dropped as repeats of a delivered event_id"
                              " (a resumed stream sends at least once)", ["channel"])
