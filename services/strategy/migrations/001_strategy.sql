-- Strategy definitions and backtest jobs with their results. Written only by the strategy service.

CREATE TABLE strategies (
    id          uuid        PRIMARY KEY,
    owner       text        NOT NULL,
    name        text        NOT NULL,
    type        text        NOT NULL,
    params      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    rules       jsonb,
    code        text        NOT NULL DEFAULT '',
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT strategies_owner_name UNIQUE (owner, name)
);

-- A backtest is a durable job: a worker claims a queued row (or a running row whose lease ran
-- out because its process died) and renews the lease while it works, so a restart resumes it.
CREATE TABLE backtests (
    id               uuid        PRIMARY KEY,
    owner            text        NOT NULL,
    admin            boolean     NOT NULL DEFAULT false,  -- submitter may run custom code
    spec             bytea       NOT NULL,                -- serialized mandi.v1.BacktestSpec
    state            text        NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    progress         double precision NOT NULL DEFAULT 0,
    bars_done        bigint      NOT NULL DEFAULT 0,
    bars_total       bigint      NOT NULL DEFAULT 0,
    error            text        NOT NULL DEFAULT '',
    cancel_requested boolean     NOT NULL DEFAULT false,
    attempts         integer     NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX backtests_pending ON backtests (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX backtests_owner ON backtests (owner, created_at DESC);

-- Summary metrics (the Metrics message as JSON, money in paise) and the equity curve as
-- parallel arrays: one row per run instead of one row per bar.
CREATE TABLE backtest_results (
    backtest_id  uuid PRIMARY KEY REFERENCES backtests (id) ON DELETE CASCADE,
    metrics      jsonb              NOT NULL,
    equity_ts    timestamptz[]      NOT NULL,
    equity_paise bigint[]           NOT NULL,
    drawdown     double precision[] NOT NULL
);

CREATE TABLE backtest_trades (
    backtest_id       uuid        NOT NULL REFERENCES backtests (id) ON DELETE CASCADE,
    seq               integer     NOT NULL,
    symbol            text        NOT NULL,
    side              text        NOT NULL,
    quantity          bigint      NOT NULL,
    entry_ts          timestamptz NOT NULL,
    entry_price_paise bigint      NOT NULL,
    exit_ts           timestamptz,
    exit_price_paise  bigint      NOT NULL,
    gross_pnl_paise   bigint      NOT NULL,
    charges_paise     bigint      NOT NULL,
    net_pnl_paise     bigint      NOT NULL,
    exit_reason       text        NOT NULL DEFAULT '',
    PRIMARY KEY (backtest_id, seq)
);
