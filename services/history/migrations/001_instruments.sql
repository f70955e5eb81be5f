-- The instrument master, versioned: a contract that leaves Kite's dump (expired) keeps its row
-- with active = false and its last_seen date, so bars stored for it stay queryable by symbol.
-- Prices are exact paise. Kite reuses the tokens of expired derivatives for new contracts, so
-- a row is keyed by token *and* symbol: the expired contract's row survives the reuse.

CREATE TABLE instruments (
    instrument_token  bigint      NOT NULL,
    exchange_token    bigint      NOT NULL,
    exchange          text        NOT NULL,
    tradingsymbol     text        NOT NULL,
    name              text        NOT NULL DEFAULT '',
    segment           text        NOT NULL,
    instrument_type   text        NOT NULL,          -- EQ, FUT, CE, PE, INDEX
    expiry            date,
    strike_paise      bigint      NOT NULL DEFAULT 0,
    tick_size_paise   bigint      NOT NULL DEFAULT 0,
    lot_size          bigint      NOT NULL DEFAULT 0,
    last_price_paise  bigint      NOT NULL DEFAULT 0,
    underlying        text        NOT NULL DEFAULT '',
    active            boolean     NOT NULL DEFAULT true,
    first_seen        date        NOT NULL,
    last_seen         date        NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instrument_token, exchange, tradingsymbol)
);

CREATE INDEX instruments_symbol_idx ON instruments (exchange, tradingsymbol);
CREATE INDEX instruments_prefix_idx ON instruments (tradingsymbol text_pattern_ops);
CREATE INDEX instruments_deriv_idx ON instruments (underlying, expiry, instrument_type, strike_paise)
    WHERE instrument_type IN ('FUT', 'CE', 'PE');

-- One row per exchange: when its dump was last loaded (refresh once a day, IST).
CREATE TABLE instrument_refreshes (
    exchange      text        PRIMARY KEY,
    refreshed_at  timestamptz NOT NULL,
    trading_date  date        NOT NULL,
    rows          integer     NOT NULL,
    deactivated   integer     NOT NULL DEFAULT 0
);

-- Fuzzy search uses pg_trgm when the server ships it (Debian's postgresql-contrib does); the
-- extension goes to `public` so every schema sees one copy. Without it, search falls back to
-- ILIKE ranking and this block is a no-op.
DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm unavailable (%); search uses ILIKE', SQLERRM;
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX instruments_symbol_trgm_idx ON instruments '
                'USING gin (tradingsymbol public.gin_trgm_ops)';
        EXECUTE 'CREATE INDEX instruments_name_trgm_idx ON instruments '
                'USING gin (name public.gin_trgm_ops)';
    END IF;
END
$$;
