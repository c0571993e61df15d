-- 0009_declared_workflows: workflows of your own (issue 20), declared under `workflows:` in
-- .github/hookwise.yml (a repository's, or installation-wide in the owner's .github
-- repository) and stored in seed 001's tables: one workflows row per declared workflow, its
-- `on:` as workflow_triggers, its `steps:` as workflow_actions, its `if:` in workflows.config.
-- An event's transaction reads them (no network call) and starts executions.

-- Whose file declared it: 'repo:<GitHub repository id>' or 'owner:<login, lower case>'.
-- NULL for hookwise's own (built-in) workflows.
ALTER TABLE workflows ADD COLUMN scope text;
-- The name as written in the file; workflows.name is '<owner/repo or owner>:<that name>'.
ALTER TABLE workflows ADD COLUMN declared_name text;
CREATE UNIQUE INDEX uq_workflows_scope_declared_name ON workflows (scope, declared_name)
    WHERE scope IS NOT NULL;

-- Each file as last read: where it is, and its problems (file, line, reason), which our check
-- run shows.
CREATE TABLE workflow_sources (
    scope           text PRIMARY KEY,
    full_name       text NOT NULL,
    installation_id bigint,
    path            text NOT NULL,
    problems        jsonb NOT NULL DEFAULT '[]',
    synced_at       timestamptz NOT NULL DEFAULT now()
);

-- A declared workflow whose conditions turn out not to hold (changed paths, size: known only
-- to the execution) ends as skipped, with the reason, neither a success nor a failure.
ALTER TABLE workflow_executions DROP CONSTRAINT chk_execution_status;
ALTER TABLE workflow_executions ADD CONSTRAINT chk_execution_status CHECK (status IN (
    'pending', 'running', 'completed', 'failed', 'timeout', 'cancelled', 'skipped'
));

INSERT INTO workflows (name, description, config, created_by) VALUES
    ('hookwise.workflows_sync', 'Read the workflows declared in .github/hookwise.yml',
     '{"builtin": true}', 'hookwise');
INSERT INTO workflow_actions (workflow_id, action_type, action_name, order_index)
SELECT id, 'quality_gates', 'read, validate and store the declared workflows', 0
FROM workflows WHERE name = 'hookwise.workflows_sync';
