-- The broker's time of an order's latest fill (fills.ts), kept on the order so a client (the
-- parity report) learns when a market order filled, not only when execution took it.
ALTER TABLE orders ADD COLUMN filled_at timestamptz;
