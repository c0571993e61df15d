-- 0006_seed_002_names: seed 002's seven tables under the seed's own names, keys and enum values,
-- so the seed's queries run unchanged. Every row and every link is kept: columns are renamed and
-- converted in place (positions stay), never dropped and refilled.
--
-- What hookwise has beyond the seed stays as extra columns: GitHub ids, merged_at and closed_at,
-- the history's draft, head and delivery id, a fix attempt's mode and cap count, a review's
-- comments, every model call's cost. integration_events keeps its names (README, "Tables").
--
-- bigint ids become uuid (seed 002: "All tables use UUID primary keys to prevent enumeration
-- attacks"). Each old id gets its new uuid once, in _ids below; every key and every reference
-- to it is converted through that one map, so a link survives as the same link. The runner
-- applies this file in one transaction, which the map (ON COMMIT DROP) relies on.
--
-- Old workers fail on the new names: stop them for the release (README, "Releases that rename
-- columns"). Ingest writes only integration_events, which this leaves alone.

-- ---------------------------------------------------------------------------------------------
-- bigint ids to uuid
-- ---------------------------------------------------------------------------------------------

CREATE TEMPORARY TABLE _ids (
    tbl text NOT NULL,
    old bigint NOT NULL,
    new uuid NOT NULL DEFAULT gen_random_uuid(),
    PRIMARY KEY (tbl, old)
) ON COMMIT DROP;

INSERT INTO _ids (tbl, old)
SELECT 'repositories', id FROM repositories
UNION ALL SELECT 'pull_requests', id FROM pull_requests
UNION ALL SELECT 'check_runs', id FROM check_runs
UNION ALL SELECT 'pr_state_history', id FROM pr_state_history
UNION ALL SELECT 'analysis_results', id FROM analysis_results
UNION ALL SELECT 'fix_attempts', id FROM fix_attempts
UNION ALL SELECT 'reviews', id FROM reviews;

-- ALTER COLUMN … USING allows no subquery; a function may read the map. NULL stays NULL.
CREATE FUNCTION pg_temp.new_id(tbl text, old bigint) RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT new FROM _ids WHERE _ids.tbl = $1 AND _ids.old = $2 $$;

-- References go first; they come back below, under the new column names.
ALTER TABLE pull_requests DROP CONSTRAINT pull_requests_repository_id_fkey;
ALTER TABLE check_runs DROP CONSTRAINT check_runs_repository_id_fkey,
    DROP CONSTRAINT check_runs_pull_request_id_fkey;
ALTER TABLE pr_state_history DROP CONSTRAINT pr_state_history_pull_request_id_fkey;
ALTER TABLE analysis_results DROP CONSTRAINT analysis_results_check_run_id_fkey,
    DROP CONSTRAINT analysis_results_pull_request_id_fkey;
ALTER TABLE fix_attempts DROP CONSTRAINT fix_attempts_analysis_result_id_fkey,
    DROP CONSTRAINT fix_attempts_check_run_id_fkey,
    DROP CONSTRAINT fix_attempts_pull_request_id_fkey;
ALTER TABLE reviews DROP CONSTRAINT reviews_pull_request_id_fkey;
ALTER TABLE pr_links DROP CONSTRAINT pr_links_pull_request_id_fkey;
ALTER TABLE workflow_executions DROP CONSTRAINT workflow_executions_pull_request_id_fkey;

-- Identity is dropped on its own: ALTER TABLE would change the type first.
ALTER TABLE repositories ALTER COLUMN id DROP IDENTITY;
ALTER TABLE pull_requests ALTER COLUMN id DROP IDENTITY;
ALTER TABLE check_runs ALTER COLUMN id DROP IDENTITY;
ALTER TABLE pr_state_history ALTER COLUMN id DROP IDENTITY;
ALTER TABLE analysis_results ALTER COLUMN id DROP IDENTITY;
ALTER TABLE fix_attempts ALTER COLUMN id DROP IDENTITY;
ALTER TABLE reviews ALTER COLUMN id DROP IDENTITY;

-- One ALTER per table: each table is rewritten once.
ALTER TABLE repositories
    ALTER COLUMN id TYPE uuid USING pg_temp.new_id('repositories', id),
    ALTER COLUMN id SET DEFAULT gen_random_uuid();
ALTER TABLE pull_requests
    ALTER COLUMN id TYPE uuid USING pg_temp.new_id('pull_requests', id),
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN repository_id TYPE uuid USING pg_temp.new_id('repositories', repository_id);
ALTER TABLE check_runs
    ALTER COLUMN id TYPE uuid USING pg_temp.new_id('check_runs', id),
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN repository_id TYPE uuid USING pg_temp.new_id('repositories', repository_id),
    ALTER COLUMN pull_request_id TYPE uuid
        USING pg_temp.new_id('pull_requests', pull_request_id);
ALTER TABLE pr_state_history
    ALTER COLUMN id TYPE uuid USING pg_temp.new_id('pr_state_history', id),
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN pull_request_id TYPE uuid
        USING pg_temp.new_id('pull_requests', pull_request_id);
ALTER TABLE analysis_results
    ALTER COLUMN id TYPE uuid USING pg_temp.new_id('analysis_results', id),
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN check_run_id TYPE uuid USING pg_temp.new_id('check_runs', check_run_id),
    ALTER COLUMN pull_request_id TYPE uuid
        USING pg_temp.new_id('pull_requests', pull_request_id);
ALTER TABLE fix_attempts
    ALTER COLUMN id TYPE uuid USING pg_temp.new_id('fix_attempts', id),
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN analysis_result_id TYPE uuid
        USING pg_temp.new_id('analysis_results', analysis_result_id),
    ALTER COLUMN pull_request_id TYPE uuid
        USING pg_temp.new_id('pull_requests', pull_request_id),
    ALTER COLUMN check_run_id TYPE uuid USING pg_temp.new_id('check_runs', check_run_id);
ALTER TABLE reviews
    ALTER COLUMN id TYPE uuid USING pg_temp.new_id('reviews', id),
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN pull_request_id TYPE uuid
        USING pg_temp.new_id('pull_requests', pull_request_id);
ALTER TABLE pr_links
    ALTER COLUMN pull_request_id TYPE uuid
        USING pg_temp.new_id('pull_requests', pull_request_id);
ALTER TABLE workflow_executions
    ALTER COLUMN pull_request_id TYPE uuid
        USING pg_temp.new_id('pull_requests', pull_request_id);

-- An execution's subject named its pull request by the old id ('pr:<id>'): one at a time holds
-- between executions started before and after the release only if they name it alike.
UPDATE workflow_executions
SET subject = 'pr:' || pull_request_id
WHERE pull_request_id IS NOT NULL AND subject ~ '^pr:[0-9]+$';

DROP FUNCTION pg_temp.new_id(text, bigint);

-- ---------------------------------------------------------------------------------------------
-- Enum values
-- ---------------------------------------------------------------------------------------------

-- Renaming a value renames it in every row too.
ALTER TYPE pr_state RENAME VALUE 'open' TO 'opened';
-- GitHub reports a cancelled run as completed with conclusion cancelled; the value is the seed's.
ALTER TYPE check_status ADD VALUE 'cancelled' AFTER 'completed';

-- ---------------------------------------------------------------------------------------------
-- repositories
-- ---------------------------------------------------------------------------------------------

-- url: as GitHub shows the repository. Unique as in the seed, but nullable: installation
-- payloads carry no URL, and a removed repository's name can be taken by another one (the newer
-- holder keeps the URL: app/store/repositories.py).
-- config_override: hookwise.yml settings an operator sets on /admin, over the owner's .github
-- file and under the repository's own file (app/repo_config.py).
ALTER TABLE repositories
    ADD COLUMN url varchar(500) UNIQUE,
    ADD COLUMN config_override jsonb;

ALTER TABLE repositories DISABLE TRIGGER USER;
-- Known repositories get the URL of their pull requests' host (GitHub Enterprise too), else
-- github.com's; of several rows with one name, the one not removed and most recently changed.
WITH derived AS (
    SELECT r.id,
           coalesce((SELECT regexp_replace(p.html_url, '/pull/[0-9]+$', '')
                     FROM pull_requests p
                     WHERE p.repository_id = r.id AND p.html_url ~ '/pull/[0-9]+$'
                     ORDER BY p.updated_at DESC LIMIT 1),
                    'https://github.com/' || r.full_name) AS url,
           r.status, r.updated_at
    FROM repositories r
), ranked AS (
    SELECT id, url, row_number() OVER (
        PARTITION BY url ORDER BY status = 'removed', updated_at DESC, id) AS n
    FROM derived
)
UPDATE repositories r SET url = ranked.url FROM ranked WHERE ranked.id = r.id AND ranked.n = 1;
ALTER TABLE repositories ENABLE TRIGGER USER;

ALTER TRIGGER repositories_updated_at ON repositories RENAME TO update_repositories_updated_at;

CREATE INDEX idx_repositories_status ON repositories (status);
CREATE INDEX idx_repositories_last_polled ON repositories (last_polled_at);

-- ---------------------------------------------------------------------------------------------
-- pull_requests
-- ---------------------------------------------------------------------------------------------

ALTER TABLE pull_requests RENAME COLUMN number TO pr_number;
ALTER TABLE pull_requests RENAME COLUMN author_login TO author;
ALTER TABLE pull_requests RENAME COLUMN head_ref TO head_branch;
ALTER TABLE pull_requests RENAME COLUMN base_ref TO base_branch;
ALTER TABLE pull_requests RENAME COLUMN html_url TO url;
-- NOT NULL constraints are named after their column: set again under the new name.
ALTER TABLE pull_requests ALTER COLUMN pr_number DROP NOT NULL;
ALTER TABLE pull_requests ALTER COLUMN pr_number SET NOT NULL;
ALTER TABLE pull_requests
    RENAME CONSTRAINT pull_requests_repository_id_number_key
    TO pull_requests_repository_id_pr_number_key;
-- metadata: the PR's labels. last_checked_at: when its check runs were last looked at (a
-- check_run event for it, or backfill and reconcile reading them).
ALTER TABLE pull_requests
    ADD COLUMN metadata jsonb,
    ADD COLUMN last_checked_at timestamptz;
