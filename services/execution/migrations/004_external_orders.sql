-- Orders and trades Mandi did not place: the broker's MIS auto square-off, orders from the Kite
-- app or web, and exchange-side events (F&O expiry). They are booked into the same ledger and
-- marked `external` so dashboards and reconciliation can tell them apart.
ALTER TABLE orders ADD COLUMN external boolean NOT NULL DEFAULT false;
ALTER TABLE trades ADD COLUMN external boolean NOT NULL DEFAULT false;

-- A broker order id alone is not an identity: a broker that restarts can hand out an id an
-- older order already holds (security review S5). Orders are matched on (account, tag) first;
-- the broker id index stays for lookups but no longer refuses a second order with the same id.
DROP INDEX IF EXISTS orders_account_broker;
CREATE INDEX orders_account_broker ON orders (account_id, broker_order_id)
    WHERE broker_order_id IS NOT NULL;
