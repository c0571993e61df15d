-- 0007_arrival_order: events of one pull request are handled one at a time in the order they
-- arrived, and a tie of one-second timestamps is settled by that order (issues 16 and 18).
--
-- received_at is the inserting transaction's now(), shared by every row of a group-commit batch;
-- `arrival` orders deliveries within a batch too. A batch takes one value of the sequence and
-- adds each delivery's place in the batch, hence the increment (app/store/events.ARRIVAL_BLOCK);
-- a row inserted alone takes the sequence's next value by default.
CREATE SEQUENCE integration_events_arrival_seq INCREMENT BY 1024;
ALTER TABLE integration_events
    ADD COLUMN arrival bigint NOT NULL DEFAULT nextval('integration_events_arrival_seq');
ALTER SEQUENCE integration_events_arrival_seq OWNED BY integration_events.arrival;

-- The keys whose events must not run at once (app/serial.py), worked out at ingest: a claim
-- takes an event only when no unfinished event sharing one of its keys arrived before it or runs.
ALTER TABLE integration_events ADD COLUMN serial_keys text[] NOT NULL DEFAULT '{}';

-- The claim walks live rows in arrival order; run_after is checked on the rows it meets.
DROP INDEX integration_events_queue_idx;
CREATE INDEX integration_events_queue_idx ON integration_events (arrival)
    WHERE status IN ('pending', 'processing');
-- fastupdate off: the claim looks keys up on every candidate, and a pending list would be
-- scanned whole by each lookup. Its predicate is the same set of rows as the queue index's, said
-- otherwise on purpose: the claim's look-up says it this way, so only this index serves it (the
-- queue index, when the statistics saw an empty queue, looked cheaper and walked every live row
-- for each candidate).
CREATE INDEX integration_events_serial_keys_idx ON integration_events USING gin (serial_keys)
    WITH (fastupdate = off) WHERE status NOT IN ('completed', 'ignored', 'failed');

-- The arrival of the event whose payload a row last took: of two payloads with the same
-- timestamp the later arrival wins (NULL: written before this migration, or not by an event).
ALTER TABLE pull_requests ADD COLUMN last_arrival bigint;
ALTER TABLE check_runs ADD COLUMN last_arrival bigint;
ALTER TABLE linear_issues ADD COLUMN last_arrival bigint;