ALTER TABLE pull_requests
    ADD CONSTRAINT pull_requests_repository_id_fkey
    FOREIGN KEY (repository_id) REFERENCES repositories (id);

-- Until now, the last time one of its check runs changed. No history row, no updated_at bump.
ALTER TABLE pull_requests DISABLE TRIGGER USER;
UPDATE pull_requests p SET last_checked_at = c.at
FROM (SELECT pull_request_id, max(updated_at) AS at FROM check_runs
      WHERE pull_request_id IS NOT NULL GROUP BY pull_request_id) c
WHERE c.pull_request_id = p.id;
ALTER TABLE pull_requests ENABLE TRIGGER USER;

ALTER TRIGGER pull_requests_updated_at ON pull_requests RENAME TO update_pull_requests_updated_at;

-- Left out: idx_pull_requests_repository_id, whose one column leads three other indexes here
-- (the (repository_id, pr_number) key, idx_pull_requests_repo_state and the head sha index).
CREATE INDEX idx_pull_requests_state ON pull_requests (state);
CREATE INDEX idx_pull_requests_last_checked ON pull_requests (last_checked_at);
CREATE INDEX idx_pull_requests_created_at ON pull_requests (created_at);
CREATE INDEX idx_pull_requests_repo_state ON pull_requests (repository_id, state);

