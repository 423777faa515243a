DROP FUNCTION claim_background_jobs_below(TEXT[], BOOLEAN, BIGINT, INTEGER);
