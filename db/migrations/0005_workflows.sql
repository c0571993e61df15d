-- 0005_workflows: reactions run as executions of their own (seed 001's workflow model).
-- An event's state handlers write in one short transaction and, in it, start the reactions the
-- event calls for as workflow_executions rows; a worker runs them later, outside any
-- transaction. hookwise's own reactions are built-in workflows.

CREATE TABLE workflows (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        varchar(255) NOT NULL UNIQUE,
    description text,
    status      varchar(50) NOT NULL DEFAULT 'active',
    config      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz DEFAULT now(),
    updated_at  timestamptz DEFAULT now(),
    created_by  varchar(255),
    CONSTRAINT chk_workflow_status CHECK (status IN ('active', 'inactive', 'archived', 'draft'))
);
CREATE INDEX idx_workflows_status ON workflows (status);
CREATE INDEX idx_workflows_created_at ON workflows (created_at DESC);
CREATE INDEX idx_workflows_config ON workflows USING gin (config);
CREATE TRIGGER update_workflows_updated_at BEFORE UPDATE ON workflows
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE workflow_executions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id         uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    -- The key that makes one (workflow, subject, trigger) run once: 'review:<pr>@<sha>'.
    execution_id        varchar(255) NOT NULL UNIQUE,
    status              varchar(50) NOT NULL DEFAULT 'pending',
    started_at          timestamptz DEFAULT now(),
    completed_at        timestamptz,
    result              jsonb,
    error_message       text,
    retry_count         integer DEFAULT 0,
    parent_execution_id uuid REFERENCES workflow_executions (id),
    trigger_type        varchar(100),
    -- The payload of the event that started it: what the reaction works from.
    trigger_data        jsonb,
    -- hookwise's extras. What one at a time is kept by: 'github:<repository id>#<number>'.
    subject             text NOT NULL,
    -- For people: 'owner/repo#7'.
    subject_label       text,
    event_id            uuid REFERENCES integration_events (id) ON DELETE SET NULL,
    pull_request_id     bigint REFERENCES pull_requests (id) ON DELETE CASCADE,
    installation_id     bigint,
    -- Claimed like events: attempts counted, a lease, the time it is due.
    attempts            integer NOT NULL DEFAULT 0,
    run_after           timestamptz NOT NULL DEFAULT now(),
    locked_until        timestamptz,
    -- Start order, for one subject's executions one at a time in order.
    seq                 bigint GENERATED ALWAYS AS IDENTITY,
    CONSTRAINT chk_execution_status CHECK (status IN (
        'pending', 'running', 'completed', 'failed', 'timeout', 'cancelled'
    )),
    CONSTRAINT chk_completed_at_after_started CHECK (
        completed_at IS NULL OR completed_at >= started_at
    )
);
CREATE INDEX idx_workflow_executions_workflow_id ON workflow_executions (workflow_id);
CREATE INDEX idx_workflow_executions_status ON workflow_executions (status);
CREATE INDEX idx_workflow_executions_started_at ON workflow_executions (started_at DESC);
CREATE INDEX idx_workflow_executions_execution_id ON workflow_executions (execution_id);
CREATE INDEX idx_workflow_executions_trigger_type ON workflow_executions (trigger_type);
CREATE INDEX idx_workflow_executions_composite
    ON workflow_executions (workflow_id, status, started_at DESC);
-- The queue: only unfinished rows, by subject and start order.
CREATE INDEX idx_workflow_executions_queue ON workflow_executions (subject, seq)
    WHERE status IN ('pending', 'running');
CREATE INDEX idx_workflow_executions_pull_request ON workflow_executions (pull_request_id);

CREATE TABLE workflow_actions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id  uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    action_type  varchar(100) NOT NULL,
    action_name  varchar(255) NOT NULL,
    config       jsonb NOT NULL DEFAULT '{}',
    order_index  integer NOT NULL,
    conditions   jsonb,
    created_at   timestamptz DEFAULT now(),
    updated_at   timestamptz DEFAULT now(),
    CONSTRAINT uq_workflow_action_order UNIQUE (workflow_id, order_index),
    CONSTRAINT chk_order_index_positive CHECK (order_index >= 0)
);
CREATE INDEX idx_workflow_actions_workflow_id ON workflow_actions (workflow_id);
CREATE INDEX idx_workflow_actions_type ON workflow_actions (action_type);
CREATE INDEX idx_workflow_actions_order ON workflow_actions (workflow_id, order_index);

CREATE TABLE execution_logs (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    execution_id uuid NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
    level        varchar(20) NOT NULL,
    message      text NOT NULL,
    metadata     jsonb,
    action_id    uuid REFERENCES workflow_actions (id),
    step_name    varchar(255),
    created_at   timestamptz DEFAULT now(),
    CONSTRAINT chk_log_level CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'))
);
CREATE INDEX idx_execution_logs_execution_id ON execution_logs (execution_id);
CREATE INDEX idx_execution_logs_level ON execution_logs (level);
CREATE INDEX idx_execution_logs_created_at ON execution_logs (created_at DESC);
CREATE INDEX idx_execution_logs_composite ON execution_logs (execution_id, level, created_at DESC);

