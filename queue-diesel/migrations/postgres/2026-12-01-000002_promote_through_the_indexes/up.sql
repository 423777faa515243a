-- A promotion read every waiting job, and every job, at each call (each second, and at each
-- claim that finds nothing), however few were due:
--
-- - it compared `run_at` with `clock_timestamp()`, which is volatile: PostgreSQL cannot
--   bound an index scan with it, so the scan of `background_jobs_waiting` went on past the
--   due jobs to the last waiting one. Read once into a variable, the time bounds the scan.
-- - it joined the due jobs to the table, which the planner, expecting `max_jobs` of them,
--   may do with a hash join over a scan of the whole table (it does when the table has no
--   statistics yet). Updated by `id = ANY (ARRAY(...))`, the due jobs are found through the
--   primary key, as a claim's completion finds the jobs it deletes.
CREATE OR REPLACE FUNCTION promote_background_jobs(max_jobs INTEGER) RETURNS BIGINT
LANGUAGE plpgsql
AS $$
DECLARE
    promoted BIGINT;
    due_by TIMESTAMPTZ := clock_timestamp();
BEGIN
    UPDATE background_jobs SET waiting = FALSE
    WHERE id = ANY (ARRAY(
        SELECT id FROM background_jobs
        WHERE waiting AND run_at <= due_by
        ORDER BY run_at
        LIMIT max_jobs
        FOR UPDATE SKIP LOCKED
    ));
    GET DIAGNOSTICS promoted = ROW_COUNT;
    IF promoted > 0 THEN
        PERFORM pg_notify('queue_core_jobs', '');
    END IF;
    RETURN promoted;
END
$$;
