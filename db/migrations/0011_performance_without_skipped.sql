-- 0011_performance_without_skipped (issue 20): seed 001's workflow_performance_stats counts
-- the runs of seed 001's statuses only. `skipped` (0009: a declared workflow whose condition
-- did not hold, known only to the execution) is hookwise's, not the seed's: such a run did
-- nothing, so it is neither a run nor a failure, and counting it would lower a workflow's
-- success rate for every pull request its `if:` leaves alone. recent_workflow_activity still
-- lists it, with its reason. Same columns and names as the seed's view, so its queries read
-- it unchanged.
CREATE OR REPLACE VIEW workflow_performance_stats AS
SELECT w.id AS workflow_id, w.name AS workflow_name, count(*) AS total_executions,
       count(*) FILTER (WHERE we.status = 'completed') AS successful_executions,
       count(*) FILTER (WHERE we.status = 'failed') AS failed_executions,
       round(avg(EXTRACT(EPOCH FROM (we.completed_at - we.started_at))), 2)
           AS avg_duration_seconds,
       max(we.started_at) AS last_execution_at
FROM workflows w LEFT JOIN workflow_executions we ON w.id = we.workflow_id
WHERE we.started_at > now() - interval '30 days' AND we.status <> 'skipped'
GROUP BY w.id, w.name;

-- hookwise.workflows_check: the .github/hookwise.yml a branch or pull request proposes, checked
-- on its head and never run (workflows come from the default branch only).
INSERT INTO workflows (name, description, config, created_by) VALUES
    ('hookwise.workflows_check',
     'Check the .github/hookwise.yml a branch or pull request proposes',
     '{"builtin": true}', 'hookwise')
ON CONFLICT (name) DO NOTHING;
INSERT INTO workflow_actions (workflow_id, action_type, action_name, order_index)
SELECT id, 'quality_gates', 'check the proposed workflows, run none', 0
FROM workflows WHERE name = 'hookwise.workflows_check';
