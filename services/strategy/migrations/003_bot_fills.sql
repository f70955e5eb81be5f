-- What execution did with each order a bot sent — its fill (quantity, average price, time) — and
-- the exits its legs' GTTs placed (reason stop | target, client_order_id "gtt:<gtt id>:<sl|tp>",
-- gtt_id set): the bot's side of the parity report, learnt when the bot reconciles a bar.
ALTER TABLE bot_orders
    ADD COLUMN filled_quantity     bigint      NOT NULL DEFAULT 0,
    ADD COLUMN average_price_paise bigint      NOT NULL DEFAULT 0,
    ADD COLUMN filled_at           timestamptz,
    ADD COLUMN gtt_id              text        NOT NULL DEFAULT '';
