DROP INDEX background_jobs_claim;
CREATE INDEX background_jobs_claim ON background_jobs (priority DESC, id);
