-- Claims walk this index one priority at a time: within a priority, jobs runnable now
-- (`run_at` in the past) come before jobs waiting for a retry, and jobs whose retries are
-- exhausted (`run_at` NULL) are not in it at all, so neither kind is walked past.
DROP INDEX background_jobs_claim;
CREATE INDEX background_jobs_claim ON background_jobs (priority DESC, run_at, id)
    WHERE run_at IS NOT NULL;

-- The claim: up to `max_jobs` runnable, unlocked jobs in running order (priority, then the
-- longest runnable, then id) whose type is in `types` (or, when `matching` is false, is
-- not), locked for the calling transaction.
--
-- It visits the priorities present one by one, highest first (one index probe each), and
-- within each walks the claim index from the oldest `run_at` up to now. Rows are locked as
-- they are returned, so the outer LIMIT locks no extra row. `enable_sort = off` keeps that
-- walk even when the statistics were taken while the table was empty (they would make a
-- sort of every runnable job look cheap); a function also keeps its plan per session.
CREATE FUNCTION claim_background_jobs(types TEXT[], matching BOOLEAN, max_jobs BIGINT)
RETURNS TABLE (job_id BIGINT, job_type TEXT, job_data JSONB, job_retries INTEGER)
LANGUAGE plpgsql
SET enable_sort = off
AS $$
BEGIN
    RETURN QUERY
    WITH RECURSIVE priorities AS (
        (SELECT b.priority FROM background_jobs b WHERE b.run_at IS NOT NULL
         ORDER BY b.priority DESC LIMIT 1)
        UNION ALL
        SELECT (SELECT b.priority FROM background_jobs b
                WHERE b.run_at IS NOT NULL AND b.priority < p.priority
                ORDER BY b.priority DESC LIMIT 1)
        FROM priorities p WHERE p.priority IS NOT NULL
    )
    SELECT j.id, j.job_type, j.data, j.retries
    FROM priorities p
    CROSS JOIN LATERAL (
        SELECT b.id, b.job_type, b.data, b.retries, b.run_at FROM background_jobs b
        WHERE b.priority = p.priority AND b.run_at <= now()
          AND (b.job_type = ANY(types)) = matching
        ORDER BY b.run_at, b.id
        LIMIT max_jobs
        FOR UPDATE SKIP LOCKED
    ) j
    LIMIT max_jobs;
END
$$;
