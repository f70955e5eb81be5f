-- Bots: a strategy run on the market (paper or live) by the runner. The bot's run body is the
-- backtest's (a self-contained mandi.v1.BacktestSpec with the strategy copied in, so editing a
-- saved strategy never changes a running bot); its state is rewritten after every bar.
CREATE TABLE bots (
    id          text        PRIMARY KEY,              -- short: it prefixes client_order_ids
    owner       text        NOT NULL,
    name        text        NOT NULL,
    spec        bytea       NOT NULL,                 -- serialized mandi.v1.BacktestSpec
    account_id  text        NOT NULL,
    mode        text        NOT NULL CHECK (mode IN ('paper', 'live')),
    product     text        NOT NULL,
    status      text        NOT NULL DEFAULT 'created'
                CHECK (status IN ('created', 'running', 'paused', 'stopped', 'error')),
    error       text        NOT NULL DEFAULT '',
    -- last processed bar per symbol, open legs, pending intents, the strategies' own state
    state       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    bars        bigint      NOT NULL DEFAULT 0,       -- bars processed live
    orders      bigint      NOT NULL DEFAULT 0,       -- orders sent
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bots_owner_name UNIQUE (owner, name)
);

CREATE INDEX bots_active ON bots (status) WHERE status IN ('running', 'paused');

-- Who started, stopped or paused a bot, and the runner's own transitions (error, resume).
CREATE TABLE bot_audit (
    id        bigserial   PRIMARY KEY,
    bot_id    text        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    ts        timestamptz NOT NULL DEFAULT now(),
    actor     text        NOT NULL,
    action    text        NOT NULL,
    detail    text        NOT NULL DEFAULT ''
);

CREATE INDEX bot_audit_bot ON bot_audit (bot_id, ts);

-- Every order the runner sent, by its deterministic client_order_id: the bot's own record,
-- compared with execution's on resume and by the parity report.
CREATE TABLE bot_orders (
    bot_id           text        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    client_order_id  text        NOT NULL,
    bar_ts           timestamptz NOT NULL,
    symbol           text        NOT NULL,
    side             text        NOT NULL,
    quantity         bigint      NOT NULL,
    tag              text        NOT NULL,
    reason           text        NOT NULL,
    order_id         text        NOT NULL DEFAULT '',
    status           text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, client_order_id)
);
