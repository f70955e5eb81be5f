-- Candles marketdata builds from live ticks (WriteCandles, source "ticks") are provisional:
-- Kite's historical candle is the truth and replaces them in the daily update. `provisional`
-- marks such rows; every row stored before this migration came from Kite or an import, so the
-- default false makes them final. The write path (store.py) never lets a provisional row
-- replace a final one and always lets a final one replace a provisional one; incremental fetch
-- counts provisional bars as not yet fetched.
--
-- The partial index finds a series' provisional bars (and the daily update, every series that
-- has some) without scanning the final ones; it stays tiny because the update empties it.
--
-- Native partitions: ADD COLUMN … DEFAULT false is a catalogue change (no rewrite) that
-- reaches every partition, and an index on the parent is created on each partition, present
-- and future. TimescaleDB: a hypertable with compression enabled refuses some column changes
-- in older releases; the column then stays nullable (NULL reads as final: the code tests
-- `provisional` only where true matters) and the index is left to the uncompressed chunks.

DO $migration$
DECLARE
    hypertable boolean := false;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables'
                ' WHERE hypertable_name = ''ohlcv'')' INTO hypertable;
    END IF;

    IF NOT hypertable THEN
        ALTER TABLE ohlcv ADD COLUMN provisional boolean NOT NULL DEFAULT false;
        CREATE INDEX ohlcv_provisional_idx ON ohlcv (instrument_token, interval, ts)
            WHERE provisional;
    ELSE
        BEGIN
            ALTER TABLE ohlcv ADD COLUMN provisional boolean NOT NULL DEFAULT false;
        EXCEPTION WHEN feature_not_supported OR object_not_in_prerequisite_state THEN
            RAISE NOTICE 'ohlcv.provisional NOT NULL refused (%); added as nullable', SQLERRM;
            ALTER TABLE ohlcv ADD COLUMN provisional boolean DEFAULT false;
        END;
        BEGIN
            CREATE INDEX ohlcv_provisional_idx ON ohlcv (instrument_token, interval, ts)
                WHERE provisional;
        EXCEPTION WHEN feature_not_supported OR object_not_in_prerequisite_state THEN
            RAISE NOTICE 'ohlcv_provisional_idx not created (%)', SQLERRM;
        END;
    END IF;
END
$migration$;

COMMENT ON COLUMN ohlcv.provisional IS
    'true: built from live ticks (WriteCandles source "ticks"), replaced by Kite''s candle';