-- ---------------------------------------------------------------------------------------------
-- check_runs
-- ---------------------------------------------------------------------------------------------

ALTER TABLE check_runs RENAME COLUMN pull_request_id TO pr_id;
ALTER TABLE check_runs RENAME COLUMN name TO check_name;
ALTER TABLE check_runs ALTER COLUMN check_name DROP NOT NULL;
ALTER TABLE check_runs ALTER COLUMN check_name SET NOT NULL;
-- logs_url: where the analysis read the run's log from. metadata: GitHub's own external_id
-- field (the seed's external_id is GitHub's id for the run).
ALTER TABLE check_runs
    ADD COLUMN logs_url varchar(500),
    ADD COLUMN metadata jsonb;

ALTER TABLE check_runs DISABLE TRIGGER USER;
UPDATE check_runs
SET metadata = CASE WHEN external_id IS NOT NULL
                    THEN jsonb_build_object('external_id', external_id) END,
    external_id = github_id::text;
ALTER TABLE check_runs ENABLE TRIGGER USER;

ALTER TABLE check_runs
    ALTER COLUMN external_id TYPE varchar(100),
    ALTER COLUMN external_id SET NOT NULL,
    ADD CONSTRAINT check_runs_external_id_key UNIQUE (external_id),
    ADD CONSTRAINT check_runs_repository_id_fkey
        FOREIGN KEY (repository_id) REFERENCES repositories (id),
    ADD CONSTRAINT check_runs_pr_id_fkey
        FOREIGN KEY (pr_id) REFERENCES pull_requests (id) ON DELETE SET NULL;

