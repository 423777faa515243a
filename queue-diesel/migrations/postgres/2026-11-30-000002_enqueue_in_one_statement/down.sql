DROP FUNCTION enqueue_background_jobs(TEXT[], JSONB[], SMALLINT[], BOOLEAN[]);
DROP FUNCTION enqueue_background_job(TEXT, JSONB, SMALLINT, BOOLEAN);
