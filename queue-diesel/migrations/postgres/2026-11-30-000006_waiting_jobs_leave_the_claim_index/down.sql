DROP FUNCTION promote_background_jobs(INTEGER);
DROP INDEX background_jobs_waiting;
DROP INDEX background_jobs_runnable;
CREATE INDEX background_jobs_claim ON background_jobs (priority DESC, run_at, id)
    WHERE run_at IS NOT NULL;
DROP TRIGGER background_jobs_waiting ON background_jobs;
DROP FUNCTION background_jobs_set_waiting();
ALTER TABLE background_jobs DROP COLUMN waiting;
