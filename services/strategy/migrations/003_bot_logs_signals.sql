-- Per-bot structured logs, the signals bots act on, and external-signal bots' keys.

-- What a bot did and why, for its owner (GET /api/v1/bots/{id}/logs): start/resume/warm-up,
-- each signal, each order sent or refused, errors, status changes. Bounded: the writer keeps
-- the newest rows per bot and drops rows older than the retention (services/strategy/bot_logs.py).
CREATE TABLE bot_logs (
    id      bigserial   PRIMARY KEY,
    bot_id  text        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    ts      timestamptz NOT NULL DEFAULT now(),
    level   text        NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error')),
    event   text        NOT NULL,
    message text        NOT NULL,
    fields  jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX bot_logs_bot ON bot_logs (bot_id, id);
CREATE INDEX bot_logs_ts ON bot_logs (ts);

-- Every signal a bot acted on: its strategy's intents (source 'strategy', signal_id = the
-- order's client_order_id) and signals posted to an external bot (source 'external',
-- signal_id = the caller's id, the idempotency key). `outcome` says whether it became an order
-- ('order') or why not ('refused' by execution's checks, 'rejected' by the broker, 'no_change'
-- when a target weight is already held, 'paused'); a repeated external id is answered from here.
CREATE TABLE bot_signals (
    seq              bigserial   PRIMARY KEY,
    bot_id           text        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    signal_id        text        NOT NULL,
    source           text        NOT NULL CHECK (source IN ('strategy', 'external')),
    ts               timestamptz NOT NULL,             -- the bar's open / the signal's own time
    symbol           text        NOT NULL,
    side             text        NOT NULL,
    quantity         bigint      NOT NULL,             -- of the order (0 when none)
    target_weight    numeric,                          -- as posted, when sized by weight
    reason           text        NOT NULL DEFAULT '',  -- entry | exit | squareoff | external …
    outcome          text        NOT NULL,
    detail           text        NOT NULL DEFAULT '',
    client_order_id  text        NOT NULL DEFAULT '',
    order_id         text        NOT NULL DEFAULT '',
    price_paise      bigint      NOT NULL DEFAULT 0,   -- LTP a target weight was sized at
    body_hash        text        NOT NULL DEFAULT '',  -- an external id reused for another body
    latency_us       bigint      NOT NULL DEFAULT 0,   -- received → order acknowledged
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bot_signals_id UNIQUE (bot_id, signal_id)
);

CREATE INDEX bot_signals_bot ON bot_signals (bot_id, seq);

-- The key an external-signal bot's caller sends (X-Bot-Key): only its SHA-256 is kept; the key
-- itself is shown once, at creation or rotation.
CREATE TABLE bot_keys (
    bot_id      text        PRIMARY KEY REFERENCES bots (id) ON DELETE CASCADE,
    key_hash    text        NOT NULL,
    rotated_at  timestamptz NOT NULL DEFAULT now()
);
