-- 0012_serial_keys_table (issue 18): the claim's look-up of unfinished events sharing a serial
-- key, from a btree instead of a GIN index.
--
-- The claim takes an event only when no unfinished event sharing one of its keys arrived before
-- it (app/queue.py). A GIN index on serial_keys answered "which unfinished events share this
-- key" with all of them, which the claim then filtered by arrival: each candidate cost as many
-- rows as its pull request had events queued, and one pull request sent thousands of times made
-- every claim walk thousands of candidates times thousands of rows. Here each unfinished event's
-- keys are rows of their own, ordered by (key, arrival): the first row of a key is its head, and
-- "is an earlier one unfinished" is one step into the index.
--
-- Triggers keep the rows, so every writer of integration_events (ingest, the queue, replay,
-- redelivery, an operator's UPDATE) keeps them right: an event's keys are here exactly while
-- its status is pending or processing. Ingest's INSERT fills them in the same statement, set
-- by set (a statement trigger); a status change into or out of pending/processing, and the
-- deletion of an unfinished event, row by row.
CREATE TABLE integration_event_keys (
    key      text NOT NULL,
    arrival  bigint NOT NULL,
    event_id uuid NOT NULL,
    PRIMARY KEY (key, arrival, event_id)
);

CREATE FUNCTION integration_event_keys_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO integration_event_keys (key, arrival, event_id)
    SELECT DISTINCT k.key, n.arrival, n.id
    FROM added n, unnest(n.serial_keys) AS k (key)
    WHERE n.status IN ('pending', 'processing');
    RETURN NULL;
END;
$$;

CREATE FUNCTION integration_event_keys_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('pending', 'processing') THEN
        DELETE FROM integration_event_keys
        WHERE key = ANY (OLD.serial_keys) AND arrival = OLD.arrival AND event_id = OLD.id;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status IN ('pending', 'processing') THEN
        INSERT INTO integration_event_keys (key, arrival, event_id)
        SELECT DISTINCT k.key, NEW.arrival, NEW.id FROM unnest(NEW.serial_keys) AS k (key);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION integration_event_keys_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Not TRUNCATE: a TRUNCATE naming both tables has this one in use.
    DELETE FROM integration_event_keys;
    RETURN NULL;
END;
$$;

CREATE TRIGGER integration_event_keys_insert
    AFTER INSERT ON integration_events
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION integration_event_keys_insert();

CREATE TRIGGER integration_event_keys_update
    AFTER UPDATE OF status, arrival, serial_keys ON integration_events
    FOR EACH ROW
    WHEN ((OLD.status IN ('pending', 'processing')) IS DISTINCT FROM
          (NEW.status IN ('pending', 'processing'))
          OR OLD.arrival IS DISTINCT FROM NEW.arrival
          OR OLD.serial_keys IS DISTINCT FROM NEW.serial_keys)
    EXECUTE FUNCTION integration_event_keys_change();

CREATE TRIGGER integration_event_keys_delete
    AFTER DELETE ON integration_events
    FOR EACH ROW WHEN (OLD.status IN ('pending', 'processing'))
    EXECUTE FUNCTION integration_event_keys_change();

CREATE TRIGGER integration_event_keys_truncate
    AFTER TRUNCATE ON integration_events
    FOR EACH STATEMENT EXECUTE FUNCTION integration_event_keys_truncate();

INSERT INTO integration_event_keys (key, arrival, event_id)
SELECT DISTINCT k.key, e.arrival, e.id
FROM integration_events e, unnest(e.serial_keys) AS k (key)
WHERE e.status IN ('pending', 'processing');

DROP INDEX integration_events_serial_keys_idx;
