-- The enqueue functions take whether to notify. A notifying transaction holds a
-- database-wide lock from its pre-commit through its commit's flush, so concurrent
-- notifying enqueues commit one at a time, without group commit. An enqueue the library
-- commits itself while another of its enqueues is in flight inserts without notifying, and
-- the library notifies after the commit, once for all the enqueues committed meanwhile.
-- The four-argument forms, which earlier versions call, notify as before.

CREATE FUNCTION enqueue_background_job(
    new_type TEXT, new_data JSONB, new_priority SMALLINT, new_deduplicated BOOLEAN,
    notify BOOLEAN
) RETURNS BIGINT
LANGUAGE plpgsql
AS $$
DECLARE
    job_id BIGINT;
BEGIN
    IF new_deduplicated THEN
        PERFORM pg_advisory_xact_lock(6975330, hashtext(new_type || ':' || new_data::text));
        UPDATE background_jobs SET run_at = LEAST(run_at, now())
        WHERE id = (
            SELECT b.id FROM background_jobs b
            WHERE b.deduplicated AND b.job_type = new_type
              AND md5(b.data::text) = md5(new_data::text) AND b.data = new_data
              AND b.run_at IS NOT NULL
            ORDER BY b.id LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING id INTO job_id;
        IF job_id IS NOT NULL THEN
            IF notify THEN
                PERFORM pg_notify('queue_core_jobs', '');
            END IF;
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO background_jobs (job_type, data, priority, deduplicated)
    VALUES (new_type, new_data, new_priority, new_deduplicated)
    RETURNING id INTO job_id;
    IF notify THEN
        PERFORM pg_notify('queue_core_jobs', '');
    END IF;
    RETURN job_id;
END
$$;

CREATE FUNCTION enqueue_background_jobs(
    new_types TEXT[], new_data JSONB[], new_priorities SMALLINT[], new_deduplicated BOOLEAN[],
    notify BOOLEAN
) RETURNS BIGINT[]
LANGUAGE plpgsql
AS $$
DECLARE
    n INTEGER := coalesce(array_length(new_types, 1), 0);
    any_deduplicated BOOLEAN := true = ANY(new_deduplicated);
    ids BIGINT[] := array_fill(NULL::BIGINT, ARRAY[n]);
    plain_slots INTEGER[];
    plain_ids BIGINT[];
BEGIN
    IF n = 0 THEN
        RETURN ids;
    END IF;
    IF any_deduplicated THEN
        FOR i IN 1..n LOOP
            IF new_deduplicated[i] THEN
                ids[i] := enqueue_background_job(
                    new_types[i], new_data[i], new_priorities[i], true, notify);
            END IF;
        END LOOP;
    END IF;
    -- Rows go in in array order, so ids ascend with the positions.
    WITH inserted AS (
        INSERT INTO background_jobs (job_type, data, priority, deduplicated)
        SELECT u.t, u.d, u.p, false
        FROM unnest(new_types, new_data, new_priorities, new_deduplicated)
            WITH ORDINALITY AS u(t, d, p, dedup, i)
        WHERE NOT u.dedup
        ORDER BY u.i
        RETURNING id)
    SELECT array_agg(id ORDER BY id) INTO plain_ids FROM inserted;
    IF plain_ids IS NULL THEN
        RETURN ids;
    END IF;
    IF any_deduplicated THEN
        SELECT array_agg(i ORDER BY i) INTO plain_slots
        FROM generate_subscripts(new_deduplicated, 1) i WHERE NOT new_deduplicated[i];
        FOR k IN 1..array_length(plain_slots, 1) LOOP
            ids[plain_slots[k]] := plain_ids[k];
        END LOOP;
    ELSE
        ids := plain_ids;
    END IF;
    IF notify THEN
        PERFORM pg_notify('queue_core_jobs', '');
    END IF;
    RETURN ids;
END
$$;

CREATE OR REPLACE FUNCTION enqueue_background_job(
    new_type TEXT, new_data JSONB, new_priority SMALLINT, new_deduplicated BOOLEAN
) RETURNS BIGINT
LANGUAGE sql
AS $$
    SELECT enqueue_background_job(new_type, new_data, new_priority, new_deduplicated, true)
$$;

CREATE OR REPLACE FUNCTION enqueue_background_jobs(
    new_types TEXT[], new_data JSONB[], new_priorities SMALLINT[], new_deduplicated BOOLEAN[]
) RETURNS BIGINT[]
LANGUAGE sql
AS $$
    SELECT enqueue_background_jobs(new_types, new_data, new_priorities, new_deduplicated, true)
$$;
