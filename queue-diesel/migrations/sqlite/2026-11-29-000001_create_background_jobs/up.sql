-- The job table of queue-core's SQLite storage. Times are microseconds since the Unix epoch.
CREATE TABLE background_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_type TEXT NOT NULL,
    -- JSON text.
    data TEXT NOT NULL,
    priority SMALLINT NOT NULL DEFAULT 0,
    deduplicated BOOLEAN NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    last_retry BIGINT,
    last_error TEXT,
    -- When it may run next; NULL once its retries are exhausted.
    run_at BIGINT,
    created_at BIGINT NOT NULL,
    -- The lease of the worker running the job: until when, and which claim holds it.
    locked_until BIGINT,
    lock_token BIGINT
);

CREATE INDEX background_jobs_claim ON background_jobs (priority DESC, id);
CREATE INDEX background_jobs_dedup ON background_jobs (job_type, data) WHERE deduplicated;
