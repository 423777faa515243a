ALTER TABLE background_jobs DROP COLUMN claimed_at;
