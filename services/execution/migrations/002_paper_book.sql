-- The paper broker's own book: what a real broker would hold on its side. Kept apart from the
-- ledger tables so reconciliation compares two independent records, exactly as for Kite.

CREATE TABLE paper_orders (
    account_id          text NOT NULL,
    broker_order_id     text NOT NULL,
    tag                 text NOT NULL DEFAULT '',
    exchange            text NOT NULL,
    tradingsymbol       text NOT NULL,
    side                text NOT NULL,
    quantity            bigint NOT NULL,
    order_type          text NOT NULL,
    price_paise         bigint NOT NULL DEFAULT 0,
    trigger_price_paise bigint NOT NULL DEFAULT 0,
    product             text NOT NULL,
    validity            text NOT NULL DEFAULT 'DAY',
    status              text NOT NULL,     -- Kite vocabulary: OPEN, TRIGGER PENDING, COMPLETE...
    status_message      text NOT NULL DEFAULT '',
    filled_quantity     bigint NOT NULL DEFAULT 0,
    average_price_paise bigint NOT NULL DEFAULT 0,
    algo_id             text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (account_id, broker_order_id)
);
CREATE INDEX paper_orders_open ON paper_orders (account_id, status)
    WHERE status IN ('OPEN', 'TRIGGER PENDING');

CREATE TABLE paper_trades (
    account_id          text NOT NULL,
    broker_trade_id     text NOT NULL,
    broker_order_id     text NOT NULL,
    exchange            text NOT NULL,
    tradingsymbol       text NOT NULL,
    product             text NOT NULL,
    side                text NOT NULL,
    quantity            bigint NOT NULL,
    price_paise         bigint NOT NULL,
    ts                  timestamptz NOT NULL,
    PRIMARY KEY (account_id, broker_trade_id)
);
CREATE INDEX paper_trades_order ON paper_trades (account_id, broker_order_id);

CREATE TABLE paper_gtts (
    account_id          text NOT NULL,
    broker_gtt_id       bigserial,
    exchange            text NOT NULL,
    tradingsymbol       text NOT NULL,
    type                text NOT NULL,
    trigger_values      jsonb NOT NULL,   -- paise
    orders              jsonb NOT NULL,   -- [{side, quantity, price_paise, product}]
    status              text NOT NULL,
    triggered_order_id  text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (account_id, broker_gtt_id)
);
