-- The jobs of a many-job enqueue that are not deduplicated go in with one INSERT reading
-- the arrays in one pass (`unnest` of the arrays side by side), instead of one subscript
-- per row and column: a subscript into an array of text or jsonb walks the array from its
-- start, so that insert cost grew with the square of the batch. A batch without
-- deduplicated jobs, the usual one, takes the ids as they come back.
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
