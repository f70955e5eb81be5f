-- The audit log is append-only and hash-chained per account (reliability suite, issue 17):
-- each row carries its position in its account's chain (chain_seq, 1, 2, …), the hash of the
-- row before it (prev_hash, '' for the first) and its own hash, sha256 over the row's fields
-- (audit_payload below; services/execution/audit_chain.py recomputes it independently).
-- A BEFORE INSERT trigger fills the three columns under a row lock on the account's chain
-- head, so concurrent writers serialise per account and the chain never forks. UPDATE,
-- DELETE and TRUNCATE are refused by triggers: a changed or removed row is a broken link the
-- verifier names.
ALTER TABLE audit_logs
    ADD COLUMN chain_seq bigint,
    ADD COLUMN prev_hash text,
    ADD COLUMN hash      text;

CREATE TABLE audit_chain (
    account_id text PRIMARY KEY,
    last_seq   bigint NOT NULL,
    last_hash  text NOT NULL
);

-- Each field length-prefixed (characters), so no separator inside a field can shift another.
CREATE FUNCTION audit_payload(prev text, seq bigint, account text, ts timestamptz,
                              actor text, action text, detail jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(length(f) || ':' || f, '|' ORDER BY n)
  FROM unnest(ARRAY[prev, seq::text, account,
                    to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                    actor, action, detail::text]) WITH ORDINALITY AS t(f, n)
$$;

CREATE FUNCTION audit_logs_chain() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  prev text;
  seq bigint;
BEGIN
  INSERT INTO audit_chain AS c (account_id, last_seq, last_hash)
    VALUES (NEW.account_id, 0, '')
    ON CONFLICT (account_id) DO UPDATE SET last_seq = c.last_seq
    RETURNING c.last_seq, c.last_hash INTO seq, prev;
  NEW.chain_seq := seq + 1;
  NEW.prev_hash := prev;
  NEW.hash := encode(sha256(convert_to(audit_payload(prev, seq + 1, NEW.account_id, NEW.ts,
                                                     NEW.actor, NEW.action, NEW.detail),
                                       'UTF8')), 'hex');
  UPDATE audit_chain SET last_seq = seq + 1, last_hash = NEW.hash
    WHERE account_id = NEW.account_id;
  RETURN NEW;
END $$;

CREATE FUNCTION audit_logs_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

-- Rows written before this migration join their account's chain in id order.
DO $$
DECLARE
  r record;
  prev text;
  seq bigint;
BEGIN
  FOR r IN SELECT * FROM audit_logs ORDER BY account_id, id LOOP
    SELECT last_seq, last_hash INTO seq, prev FROM audit_chain WHERE account_id = r.account_id;
    IF NOT FOUND THEN
      seq := 0; prev := '';
      INSERT INTO audit_chain VALUES (r.account_id, 0, '');
    END IF;
    UPDATE audit_logs SET chain_seq = seq + 1, prev_hash = prev,
      hash = encode(sha256(convert_to(audit_payload(prev, seq + 1, r.account_id, r.ts,
                                                    r.actor, r.action, r.detail), 'UTF8')),
                    'hex')
      WHERE id = r.id RETURNING hash INTO prev;
    UPDATE audit_chain SET last_seq = seq + 1, last_hash = prev
      WHERE account_id = r.account_id;
  END LOOP;
END $$;

ALTER TABLE audit_logs
    ALTER COLUMN chain_seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN hash SET NOT NULL;
CREATE UNIQUE INDEX audit_logs_chain_seq ON audit_logs (account_id, chain_seq);

CREATE TRIGGER audit_logs_chain BEFORE INSERT ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_chain();
CREATE TRIGGER audit_logs_no_change BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse();
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse();
