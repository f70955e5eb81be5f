-- order_events is the outbox StreamOrderEvents relays (services/execution/outbox.py): a row is
-- committed with its order's change, and the stream reads rows after a cursor (the last id it
-- delivered). A bigserial id is taken at INSERT, not at commit, so a row with a lower id can
-- become visible after a higher one was delivered. To find those rows again each row records:
--   xid       its writing transaction's id (taken BEFORE the row's id, by order_event_id());
--   snap_xmin the oldest transaction still running when the row was written (its statement
--             snapshot's xmin).
-- Any transaction T that holds a lower id still uncommitted when a row R is written was running
-- at R's nextval, so T's xid >= R.snap_xmin; a reader whose snapshot had xmin X misses only rows
-- whose xid >= X. Both columns are NULL on rows written before this migration (all committed).
CREATE FUNCTION order_event_id() RETURNS bigint LANGUAGE sql VOLATILE
BEGIN ATOMIC
  SELECT pg_current_xact_id();
  SELECT nextval('order_events_id_seq'::regclass);
END;

ALTER TABLE order_events ALTER COLUMN id SET DEFAULT order_event_id();
-- added without a default first, so the existing rows are not rewritten
ALTER TABLE order_events ADD COLUMN xid xid8, ADD COLUMN snap_xmin xid8;
ALTER TABLE order_events
    ALTER COLUMN xid SET DEFAULT pg_current_xact_id(),
    ALTER COLUMN snap_xmin SET DEFAULT pg_snapshot_xmin(pg_current_snapshot());

-- the relay's two reads: after a cursor, and since a transaction horizon
CREATE INDEX order_events_account_id ON order_events (account_id, id);
CREATE INDEX order_events_account_xid ON order_events (account_id, xid);
