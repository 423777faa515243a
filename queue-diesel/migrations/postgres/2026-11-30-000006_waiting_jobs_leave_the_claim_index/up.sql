-- Jobs waiting for a retry leave the claim index until their time comes, so that a claim is
-- one walk of that index from its start, which stops at the first unlocked job: nothing it
-- walks past can be a job it may not run (exhausted jobs, `run_at` NULL, were never in it).
--
-- `waiting` is true while `run_at` is in the future. A trigger sets it whenever a row is
-- inserted or its `run_at` is written, whoever writes it (a worker recording a failure, an
-- operator, a worker of an earlier version), and `promote_background_jobs`, which workers
-- call, clears it once `run_at` has come.
ALTER TABLE background_jobs ADD COLUMN waiting BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE background_jobs SET waiting = TRUE WHERE run_at > now();

CREATE FUNCTION background_jobs_set_waiting() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.waiting := coalesce(NEW.run_at > clock_timestamp(), FALSE);
    RETURN NEW;
END
$$;

-- Fires only for a row whose flag is wrong: a plain enqueue (`run_at` = now()) costs no call.
CREATE TRIGGER background_jobs_waiting
BEFORE INSERT OR UPDATE OF run_at ON background_jobs
FOR EACH ROW
WHEN (coalesce(NEW.run_at > clock_timestamp(), FALSE) <> NEW.waiting)
EXECUTE FUNCTION background_jobs_set_waiting();

-- The claim index holds the jobs a claim may take, in running order. Workers of earlier
-- versions claim through the functions that walked the old index: they still claim the right
-- jobs, by scanning the table.
DROP INDEX background_jobs_claim;
CREATE INDEX background_jobs_runnable ON background_jobs (priority DESC, run_at, id)
    WHERE run_at IS NOT NULL AND NOT waiting;
-- The jobs waiting for a retry, by retry time, for their promotion.
CREATE INDEX background_jobs_waiting ON background_jobs (run_at) WHERE waiting;

-- Makes up to `max_jobs` jobs whose retry time has come claimable again, oldest retry time
-- first, skipping rows another transaction holds; notifies idle workers when it made any.
-- Returns how many.
CREATE FUNCTION promote_background_jobs(max_jobs INTEGER) RETURNS BIGINT
LANGUAGE plpgsql
AS $$
DECLARE
    promoted BIGINT;
BEGIN
    WITH due AS (
        SELECT id FROM background_jobs
        WHERE waiting AND run_at <= clock_timestamp()
        ORDER BY run_at
        LIMIT max_jobs
        FOR UPDATE SKIP LOCKED
    )
    UPDATE background_jobs b SET waiting = FALSE FROM due WHERE b.id = due.id;
    GET DIAGNOSTICS promoted = ROW_COUNT;
    IF promoted > 0 THEN
        PERFORM pg_notify('queue_core_jobs', '');
    END IF;
    RETURN promoted;
END
$$;
