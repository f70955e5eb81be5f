-- Durable fetch jobs. A job is a batch of items (one instrument + interval + range each); the
-- worker pool claims items with FOR UPDATE SKIP LOCKED and holds them under a lease it renews
-- while working. After a crash the lease lapses and any replica reclaims the item, resuming
-- after `cursor` (the end of the last chunk written), so nothing is fetched twice or skipped.

CREATE TABLE jobs (
    id              uuid        PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('fetch', 'batch', 'daily_update')),
    account_id      text        NOT NULL DEFAULT '',
    state           text        NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    options         jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    error           text        NOT NULL DEFAULT ''
);

CREATE INDEX jobs_account_idx ON jobs (account_id, created_at DESC);
CREATE INDEX jobs_open_idx ON jobs (created_at) WHERE state IN ('queued', 'running');

CREATE TABLE job_items (
    job_id           uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq              integer     NOT NULL,
    instrument_token bigint      NOT NULL,
    exchange         text        NOT NULL,
    tradingsymbol    text        NOT NULL,
    interval         text        NOT NULL,
    range_from       timestamptz NOT NULL,
    range_to         timestamptz NOT NULL,
    options          jsonb       NOT NULL DEFAULT '{}',
    state            text        NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    requests_done    integer     NOT NULL DEFAULT 0,
    requests_total   integer     NOT NULL DEFAULT 0,
    rows_stored      bigint      NOT NULL DEFAULT 0,
    rows_fetched     bigint      NOT NULL DEFAULT 0,
    rows_invalid     bigint      NOT NULL DEFAULT 0,
    issues           jsonb       NOT NULL DEFAULT '{}',
    error            text        NOT NULL DEFAULT '',
    cursor           timestamptz,                 -- end of the last chunk completed
    attempts         integer     NOT NULL DEFAULT 0,
    lease_owner      text,
    lease_until      timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    PRIMARY KEY (job_id, seq)
);

CREATE INDEX job_items_claim_idx ON job_items (state, lease_until)
    WHERE state IN ('queued', 'running');

-- What the daily update refreshes: every (instrument, interval) someone fetched.
CREATE TABLE tracked (
    instrument_token bigint      NOT NULL,
    interval         text        NOT NULL,
    account_id       text        NOT NULL DEFAULT '',
    added_at         timestamptz NOT NULL DEFAULT now(),
    last_fetched_at  timestamptz,
    PRIMARY KEY (instrument_token, interval)
);

-- Which IST days the daily update has been queued for (one replica wins each day).
CREATE TABLE daily_runs (
    run_date    date        PRIMARY KEY,
    job_id      uuid,
    queued_at   timestamptz NOT NULL DEFAULT now()
);
