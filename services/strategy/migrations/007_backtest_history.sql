-- Backtest history and optimisation jobs.
-- * The history list filters by strategy and symbol, which live inside the serialized spec; the
--   columns copy them out at submission (runs stored before this have them empty).
-- * An optimisation runs as a job of the same queue (kind 'optimize', spec = a serialized
--   mandi.v1.OptimizeRequest); `partial` holds its latest ranking (a serialized
--   OptimizeProgress), rewritten as it goes and final once done.
-- * data_source records where a run's bars came from (the history table, interval, range, bars
--   per symbol), as seed 002's results schema lists it.
ALTER TABLE backtests
    ADD COLUMN kind          text   NOT NULL DEFAULT 'backtest'
                             CHECK (kind IN ('backtest', 'optimize')),
    ADD COLUMN strategy_type text   NOT NULL DEFAULT '',
    ADD COLUMN strategy_name text   NOT NULL DEFAULT '',
    ADD COLUMN symbols       text[] NOT NULL DEFAULT '{}',
    ADD COLUMN partial       bytea;

-- Newest first per owner, with the id as the keyset tie-break of the page cursor.
CREATE INDEX backtests_history ON backtests (owner, kind, created_at DESC, id DESC);
DROP INDEX backtests_owner;

ALTER TABLE backtest_results ADD COLUMN data_source jsonb;
