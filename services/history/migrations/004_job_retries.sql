-- Items that hit transient Kite errors (429, 5xx, timeouts, network) are retried with backoff
-- for a window of minutes instead of failing at once. The state lives in the row, so a retry
-- survives a lease hand-over to another replica: the next attempt waits for `next_try_at`, and
-- the item fails only once `retry_until` has passed. A chunk completed resets the window.
-- `retryable` marks an item that failed that way; the daily update queues it again.

ALTER TABLE job_items
    ADD COLUMN transient_errors integer     NOT NULL DEFAULT 0,
    ADD COLUMN retry_until      timestamptz,
    ADD COLUMN next_try_at      timestamptz,
    ADD COLUMN retryable        boolean     NOT NULL DEFAULT false;

CREATE INDEX job_items_retryable_idx ON job_items (job_id) WHERE state = 'failed' AND retryable;
