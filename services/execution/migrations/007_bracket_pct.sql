-- An entry's protective levels as a percent of its average fill price: a strategy knows its
-- stop and target as "2.5 % below the fill" before the fill exists; the GTT placed after the
-- fill turns them into prices (services/execution/gtt.py protect_entry).
ALTER TABLE orders
    ADD COLUMN stop_loss_pct double precision NOT NULL DEFAULT 0,
    ADD COLUMN target_pct double precision NOT NULL DEFAULT 0;
