-- Within a priority, jobs runnable now come before jobs waiting for a retry; jobs whose
-- retries are exhausted are not in the index at all.
DROP INDEX background_jobs_claim;
CREATE INDEX background_jobs_claim ON background_jobs (priority DESC, run_at, id)
    WHERE run_at IS NOT NULL;
