-- Continuous aggregates of the minute bars, on the TimescaleDB path only (the cluster's
-- CloudNativePG image): ohlcv_5minute, ohlcv_15minute, ohlcv_60minute and ohlcv_day, one row
-- per (instrument_token, segment, bucket) with Kite's candle shape. Buckets are the ones
-- history's read-time resampling serves (reader.py): intraday ones anchored at the 09:15 IST
-- session open (60minute bars start 09:15 … 15:15 like Kite's), day buckets IST calendar days.
-- Special sessions (a Muhurat hour) keep the 09:15 grid here; reader.py re-anchors those.
--
-- Real-time (materialized_only = false): a query sees materialized buckets plus the minute bars
-- not yet materialized. The refresh policies cover all history (start_offset NULL: a backfill
-- of old months is materialized by the next run, through Timescale's invalidation log).
-- `bars` counts the minute bars in a bucket; `provisional` is true when any came from ticks.
--
-- WITH NO DATA so the views can be created inside the migration's transaction; the first
-- policy run materializes them. On plain PostgreSQL (these machines) nothing is created and
-- history keeps resampling minute bars at read time — which it does on both paths.

DO $migration$
DECLARE
    hypertable boolean := false;
    agg record;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables'
                ' WHERE hypertable_name = ''ohlcv'')' INTO hypertable;
    END IF;

    IF NOT hypertable THEN
        RAISE NOTICE 'ohlcv is not a TimescaleDB hypertable: no continuous aggregates';
        RETURN;
    END IF;

    FOR agg IN SELECT * FROM (VALUES
        ('ohlcv_5minute',
         'time_bucket(interval ''5 minutes'', ts, origin => ''2000-01-03 09:15:00+05:30''::timestamptz)',
         interval '5 minutes', interval '5 minutes'),
        ('ohlcv_15minute',
         'time_bucket(interval ''15 minutes'', ts, origin => ''2000-01-03 09:15:00+05:30''::timestamptz)',
         interval '15 minutes', interval '5 minutes'),
        ('ohlcv_60minute',
         'time_bucket(interval ''60 minutes'', ts, origin => ''2000-01-03 09:15:00+05:30''::timestamptz)',
         interval '1 hour', interval '15 minutes'),
        ('ohlcv_day',
         'time_bucket(interval ''1 day'', ts, timezone => ''Asia/Kolkata'')',
         interval '1 day', interval '1 hour')
    ) AS v(name, bucket, end_offset, schedule)
    LOOP
        EXECUTE format(
            'CREATE MATERIALIZED VIEW %I'
            ' WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS'
            ' SELECT instrument_token, segment, %s AS bucket,'
            '   first(open, ts) AS open, max(high) AS high, min(low) AS low,'
            '   last(close, ts) AS close, sum(volume)::bigint AS volume, last(oi, ts) AS oi,'
            '   count(*) AS bars, bool_or(provisional) AS provisional'
            ' FROM ohlcv WHERE interval = ''minute'''
            ' GROUP BY instrument_token, segment, bucket'
            ' WITH NO DATA', agg.name, agg.bucket);
        EXECUTE format('COMMENT ON MATERIALIZED VIEW %I IS %L', agg.name,
                       'minute bars of ohlcv aggregated to ' || agg.name
                       || ' (TimescaleDB continuous aggregate, real-time)');
        PERFORM add_continuous_aggregate_policy(agg.name::regclass,
            start_offset => NULL::interval, end_offset => agg.end_offset,
            schedule_interval => agg.schedule);
    END LOOP;
END
$migration$;
