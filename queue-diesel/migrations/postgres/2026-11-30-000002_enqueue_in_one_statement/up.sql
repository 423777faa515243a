-- Enqueues cost one statement: the insert, the deduplication and the NOTIFY run inside the
-- database. Called inside the caller's transaction, they are part of it.

-- One job. Returns its id, or NULL when it was coalesced with an identical deduplicated
-- job that is pending and that no worker holds (which is then made runnable now).
-- Concurrent enqueues of one deduplicated job are serialised by an advisory lock on the
-- job's identity; each statement below takes a new snapshot, so the second one sees the
-- first one's row once it holds the lock.
CREATE FUNCTION enqueue_background_job(
    new_type TEXT, new_data JSONB, new_priority SMALLINT, new_deduplicated BOOLEAN
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
            PERFORM pg_notify('queue_core_jobs', '');
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO background_jobs (job_type, data, priority, deduplicated)
    VALUES (new_type, new_data, new_priority, new_deduplicated)
    RETURNING id INTO job_id;
    PERFORM pg_notify('queue_core_jobs', '');
    RETURN job_id;
END
$$;

-- Many jobs, given as parallel arrays; returns their ids in the same order (NULL for a
-- coalesced one). Jobs that are not deduplicated go in with one INSERT.
CREATE FUNCTION enqueue_background_jobs(
    new_types TEXT[], new_data JSONB[], new_priorities SMALLINT[], new_deduplicated BOOLEAN[]
) RETURNS BIGINT[]
LANGUAGE plpgsql
AS $$
DECLARE
    n INTEGER := coalesce(array_length(new_types, 1), 0);
    ids BIGINT[] := array_fill(NULL::BIGINT, ARRAY[n]);
    plain_slots INTEGER[];
    plain_ids BIGINT[];
BEGIN
    IF n = 0 THEN
        RETURN ids;
    END IF;
    FOR i IN 1..n LOOP
        IF new_deduplicated[i] THEN
            ids[i] := enqueue_background_job(new_types[i], new_data[i], new_priorities[i], true);
        END IF;
    END LOOP;
    SELECT array_agg(i ORDER BY i) INTO plain_slots
    FROM generate_subscripts(new_types, 1) i WHERE NOT new_deduplicated[i];
    IF plain_slots IS NOT NULL THEN
        -- Rows go in in slot order, so ids ascend with the slots.
        WITH inserted AS (
            INSERT INTO background_jobs (job_type, data, priority, deduplicated)
            SELECT new_types[s], new_data[s], new_priorities[s], false
            FROM unnest(plain_slots) s ORDER BY s
            RETURNING id)
        SELECT array_agg(id ORDER BY id) INTO plain_ids FROM inserted;
        FOR k IN 1..array_length(plain_slots, 1) LOOP
            ids[plain_slots[k]] := plain_ids[k];
        END LOOP;
        PERFORM pg_notify('queue_core_jobs', '');
    END IF;
    RETURN ids;
END
$$;