ALTER TRIGGER check_runs_updated_at ON check_runs RENAME TO update_check_runs_updated_at;

-- idx_check_runs_pr_status replaces the index on the link alone; idx_check_runs_pr_id is left
-- out, as pr_id leads two indexes here.
DROP INDEX check_runs_pull_request_id_idx;
CREATE INDEX idx_check_runs_status ON check_runs (status);
CREATE INDEX idx_check_runs_conclusion ON check_runs (conclusion);
CREATE INDEX idx_check_runs_check_name ON check_runs (check_name);
CREATE INDEX idx_check_runs_created_at ON check_runs (created_at);
CREATE INDEX idx_check_runs_pr_status ON check_runs (pr_id, status);
CREATE INDEX idx_check_runs_pr_conclusion ON check_runs (pr_id, conclusion);

-- ---------------------------------------------------------------------------------------------
-- pr_state_history, and the trigger that writes it
-- ---------------------------------------------------------------------------------------------

ALTER TABLE pr_state_history RENAME COLUMN pull_request_id TO pr_id;
ALTER TABLE pr_state_history RENAME COLUMN from_state TO old_state;
ALTER TABLE pr_state_history RENAME COLUMN to_state TO new_state;
ALTER TABLE pr_state_history RENAME COLUMN trigger TO trigger_event;
ALTER TABLE pr_state_history RENAME COLUMN changed_at TO created_at;
ALTER TABLE pr_state_history ALTER COLUMN pr_id DROP NOT NULL;
ALTER TABLE pr_state_history ALTER COLUMN pr_id SET NOT NULL;
ALTER TABLE pr_state_history ALTER COLUMN new_state DROP NOT NULL;
ALTER TABLE pr_state_history ALTER COLUMN new_state SET NOT NULL;
ALTER TABLE pr_state_history ALTER COLUMN trigger_event DROP NOT NULL;
ALTER TABLE pr_state_history ALTER COLUMN trigger_event SET NOT NULL;
ALTER TABLE pr_state_history ALTER COLUMN created_at DROP NOT NULL;
ALTER TABLE pr_state_history ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE pr_state_history
    ADD COLUMN metadata jsonb,
    ADD CONSTRAINT pr_state_history_pr_id_fkey
        FOREIGN KEY (pr_id) REFERENCES pull_requests (id) ON DELETE CASCADE;

