-- OHLCV bars, keyed by (instrument_token, interval, ts).
--
-- `segment` (EQUITY: NSE/BSE and indices, DERIVATIVES: NFO/BFO) is a column of every row so the
-- two segments are stored apart: on plain PostgreSQL the table is LIST-partitioned by segment and
-- each segment RANGE-partitioned by month (IST month boundaries); the write path creates the
-- monthly partitions it needs (store.py), a DEFAULT partition per segment catches anything else.
-- Database-info then sizes each segment from its own partitions, exactly.
--
-- segment is the last key column: it is a function of instrument_token, so uniqueness is the
-- same as (instrument_token, interval, ts), and the index still serves token/interval/ts scans.
-- The same key and the same queries serve the TimescaleDB path, taken only when
-- CREATE EXTENSION timescaledb succeeds (hypertable, monthly chunks, compression after 30 days).

DO $migration$
DECLARE
    have_timescale boolean := false;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        have_timescale := true;
    EXCEPTION WHEN OTHERS THEN
        have_timescale := false;  -- not installed / not preloaded: native partitions
    END;

    IF have_timescale THEN
        CREATE TABLE ohlcv (
            instrument_token bigint           NOT NULL,
            interval         text COLLATE "C" NOT NULL,
            ts               timestamptz      NOT NULL,
            segment          text COLLATE "C" NOT NULL
                CHECK (segment IN ('EQUITY', 'DERIVATIVES')),
            open             double precision NOT NULL,
            high             double precision NOT NULL,
            low              double precision NOT NULL,
            close            double precision NOT NULL,
            volume           bigint           NOT NULL DEFAULT 0,
            oi               bigint           NOT NULL DEFAULT 0,
            PRIMARY KEY (instrument_token, interval, ts, segment)
        );
        PERFORM create_hypertable('ohlcv', 'ts', chunk_time_interval => interval '1 month');
        ALTER TABLE ohlcv SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'instrument_token, interval, segment',
            timescaledb.compress_orderby = 'ts'
        );
        PERFORM add_compression_policy('ohlcv', interval '30 days');
    ELSE
        CREATE TABLE ohlcv (
            instrument_token bigint           NOT NULL,
            interval         text COLLATE "C" NOT NULL,
            ts               timestamptz      NOT NULL,
            segment          text COLLATE "C" NOT NULL
                CHECK (segment IN ('EQUITY', 'DERIVATIVES')),
            open             double precision NOT NULL,
            high             double precision NOT NULL,
            low              double precision NOT NULL,
            close            double precision NOT NULL,
            volume           bigint           NOT NULL DEFAULT 0,
            oi               bigint           NOT NULL DEFAULT 0,
            PRIMARY KEY (instrument_token, interval, ts, segment)
        ) PARTITION BY LIST (segment);

        CREATE TABLE ohlcv_equity PARTITION OF ohlcv
            FOR VALUES IN ('EQUITY') PARTITION BY RANGE (ts);
        CREATE TABLE ohlcv_derivatives PARTITION OF ohlcv
            FOR VALUES IN ('DERIVATIVES') PARTITION BY RANGE (ts);
        CREATE TABLE ohlcv_equity_default PARTITION OF ohlcv_equity DEFAULT;
        CREATE TABLE ohlcv_derivatives_default PARTITION OF ohlcv_derivatives DEFAULT;
    END IF;
END
$migration$;

COMMENT ON TABLE ohlcv IS
    'OHLCV bars; ts = candle start (UTC). Written only through services/history/store.py.';
