-- 0002_event_attempts: every failed attempt of an event, not only the last one's error.
-- integration_events.last_error keeps only the latest failure; an operator looking at a dead
-- letter wants to see whether all eight attempts failed the same way.

CREATE TABLE event_attempts (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- An attempt means nothing without its event: pruning events prunes their attempts.
    event_id  uuid NOT NULL REFERENCES integration_events (id) ON DELETE CASCADE,
    -- The event's attempts counter at the time; a replay starts it again from 1.
    attempt   integer NOT NULL,
    error     text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX event_attempts_event_id_idx ON event_attempts (event_id, failed_at);
