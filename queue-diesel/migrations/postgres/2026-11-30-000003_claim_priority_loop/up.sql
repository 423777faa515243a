-- The claim as a loop over the priorities present, highest first, instead of a recursive
-- query: the usual queue has one priority, and then a claim is one index probe and one
-- index walk, each with a plan kept for the session (`force_generic_plan`). Same result
-- as before: up to `max_jobs` runnable, unlocked jobs in running order (priority, then the
-- longest runnable, then id), never walking past jobs that wait for a retry (they sort
-- after the runnable ones of their priority) or are exhausted (not in the index).
CREATE OR REPLACE FUNCTION claim_background_jobs(types TEXT[], matching BOOLEAN, max_jobs BIGINT)
RETURNS TABLE (job_id BIGINT, job_type TEXT, job_data JSONB, job_retries INTEGER)
LANGUAGE plpgsql
SET enable_sort = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    current_priority SMALLINT;
    wanted BIGINT := max_jobs;
    got BIGINT;
BEGIN
    SELECT b.priority INTO current_priority FROM background_jobs b
    WHERE b.run_at IS NOT NULL
    ORDER BY b.priority DESC LIMIT 1;
    WHILE current_priority IS NOT NULL AND wanted > 0 LOOP
        RETURN QUERY
        SELECT b.id, b.job_type, b.data, b.retries FROM background_jobs b
        WHERE b.priority = current_priority AND b.run_at <= now()
          AND (b.job_type = ANY(types)) = matching
        ORDER BY b.run_at, b.id
        LIMIT wanted
        FOR UPDATE SKIP LOCKED;
        GET DIAGNOSTICS got = ROW_COUNT;
        wanted := wanted - got;
        EXIT WHEN wanted <= 0;
        SELECT b.priority INTO current_priority FROM background_jobs b
        WHERE b.run_at IS NOT NULL AND b.priority < current_priority
        ORDER BY b.priority DESC LIMIT 1;
    END LOOP;
END
$$;
