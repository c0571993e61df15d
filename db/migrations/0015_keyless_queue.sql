-- 0015_keyless_queue (issue 18): events with no serial key, found without walking the queue.
--
-- A claim walks the queue in arrival order up to WALK rows, then reads each key's first event
-- (app/queue.py). An event with no serial key (most of GitHub's events other than pull
-- requests, check runs and installations) has no row in integration_event_keys, so behind a
-- head deeper than the walk nothing found it until the head got shorter. Here the claim reads
-- them apart, in arrival order, from their own small index.
CREATE INDEX integration_events_keyless_idx ON integration_events (arrival)
    WHERE status IN ('pending', 'processing') AND serial_keys = '{}';
