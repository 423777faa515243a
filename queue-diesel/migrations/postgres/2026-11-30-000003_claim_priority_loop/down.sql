-- The recursive claim of the previous migration.
CREATE OR REPLACE FUNCTION claim_background_jobs(types TEXT[], matching BOOLEAN, max_jobs BIGINT)
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
