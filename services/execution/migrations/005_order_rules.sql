-- Order rules as Kite applies them: the order fields Kite takes (market protection, TTL validity,
-- disclosed quantity), the aggregate exposure cap and the loss-limit square-off setting, and the
-- expiry time of a paper TTL order.

ALTER TABLE risk_limits
    ADD COLUMN max_total_exposure_paise bigint NOT NULL DEFAULT 18000000000,  -- ₹18 crore
    ADD COLUMN square_off_on_loss_limit boolean NOT NULL DEFAULT false;

ALTER TABLE orders
    ADD COLUMN market_protection double precision NOT NULL DEFAULT 0,  -- 0: Mandi's default
    ADD COLUMN validity_ttl integer NOT NULL DEFAULT 0,                -- minutes (validity TTL)
    ADD COLUMN disclosed_quantity bigint NOT NULL DEFAULT 0;

ALTER TABLE paper_orders
    ADD COLUMN expires_at timestamptz;                                 -- TTL orders only
