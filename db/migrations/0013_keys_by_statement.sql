-- 0013_keys_by_statement (issue 18): integration_event_keys kept once per UPDATE statement,
-- not once per row.
--
-- The row trigger of 0012 ran a PL/pgSQL call, a DELETE and its plan's executor start for each
-- event a statement finished: a third of finish_many's time for a batch (16 rows, 0.41-0.53 ms
-- of 1.3-1.5 ms, EXPLAIN ANALYZE). One call per statement over its transition tables does the
-- batch's keys in two statements (0.17 ms). A trigger with transition tables cannot name
-- columns (UPDATE OF ...), so it runs after every UPDATE of integration_events; where no row
-- entered or left the unfinished set with its keys (a claim: pending to processing), both set
-- differences are empty and nothing is written.
--
-- "Entered" and "left" are set differences of (id, arrival, serial_keys) over the rows that were
-- and are unfinished, not a join of the old row to the new by id: an UPDATE that changes an
-- event's id, arrival or keys leaves the keys right too.
CREATE FUNCTION integration_event_keys_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM integration_event_keys k
    USING (SELECT o.id, o.arrival, o.serial_keys FROM old_rows o
           WHERE o.status IN ('pending', 'processing')
           EXCEPT
           SELECT n.id, n.arrival, n.serial_keys FROM new_rows n
           WHERE n.status IN ('pending', 'processing')) AS gone
    WHERE k.key = ANY (gone.serial_keys) AND k.arrival = gone.arrival AND k.event_id = gone.id;
    INSERT INTO integration_event_keys (key, arrival, event_id)
    SELECT DISTINCT k.key, came.arrival, came.id
    FROM (SELECT n.id, n.arrival, n.serial_keys FROM new_rows n
          WHERE n.status IN ('pending', 'processing')
          EXCEPT
          SELECT o.id, o.arrival, o.serial_keys FROM old_rows o
          WHERE o.status IN ('pending', 'processing')) AS came,
         unnest(came.serial_keys) AS k (key);
    RETURN NULL;
END;
$$;

DROP TRIGGER integration_event_keys_update ON integration_events;

CREATE TRIGGER integration_event_keys_update
    AFTER UPDATE ON integration_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION integration_event_keys_update();

-- Only DELETE calls it now.
CREATE OR REPLACE FUNCTION integration_event_keys_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM integration_event_keys
    WHERE key = ANY (OLD.serial_keys) AND arrival = OLD.arrival AND event_id = OLD.id;
    RETURN NULL;
END;
$$;