-- idx_pr_state_history_pr_id is left out: pr_id leads idx_pr_state_history_pr_created.
ALTER INDEX pr_state_history_pull_request_changed_at_idx RENAME TO idx_pr_state_history_pr_created;
CREATE INDEX idx_pr_state_history_created_at ON pr_state_history (created_at);
CREATE INDEX idx_pr_state_history_trigger_event ON pr_state_history (trigger_event);

-- The seed's columns, hookwise's own (draft, head, delivery) beside them, and in metadata when
-- GitHub says the change happened. clock_timestamp(): a PR opened and changed in one transaction
-- gets its rows in order.
CREATE OR REPLACE FUNCTION log_pr_state_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO pr_state_history
            (pr_id, old_state, new_state, trigger_event, metadata, created_at,
             from_draft, to_draft, head_sha, delivery_id)
        VALUES
            (NEW.id, NULL, NEW.state, NEW.last_trigger,
             jsonb_strip_nulls(jsonb_build_object('github_updated_at', NEW.github_updated_at)),
             clock_timestamp(), NULL, NEW.draft, NEW.head_sha, NEW.last_delivery_id);
    ELSIF NEW.state IS DISTINCT FROM OLD.state
       OR NEW.draft IS DISTINCT FROM OLD.draft
       OR NEW.head_sha IS DISTINCT FROM OLD.head_sha THEN
        INSERT INTO pr_state_history
            (pr_id, old_state, new_state, trigger_event, metadata, created_at,
             from_draft, to_draft, head_sha, delivery_id)
        VALUES
            (NEW.id, OLD.state, NEW.state, NEW.last_trigger,
             jsonb_strip_nulls(jsonb_build_object('github_updated_at', NEW.github_updated_at)),
             clock_timestamp(), OLD.draft, NEW.draft, NEW.head_sha, NEW.last_delivery_id);
    END IF;
    RETURN NULL;
END;
$$;

ALTER TRIGGER pull_requests_state_history ON pull_requests
    RENAME TO log_pull_request_state_changes;

-- ---------------------------------------------------------------------------------------------
-- analysis_results
-- ---------------------------------------------------------------------------------------------

ALTER TABLE analysis_results DROP CONSTRAINT analysis_results_confidence_check;
ALTER TABLE analysis_results RENAME COLUMN confidence TO confidence_score;
ALTER TABLE analysis_results
    ALTER COLUMN confidence_score TYPE double precision,
    ADD CONSTRAINT analysis_results_confidence_score_check
        CHECK (confidence_score BETWEEN 0 AND 1),
    ADD COLUMN metadata jsonb,
    ADD CONSTRAINT analysis_results_check_run_id_fkey
        FOREIGN KEY (check_run_id) REFERENCES check_runs (id) ON DELETE CASCADE,
    ADD CONSTRAINT analysis_results_pull_request_id_fkey
        FOREIGN KEY (pull_request_id) REFERENCES pull_requests (id) ON DELETE CASCADE;

-- ---------------------------------------------------------------------------------------------
-- fix_attempts
-- ---------------------------------------------------------------------------------------------

-- mode (suggest or commit) is the strategy; attempt_number stays: the attempt's place among the
-- PR's attempts, which the cap counts. retry_count is the seed's: how often the execution that
-- made the attempt was retried before it.
ALTER TABLE fix_attempts RENAME COLUMN mode TO fix_strategy;
ALTER TABLE fix_attempts RENAME COLUMN error TO error_message;
ALTER TABLE fix_attempts ALTER COLUMN fix_strategy DROP NOT NULL;
ALTER TABLE fix_attempts ALTER COLUMN fix_strategy SET NOT NULL;
ALTER TABLE fix_attempts
    RENAME CONSTRAINT fix_attempts_mode_check TO fix_attempts_fix_strategy_check;
