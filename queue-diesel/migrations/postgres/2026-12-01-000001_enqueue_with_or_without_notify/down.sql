-- The four-argument enqueues of `2026-11-30-000002_enqueue_in_one_statement` and
-- `2026-11-30-000005_enqueue_many_in_one_insert`, which notify themselves.
CREATE OR REPLACE FUNCTION enqueue_background_job(
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

CREATE OR REPLACE FUNCTION enqueue_background_jobs(
    new_types TEXT[], new_data JSONB[], new_priorities SMALLINT[], new_deduplicated BOOLEAN[]
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
                ids[i] := enqueue_background_job(new_types[i], new_data[i], new_priorities[i], true);
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
    PERFORM pg_notify('queue_core_jobs', '');
    RETURN ids;
END
$$;

DROP FUNCTION enqueue_background_jobs(TEXT[], JSONB[], SMALLINT[], BOOLEAN[], BOOLEAN);
DROP FUNCTION enqueue_background_job(TEXT, JSONB, SMALLINT, BOOLEAN, BOOLEAN);
