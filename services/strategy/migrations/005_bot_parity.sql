-- Parity reports: a bot's IST trading day compared with the backtest of that day
-- (services/strategy/parity.py). Written by the nightly run after the close, and by an
-- on-demand request for a finished day; one row per bot and day, replaced when recomputed.
CREATE TABLE bot_parity (
    bot_id       text        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    day          date        NOT NULL,
    unexplained  integer     NOT NULL,
    report       jsonb       NOT NULL,            -- ParityReport.as_dict()
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, day)
);