ALTER TABLE fix_attempts
    ADD COLUMN retry_count integer NOT NULL DEFAULT 0,
    -- Derived, so it cannot disagree with status.
    ADD COLUMN success boolean GENERATED ALWAYS AS (
        CASE status WHEN 'succeeded' THEN true WHEN 'failed' THEN false END) STORED,
    ADD COLUMN metadata jsonb,
    ADD COLUMN started_at timestamptz,
    ADD COLUMN completed_at timestamptz,
    ADD CONSTRAINT fix_attempts_analysis_result_id_fkey
        FOREIGN KEY (analysis_result_id) REFERENCES analysis_results (id) ON DELETE CASCADE,
    ADD CONSTRAINT fix_attempts_pull_request_id_fkey
        FOREIGN KEY (pull_request_id) REFERENCES pull_requests (id) ON DELETE CASCADE,
    ADD CONSTRAINT fix_attempts_check_run_id_fkey
        FOREIGN KEY (check_run_id) REFERENCES check_runs (id) ON DELETE CASCADE;

ALTER TABLE fix_attempts DISABLE TRIGGER USER;
UPDATE fix_attempts f
SET started_at = f.created_at,
    completed_at = CASE WHEN f.status <> 'pending' THEN f.updated_at END,
    retry_count = coalesce((SELECT greatest(e.attempts - 1, 0) FROM workflow_executions e
                            WHERE e.id = f.execution_id), 0);
ALTER TABLE fix_attempts ENABLE TRIGGER USER;

-- ---------------------------------------------------------------------------------------------
-- reviews
-- ---------------------------------------------------------------------------------------------

-- reviewer_type: hookwise has one reviewer, the model ('ai'). decision: the review's event as
-- posted to GitHub (COMMENT). feedback: the review's summary; its line comments stay in comments.
ALTER TABLE reviews RENAME COLUMN pull_request_id TO pr_id;
ALTER TABLE reviews RENAME COLUMN summary TO feedback;
ALTER TABLE reviews ALTER COLUMN pr_id DROP NOT NULL;
ALTER TABLE reviews ALTER COLUMN pr_id SET NOT NULL;
ALTER TABLE reviews
    RENAME CONSTRAINT reviews_pull_request_id_head_sha_key TO reviews_pr_id_head_sha_key;
ALTER TABLE reviews
    ADD COLUMN reviewer_type varchar(50) NOT NULL DEFAULT 'ai',
    ADD COLUMN decision varchar(50),
    ADD COLUMN metadata jsonb,
    ADD COLUMN started_at timestamptz,
    ADD COLUMN completed_at timestamptz,
    ADD CONSTRAINT reviews_pr_id_fkey
        FOREIGN KEY (pr_id) REFERENCES pull_requests (id) ON DELETE CASCADE;
ALTER TABLE reviews ALTER COLUMN reviewer_type DROP DEFAULT;

ALTER TABLE reviews DISABLE TRIGGER USER;
UPDATE reviews
SET decision = CASE WHEN status = 'posted' THEN 'COMMENT' END,
    started_at = created_at,
    completed_at = CASE WHEN status <> 'pending' THEN updated_at END;
ALTER TABLE reviews ENABLE TRIGGER USER;

-- ---------------------------------------------------------------------------------------------
-- Links from outside the seven tables, back under their own names
-- ---------------------------------------------------------------------------------------------

ALTER TABLE pr_links
    ADD CONSTRAINT pr_links_pull_request_id_fkey
    FOREIGN KEY (pull_request_id) REFERENCES pull_requests (id) ON DELETE CASCADE;
ALTER TABLE workflow_executions
    ADD CONSTRAINT workflow_executions_pull_request_id_fkey
    FOREIGN KEY (pull_request_id) REFERENCES pull_requests (id) ON DELETE CASCADE;
