-- When the claim holding the job was taken (microseconds since the Unix epoch), so that
-- operators can see how long a job has been running; NULL when no worker holds it.
ALTER TABLE background_jobs ADD COLUMN claimed_at BIGINT;
