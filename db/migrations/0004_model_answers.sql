-- 0004_model_answers: a model's answer kept until the attempt that asked for it succeeds.
-- A handler that failed after the model had answered (GitHub down while posting the review) was
-- retried and paid for the same answer again. The row is written outside the event's
-- transaction and deleted inside it, so it outlives only attempts that failed.
CREATE TABLE model_answers (
    -- What the answer is for, within its event: 'review', 'analysis:<check run id>'.
    purpose       text NOT NULL,
    event_id      uuid NOT NULL REFERENCES integration_events (id) ON DELETE CASCADE,
    answer        jsonb NOT NULL,
    model         text NOT NULL,
    input_tokens  integer NOT NULL,
    output_tokens integer NOT NULL,
    cost_usd      numeric NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, purpose)
);
