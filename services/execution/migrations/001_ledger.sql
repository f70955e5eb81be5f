-- The execution ledger. Money is integer paise (bigint), time is timestamptz (UTC); every row
-- carries account_id and every query filters on it (tenant isolation).

CREATE TABLE accounts (
    account_id      text PRIMARY KEY,          -- Kite user id (or the paper account's id)
    broker          text NOT NULL CHECK (broker IN ('kite', 'paper')),
    name            text NOT NULL DEFAULT '',
    credentials     bytea,                     -- Fernet-encrypted JSON, never logged
    emergency_stop  boolean NOT NULL DEFAULT false,
    emergency_reason text NOT NULL DEFAULT '',
    session_state   text NOT NULL DEFAULT 'unknown',   -- ok | expired | logged_out | unknown
    session_renewed_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE risk_limits (
    account_id                      text PRIMARY KEY REFERENCES accounts (account_id),
    max_order_quantity              bigint NOT NULL DEFAULT 100000,
    max_order_value_paise           bigint NOT NULL DEFAULT 100000000,   -- ₹10 lakh
    max_open_positions              integer NOT NULL DEFAULT 90,
    max_capital_per_position_paise  bigint NOT NULL DEFAULT 200000000,   -- ₹20 lakh
    daily_loss_limit_paise          bigint NOT NULL DEFAULT 500000,      -- ₹5,000
    price_collar_pct                double precision NOT NULL DEFAULT 5.0,
    max_orders_per_second           integer NOT NULL DEFAULT 10,
    enforce_market_hours            boolean NOT NULL DEFAULT true,
    algo_id                         text NOT NULL DEFAULT '',
    updated_at                      timestamptz NOT NULL DEFAULT now(),
    updated_by                      text NOT NULL DEFAULT 'system'
);

-- Orders: Mandi's record of every order, a state machine whose transitions are in order_events.
CREATE TABLE orders (
    order_id            text PRIMARY KEY,
    account_id          text NOT NULL REFERENCES accounts (account_id),
    client_order_id     text NOT NULL,
    tag                 text NOT NULL,             -- sent to Kite; ≤ 20 alphanumerics
    parent_order_id     text REFERENCES orders (order_id),   -- freeze-quantity slices
    broker_order_id     text,
    exchange            text NOT NULL,
    tradingsymbol       text NOT NULL,
    side                text NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity            bigint NOT NULL CHECK (quantity > 0),
    order_type          text NOT NULL,
    price_paise         bigint NOT NULL DEFAULT 0,
    trigger_price_paise bigint NOT NULL DEFAULT 0,
    product             text NOT NULL,
    variety             text NOT NULL DEFAULT 'regular',
    validity            text NOT NULL DEFAULT 'DAY',
    status              text NOT NULL,
    broker_status       text NOT NULL DEFAULT '',
    status_message      text NOT NULL DEFAULT '',
    filled_quantity     bigint NOT NULL DEFAULT 0,
    average_price_paise bigint NOT NULL DEFAULT 0,
    stop_loss_paise     bigint NOT NULL DEFAULT 0,
    target_paise        bigint NOT NULL DEFAULT 0,
    trailing_stop_pct   double precision NOT NULL DEFAULT 0,
    strategy_id         text NOT NULL DEFAULT '',
    purpose             text NOT NULL DEFAULT 'entry',   -- entry | exit | gtt | squareoff | adopted
    gtt_id              text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    UNIQUE (account_id, client_order_id),
    UNIQUE (account_id, tag)
);
CREATE INDEX orders_account_created ON orders (account_id, created_at DESC);
CREATE INDEX orders_account_open ON orders (account_id, status)
    WHERE status IN ('PENDING', 'OPEN', 'TRIGGER_PENDING', 'PARTIALLY_FILLED');
CREATE UNIQUE INDEX orders_account_broker ON orders (account_id, broker_order_id)
    WHERE broker_order_id IS NOT NULL;
-- duplicate-order guard: same instrument/side/quantity recently
CREATE INDEX orders_dup_guard ON orders (account_id, tradingsymbol, side, quantity, created_at);

CREATE TABLE order_events (
    id                  bigserial PRIMARY KEY,
    order_id            text NOT NULL REFERENCES orders (order_id),
    account_id          text NOT NULL,
    status              text NOT NULL,
    broker_status       text NOT NULL DEFAULT '',
    filled_quantity     bigint NOT NULL DEFAULT 0,
    average_price_paise bigint NOT NULL DEFAULT 0,
    message             text NOT NULL DEFAULT '',
    ts                  timestamptz NOT NULL
);
CREATE INDEX order_events_order ON order_events (account_id, order_id, id);

-- Executions as reported by the broker; the unique key makes applying a fill idempotent.
CREATE TABLE fills (
    account_id      text NOT NULL,
    broker_trade_id text NOT NULL,
    order_id        text NOT NULL REFERENCES orders (order_id),
    exchange        text NOT NULL,
    tradingsymbol   text NOT NULL,
    product         text NOT NULL,
    side            text NOT NULL,
    quantity        bigint NOT NULL,
    price_paise     bigint NOT NULL,
    charges_paise   bigint NOT NULL,
    ts              timestamptz NOT NULL,
    PRIMARY KEY (account_id, broker_trade_id)
);

CREATE TABLE positions (
    position_id         text PRIMARY KEY,
    account_id          text NOT NULL REFERENCES accounts (account_id),
    exchange            text NOT NULL,
    tradingsymbol       text NOT NULL,
    product             text NOT NULL,
    segment             text NOT NULL,
    quantity            bigint NOT NULL,          -- signed: > 0 long, < 0 short, 0 closed
    average_price_paise bigint NOT NULL,
    cost_paise          bigint NOT NULL,          -- exact entry value of the open quantity
    entry_charges_paise bigint NOT NULL DEFAULT 0,  -- not yet allocated to trades
    realized_pnl_paise  bigint NOT NULL DEFAULT 0,
    last_price_paise    bigint NOT NULL DEFAULT 0,
    strategy_id         text NOT NULL DEFAULT '',
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    opened_at           timestamptz NOT NULL,
    closed_at           timestamptz,
    updated_at          timestamptz NOT NULL
);
CREATE UNIQUE INDEX positions_one_open
    ON positions (account_id, exchange, tradingsymbol, product) WHERE status = 'open';
CREATE INDEX positions_account ON positions (account_id, status, opened_at DESC);

-- Closed round trips; the dashboards read these (and the rollup below).
CREATE TABLE trades (
    trade_id            text PRIMARY KEY,
    account_id          text NOT NULL REFERENCES accounts (account_id),
    exchange            text NOT NULL,
    tradingsymbol       text NOT NULL,
    segment             text NOT NULL,          -- EQUITY | DERIVATIVES
    side                text NOT NULL,          -- side of the entry
    quantity            bigint NOT NULL,
    entry_price_paise   bigint NOT NULL,
    exit_price_paise    bigint NOT NULL,
    entry_ts            timestamptz NOT NULL,
    exit_ts             timestamptz NOT NULL,
    trade_date          date NOT NULL,          -- IST date of the exit
    realized_pnl_paise  bigint NOT NULL,        -- gross
    charges_paise       bigint NOT NULL,
    net_pnl_paise       bigint NOT NULL,
    exit_reason         text NOT NULL DEFAULT '',
    strategy_id         text NOT NULL DEFAULT '',
    position_id         text,
    exit_order_id       text,
    source              text NOT NULL DEFAULT 'live',   -- live | paper | import
    import_key          text
);
CREATE INDEX trades_account_exit ON trades (account_id, exit_ts DESC, trade_id DESC);
CREATE INDEX trades_account_symbol ON trades (account_id, tradingsymbol, exit_ts DESC, trade_id DESC)
    INCLUDE (net_pnl_paise);
CREATE INDEX trades_account_segment ON trades (account_id, segment, exit_ts DESC, trade_id DESC);
CREATE UNIQUE INDEX trades_import_key ON trades (account_id, import_key) WHERE import_key IS NOT NULL;

-- Rollup of trades per account, IST day and segment, kept in the same transaction as each trade
-- insert so the dashboards never scan a million trades.
CREATE TABLE daily_pnl (
    account_id          text NOT NULL,
    trade_date          date NOT NULL,
    segment             text NOT NULL,
    trades              bigint NOT NULL DEFAULT 0,
    wins                bigint NOT NULL DEFAULT 0,
    profit_paise        bigint NOT NULL DEFAULT 0,   -- sum of positive net P&L
    loss_paise          bigint NOT NULL DEFAULT 0,   -- sum of negative net P&L (≤ 0)
    net_paise           bigint NOT NULL DEFAULT 0,
    charges_paise       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, trade_date, segment)
);

-- The risk day of an account: realized P&L so far, and whether trading is blocked.
CREATE TABLE daily_stats (
    account_id          text NOT NULL REFERENCES accounts (account_id),
    date                date NOT NULL,
    realized_pnl_paise  bigint NOT NULL DEFAULT 0,   -- net of charges
    trades              bigint NOT NULL DEFAULT 0,
    trading_blocked     boolean NOT NULL DEFAULT false,
    blocked_reason      text NOT NULL DEFAULT '',
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, date)
);

