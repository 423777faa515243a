-- The job table of queue-core's PostgreSQL storage.
CREATE TABLE background_jobs (
    id BIGSERIAL PRIMARY KEY,
    job_type TEXT NOT NULL,
    data JSONB NOT NULL,
    priority SMALLINT NOT NULL DEFAULT 0,
    -- Whether identical pending jobs are coalesced into this one.
    deduplicated BOOLEAN NOT NULL DEFAULT FALSE,
    -- How many times the job failed.
    retries INTEGER NOT NULL DEFAULT 0,
    -- When it last failed, and with what error.
    last_retry TIMESTAMPTZ,
    last_error TEXT,
    -- When it may run next; NULL once its retries are exhausted.
    run_at TIMESTAMPTZ DEFAULT now(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The claim walks this index in running order and stops at the first unlocked runnable
-- row, so its cost does not grow with the number of pending jobs.
CREATE INDEX background_jobs_claim ON background_jobs (priority DESC, id);

-- Finds a pending duplicate of a deduplicated job.
CREATE INDEX background_jobs_dedup ON background_jobs (job_type, md5(data::text))
    WHERE deduplicated;
