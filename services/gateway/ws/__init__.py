"""WebSocket channels under `/ws/*` (issue #14): live updates for the web UI and scripts.

Authenticated and scoped like REST by the app-wide guard (cookie session from the gateway's own
pages, `?token=<access JWT or API key>`, `Authorization: Bearer`, `X-API-Key`); `?account_id=`
selects among the caller's accounts. Every message is one JSON text frame
`{"channel", "type", "seq", "data"}`: first `snapshot`, then changes; `?since=<seq>` resumes.
Modules: `topic` (numbering, replay, bounded per-socket queues), `hub` (one upstream gRPC
stream per source per process), `channels` (what each channel reads and sends; the
`account_channel`, `bot_channels`, `market_channel`, `notify_channel` and `progress_channels`
beside it), `session` (one socket), `codes` (close codes), `router` (routes and wiring),
`metrics`.
"""
