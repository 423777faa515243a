-- The many-job enqueue of `2026-11-30-000002_enqueue_in_one_statement`.
CREATE OR REPLACE FUNCTION enqueue_background_jobs(
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
