CREATE OR REPLACE FUNCTION promote_background_jobs(max_jobs INTEGER) RETURNS BIGINT
LANGUAGE plpgsql
AS $$
DECLARE
    promoted BIGINT;
BEGIN
    WITH due AS (
        SELECT id FROM background_jobs
        WHERE waiting AND run_at <= clock_timestamp()
        ORDER BY run_at
        LIMIT max_jobs
        FOR UPDATE SKIP LOCKED
    )
    UPDATE background_jobs b SET waiting = FALSE FROM due WHERE b.id = due.id;
    GET DIAGNOSTICS promoted = ROW_COUNT;
    IF promoted > 0 THEN
        PERFORM pg_notify('queue_core_jobs', '');
    END IF;
    RETURN promoted;
END
$$;
