-- The claim's walk of the priorities, from below a given one: the usual claim takes its jobs
-- from the highest priority present (see `ClaimStatement` in pg.rs), and calls this
-- function, in the same statement, only when that priority had fewer than asked for. It
-- starts strictly below the priority of the rows the claim already holds (or the one it
-- tried), so it cannot return one of them twice (a query sees the rows its own transaction
-- locked). `below` is an INTEGER so that 32768 means "from the top".
--
-- Same walk as `claim_background_jobs`, which is kept for workers of earlier versions: one
-- index probe per priority present, highest first, and within each the claim index from
-- the oldest `run_at` up to now, so jobs waiting for a retry or exhausted are never walked
-- past.
CREATE FUNCTION claim_background_jobs_below(
    types TEXT[], matching BOOLEAN, max_jobs BIGINT, below INTEGER
)
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
    WHERE b.run_at IS NOT NULL AND b.priority < below
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