CREATE TABLE workflow_triggers (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workflow_id uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    trigger_type varchar(100) NOT NULL,
    conditions  jsonb NOT NULL DEFAULT '{}',
    enabled     boolean DEFAULT true,
    created_at  timestamptz DEFAULT now(),
    updated_at  timestamptz DEFAULT now(),
    CONSTRAINT chk_trigger_type CHECK (trigger_type IN ('event', 'schedule', 'webhook', 'manual'))
);
CREATE INDEX idx_workflow_triggers_workflow_id ON workflow_triggers (workflow_id);
CREATE INDEX idx_workflow_triggers_type ON workflow_triggers (trigger_type);
CREATE INDEX idx_workflow_triggers_enabled ON workflow_triggers (enabled);

CREATE FUNCTION cleanup_old_execution_logs(days_to_keep integer DEFAULT 30) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    deleted_count integer;
BEGIN
    DELETE FROM execution_logs
    WHERE created_at < now() - (days_to_keep || ' days')::interval;
    GET DIAGNOSTICS deleted_count = ROW_COUNT;
    RETURN deleted_count;
END;
$$;

CREATE VIEW recent_workflow_activity AS
SELECT w.name AS workflow_name, we.execution_id, we.status, we.started_at, we.completed_at,
       EXTRACT(EPOCH FROM (we.completed_at - we.started_at)) AS duration_seconds,
       we.retry_count, we.trigger_type
FROM workflow_executions we JOIN workflows w ON we.workflow_id = w.id
WHERE we.started_at > now() - interval '7 days'
ORDER BY we.started_at DESC;

CREATE VIEW workflow_performance_stats AS
SELECT w.id AS workflow_id, w.name AS workflow_name, count(*) AS total_executions,
       count(*) FILTER (WHERE we.status = 'completed') AS successful_executions,
       count(*) FILTER (WHERE we.status = 'failed') AS failed_executions,
       round(avg(EXTRACT(EPOCH FROM (we.completed_at - we.started_at))), 2)
           AS avg_duration_seconds,
       max(we.started_at) AS last_execution_at
FROM workflows w LEFT JOIN workflow_executions we ON w.id = we.workflow_id
WHERE we.started_at > now() - interval '30 days'
GROUP BY w.id, w.name;

-- A model's answer now belongs to the execution that asked for it, not to an event.
DELETE FROM model_answers;
ALTER TABLE model_answers DROP CONSTRAINT model_answers_pkey;
ALTER TABLE model_answers DROP CONSTRAINT model_answers_event_id_fkey;
ALTER TABLE model_answers RENAME COLUMN event_id TO execution_id;
-- Dropped and set again, so the NOT NULL constraint is named after the new column.
ALTER TABLE model_answers ALTER COLUMN execution_id DROP NOT NULL;
ALTER TABLE model_answers ALTER COLUMN execution_id SET NOT NULL;
ALTER TABLE model_answers ADD CONSTRAINT model_answers_execution_id_fkey
    FOREIGN KEY (execution_id) REFERENCES workflow_executions (id) ON DELETE CASCADE;
ALTER TABLE model_answers ADD PRIMARY KEY (execution_id, purpose);

-- What an execution wrote, so a retried one can start again from a clean slate.
ALTER TABLE analysis_results
    ADD COLUMN execution_id uuid REFERENCES workflow_executions (id) ON DELETE SET NULL;
ALTER TABLE fix_attempts
    ADD COLUMN execution_id uuid REFERENCES workflow_executions (id) ON DELETE SET NULL;

-- The built-in workflows: hookwise's own reactions.
INSERT INTO workflows (name, description, config, created_by) VALUES
    ('hookwise.review', 'AI review of a pull request''s head commit',
     '{"builtin": true}', 'hookwise'),
    ('hookwise.analyse_failure', 'Analyse a failing check and propose a fix',
     '{"builtin": true}', 'hookwise'),
    ('hookwise.check_run_action', 'Apply fix / Re-analyse pressed on our check run',
     '{"builtin": true}', 'hookwise'),
    ('hookwise.linear_sync', 'Tell Linear about a pull request''s link, merge or close',
     '{"builtin": true}', 'hookwise');
INSERT INTO workflow_actions (workflow_id, action_type, action_name, order_index)
SELECT id, a.action_type, a.action_name, 0
FROM workflows JOIN (VALUES
    ('hookwise.review', 'pr_review_analyzer', 'review the head commit'),
    ('hookwise.analyse_failure', 'ai_comment_analyzer', 'analyse and suggest a fix'),
    ('hookwise.check_run_action', 'ai_comment_analyzer', 'apply or re-analyse'),
    ('hookwise.linear_sync', 'issue_creator', 'attach, complete or comment')
) AS a (workflow, action_type, action_name) ON a.workflow = workflows.name;
INSERT INTO workflow_triggers (workflow_id, trigger_type, conditions)
SELECT id, 'event', t.conditions::jsonb
FROM workflows JOIN (VALUES
    ('hookwise.review',
     '{"source": "github", "event": "pull_request", "actions": ["opened", "ready_for_review", "synchronize"]}'),
    ('hookwise.analyse_failure',
     '{"source": "github", "event": "check_run", "actions": ["completed"]}'),
    ('hookwise.check_run_action',
     '{"source": "github", "event": "check_run", "actions": ["requested_action", "rerequested"]}'),
    ('hookwise.linear_sync',
     '{"source": "github", "event": "pull_request", "actions": ["opened", "edited", "reopened", "synchronize", "closed"]}')
) AS t (workflow, conditions) ON t.workflow = workflows.name;
