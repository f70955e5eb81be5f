-- Seed 002's watchlist and config: each user's watchlist (ordered symbols, validated against
-- the instrument master when added), each user's own preferences, and the platform settings an
-- admin changed at run time (routers/config.py lists which may be; the rest need a restart).

CREATE TABLE watchlist (
    username   text        NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    symbol     text        NOT NULL,          -- "EXCHANGE:TRADINGSYMBOL"
    position   integer     NOT NULL,          -- order in the list, 0 first
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, symbol)
);

CREATE TABLE user_settings (
    username   text        PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
    settings   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform_settings (
    key        text        PRIMARY KEY,
    value      jsonb       NOT NULL,
    updated_by text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
