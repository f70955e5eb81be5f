-- The ledger prices each fill against its scrip-day (ledger.record_fill reads the day's earlier
-- fills of one account, instrument and product). Without this index that read scans every fill
-- of the account: the primary key only leads with account_id.
CREATE INDEX fills_scrip_day ON fills (account_id, exchange, tradingsymbol, product, ts);