CREATE TABLE gtts (
    gtt_id              text PRIMARY KEY,
    account_id          text NOT NULL REFERENCES accounts (account_id),
    broker_gtt_id       text,
    entry_order_id      text REFERENCES orders (order_id),
    exchange            text NOT NULL,
    tradingsymbol       text NOT NULL,
    product             text NOT NULL,
    type                text NOT NULL CHECK (type IN ('single', 'two-leg')),
    legs                jsonb NOT NULL,     -- [{trigger_price_paise, side, quantity, price_paise}]
    status              text NOT NULL,      -- active | triggered | cancelled | deleted | ...
    trailing_stop_pct   double precision NOT NULL DEFAULT 0,
    trail_anchor_paise  bigint NOT NULL DEFAULT 0,   -- best price seen since the entry
    last_price_paise    bigint NOT NULL DEFAULT 0,
    triggered_order_id  text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX gtts_account ON gtts (account_id, status);
CREATE UNIQUE INDEX gtts_account_broker ON gtts (account_id, broker_gtt_id)
    WHERE broker_gtt_id IS NOT NULL;

CREATE TABLE audit_logs (
    id          bigserial PRIMARY KEY,
    account_id  text NOT NULL,
    ts          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_logs_account ON audit_logs (account_id, ts DESC);
CREATE UNIQUE INDEX gtts_one_per_entry ON gtts (account_id, entry_order_id)
    WHERE entry_order_id IS NOT NULL;
