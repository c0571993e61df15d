-- The current schema of hookwise, for reading: db/migrations/ applied in order produce exactly
-- these objects (a test compares them). Change the schema with a new migration, then update
-- this file to match; never edit an applied migration.
-- schema_migrations is not here: the migration runner creates and owns it.
-- Internal ids are GENERATED ALWAYS so a GitHub id written into an internal id column is an
-- error instead of a silent collision; GitHub's ids live in github_id (installations excepted).

-- ---------------------------------------------------------------------------------------------
-- Shared trigger functions
-- ---------------------------------------------------------------------------------------------

-- Done in the database so no writer can forget it.
CREATE FUNCTION update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;

-- ---------------------------------------------------------------------------------------------
-- Integrations and the raw event store
-- ---------------------------------------------------------------------------------------------

CREATE TABLE integrations (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                  text NOT NULL UNIQUE,
    type                  text NOT NULL CHECK (type IN ('github', 'linear')),
    config                jsonb NOT NULL DEFAULT '{}',
    enabled               boolean NOT NULL DEFAULT true,
    -- AES-256-GCM with a key id inside, so keys can rotate without a schema change.
    credentials_encrypted bytea,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER integrations_updated_at BEFORE UPDATE ON integrations
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- One row per delivery, written before we answer 202; it doubles as the work queue.
CREATE TABLE integration_events (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- No cascade: an integration cannot be deleted out from under its stored events.
    integration_id bigint NOT NULL REFERENCES integrations (id),
    source         text NOT NULL CHECK (source IN ('github', 'linear')),
    -- '' rather than NULL so the unique key below also holds for sources without a hook id
    -- (a NULL would make every row distinct before PostgreSQL 15's NULLS NOT DISTINCT).
    hook_id        text NOT NULL DEFAULT '',
    delivery_id    text NOT NULL,
    event_type     text NOT NULL,
    action         text,
    headers        jsonb NOT NULL DEFAULT '{}',
    -- The exact bytes received, as body_encoding says: 'identity' as they are, 'deflate' a zlib
    -- stream of them (app/store/bodies.py). Signatures are checked on them; replays re-read them.
    body           bytea NOT NULL,
    payload        jsonb,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'ignored')),
    attempts       integer NOT NULL DEFAULT 0,
    run_after      timestamptz NOT NULL DEFAULT now(),
    locked_until   timestamptz,
    last_error     text,
    received_at    timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz,
    body_encoding  text NOT NULL DEFAULT 'identity' CHECK (body_encoding IN ('identity', 'deflate')),
    -- GitHub shares one delivery GUID among all hooks subscribed to an event, and a redelivery
    -- keeps both the GUID and the hook id.
    CONSTRAINT integration_events_delivery_key UNIQUE (source, hook_id, delivery_id)
);

-- Large bodies arrive deflated already (body_encoding); pglz trying again would only cost CPU.
ALTER TABLE integration_events ALTER COLUMN body SET STORAGE EXTERNAL;

-- The claim only ever looks at live rows; finished ones, the vast majority, stay out of it.
-- Expired leases are 'processing' rows, so they are found here too.
CREATE INDEX integration_events_queue_idx ON integration_events (run_after)
    WHERE status IN ('pending', 'processing');

-- Operators list and replay by time range (hookwise replay --since/--until).
CREATE INDEX integration_events_received_at_idx ON integration_events (received_at);

-- The dead letters stay few, so a partial index serves "status failed" listings and replays
-- without a status index that every completed event would have to update.
CREATE INDEX integration_events_failed_idx ON integration_events (received_at)
    WHERE status = 'failed';

-- Triggers, not the ingest code, send the NOTIFY, so any writer (ingest, replay, retry) wakes the
-- workers. The payload is always '': workers then claim whatever is due. An INSERT notifies once
-- per statement, so a batch of deliveries wakes them once (an INSERT that met only duplicates
-- wakes them for nothing: one empty claim); an UPDATE back to pending notifies per row, and
-- identical notifications in one transaction collapse into one.
CREATE FUNCTION notify_hookwise_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hookwise_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER integration_events_notify_insert
    AFTER INSERT ON integration_events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_hookwise_events();

CREATE TRIGGER integration_events_notify_pending
    AFTER UPDATE OF status ON integration_events
    FOR EACH ROW WHEN (NEW.status = 'pending')
    EXECUTE FUNCTION notify_hookwise_events();

-- ---------------------------------------------------------------------------------------------
-- GitHub: installations and repositories
-- ---------------------------------------------------------------------------------------------

CREATE TYPE repository_status AS ENUM ('active', 'error', 'suspended', 'removed');

CREATE TABLE installations (
    -- GitHub's installation id: every webhook names it, so it needs no mapping.
    id                   bigint PRIMARY KEY,
    -- Nullable: events other than installation carry only the installation id, so a row can
    -- exist before its account is known.
    account_login        text,
    -- 'User' or 'Organization' (GitHub also has 'Enterprise'): text, so a new kind cannot fail
    -- a handler.
    account_type         text,
    account_id           bigint,
    target_type          text,
    repository_selection text CHECK (repository_selection IN ('all', 'selected')),
    permissions          jsonb NOT NULL DEFAULT '{}',
    events               text[] NOT NULL DEFAULT '{}',
    suspended_at         timestamptz,
    suspended_by         text,
    -- Uninstalling marks the row; the history of its repositories and PRs stays.
    deleted_at           timestamptz,
    last_event_at        timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER installations_updated_at BEFORE UPDATE ON installations
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE repositories (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    github_id       bigint NOT NULL UNIQUE,
    installation_id bigint REFERENCES installations (id),
    -- installation_repositories payloads carry no owner object, hence nullable.
    owner           text,
    name            text,
    -- Not unique: repositories are renamed and transferred, and a name can be reused.
    full_name       text NOT NULL,
    default_branch  text,
    private         boolean,
    fork            boolean,
    status          repository_status NOT NULL DEFAULT 'active',
    -- Reconcile bookkeeping: which repositories are due, and which keep failing.
    last_polled_at  timestamptz,
    failure_count   integer NOT NULL DEFAULT 0,
    last_error      text,
    -- Removed from the installation: marked, never dropped, so its history stays.
    removed_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX repositories_installation_id_idx ON repositories (installation_id);
CREATE INDEX repositories_full_name_idx ON repositories (full_name);

CREATE TRIGGER repositories_updated_at BEFORE UPDATE ON repositories
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- ---------------------------------------------------------------------------------------------
-- Pull requests, check runs and their state history
-- ---------------------------------------------------------------------------------------------

CREATE TYPE pr_state AS ENUM ('open', 'closed', 'merged');

CREATE TYPE check_status AS ENUM (
    'queued', 'in_progress', 'completed', 'waiting', 'requested', 'pending'
);

CREATE TYPE check_conclusion AS ENUM (
    'success', 'failure', 'neutral', 'cancelled', 'skipped', 'timed_out', 'action_required',
    'stale', 'startup_failure'
);

-- What changed a PR: every pull_request action GitHub sends, 'merged' for a close that merged,
-- and our own causes: backfill ('manual_check') and the scheduled reconcile. 'unknown' is the
-- default so a writer that forgets to say still writes history.
CREATE TYPE trigger_event AS ENUM (
    'opened', 'reopened', 'closed', 'merged', 'synchronize', 'edited',
    'ready_for_review', 'converted_to_draft',
    'assigned', 'unassigned', 'labeled', 'unlabeled',
    'review_requested', 'review_request_removed',
    'locked', 'unlocked', 'milestoned', 'demilestoned',
    'auto_merge_enabled', 'auto_merge_disabled', 'enqueued', 'dequeued',
    'manual_check', 'reconcile', 'unknown'
);

CREATE TABLE pull_requests (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    github_id           bigint NOT NULL UNIQUE,
    -- Repositories are marked removed, never deleted, so no cascade is needed.
    repository_id       bigint NOT NULL REFERENCES repositories (id),
    number              integer NOT NULL,
    title               text,
    body                text,
    author_login        text,
    -- 'merged' is a state of its own, so there is no separate merged flag to disagree with it.
    state               pr_state NOT NULL,
    draft               boolean NOT NULL DEFAULT false,
    merged_at           timestamptz,
    closed_at           timestamptz,
    head_ref            text,
    head_sha            text,
    -- Differs from the repository's full name for forks; we never push there.
    head_repo_full_name text,
    base_ref            text,
    base_sha            text,
    html_url            text,
    is_fork             boolean NOT NULL DEFAULT false,
    github_created_at   timestamptz,
    -- The payload's updated_at: an older payload never overwrites a newer one.
    github_updated_at   timestamptz,
    -- Set by every writer; log_pr_state_change() copies both into the history row.
    last_trigger        trigger_event NOT NULL DEFAULT 'unknown',
    last_delivery_id    text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (repository_id, number)
);

-- check_run events from forks carry no pull_requests list; they are matched by head sha.
CREATE INDEX pull_requests_repository_head_sha_idx ON pull_requests (repository_id, head_sha);

CREATE TRIGGER pull_requests_updated_at BEFORE UPDATE ON pull_requests
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE check_runs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    github_id       bigint NOT NULL UNIQUE,
    repository_id   bigint NOT NULL REFERENCES repositories (id),
    -- A check run belongs to a commit; the PR link is a convenience that may come later or never.
    pull_request_id bigint REFERENCES pull_requests (id) ON DELETE SET NULL,
    name            text NOT NULL,
    head_sha        text NOT NULL,
    -- Check runs carry no updated_at: never moving backwards orders by status rank, then
    -- completed_at.
    status          check_status NOT NULL,
    conclusion      check_conclusion,
    app_slug        text,
    external_id     text,
    details_url     text,
    html_url        text,
    check_suite_id  bigint,
    started_at      timestamptz,
    completed_at    timestamptz,
    output_title    text,
    output_summary  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX check_runs_repository_head_sha_idx ON check_runs (repository_id, head_sha);
CREATE INDEX check_runs_pull_request_id_idx ON check_runs (pull_request_id);

CREATE TRIGGER check_runs_updated_at BEFORE UPDATE ON check_runs
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE pr_state_history (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pull_request_id bigint NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    from_state      pr_state,
    to_state        pr_state NOT NULL,
    from_draft      boolean,
    to_draft        boolean,
    head_sha        text,
    trigger         trigger_event NOT NULL,
    delivery_id     text,
    changed_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX pr_state_history_pull_request_changed_at_idx
    ON pr_state_history (pull_request_id, changed_at);

-- History is written here, not by handlers, so backfill, reconcile and hand-written SQL record
-- it too. Only state, draft and head changes count: edits to titles or labels are not history.
CREATE FUNCTION log_pr_state_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO pr_state_history
            (pull_request_id, from_state, to_state, from_draft, to_draft, head_sha, trigger,
             delivery_id)
        VALUES
            (NEW.id, NULL, NEW.state, NULL, NEW.draft, NEW.head_sha, NEW.last_trigger,
             NEW.last_delivery_id);
    ELSIF NEW.state IS DISTINCT FROM OLD.state
       OR NEW.draft IS DISTINCT FROM OLD.draft
       OR NEW.head_sha IS DISTINCT FROM OLD.head_sha THEN
        INSERT INTO pr_state_history
            (pull_request_id, from_state, to_state, from_draft, to_draft, head_sha, trigger,
             delivery_id)
        VALUES
            (NEW.id, OLD.state, NEW.state, OLD.draft, NEW.draft, NEW.head_sha, NEW.last_trigger,
             NEW.last_delivery_id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER pull_requests_state_history
    AFTER INSERT OR UPDATE ON pull_requests
    FOR EACH ROW EXECUTE FUNCTION log_pr_state_change();

-- ---------------------------------------------------------------------------------------------
-- Phase 2: failure analysis, fixes and reviews
-- ---------------------------------------------------------------------------------------------

CREATE TABLE analysis_results (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    check_run_id       bigint NOT NULL REFERENCES check_runs (id) ON DELETE CASCADE,
    pull_request_id    bigint REFERENCES pull_requests (id) ON DELETE CASCADE,
    -- A hash of the normalised failing lines: the same failure in several jobs is analysed once.
    failure_signature  text,
    category           text,
    confidence         numeric CHECK (confidence BETWEEN 0 AND 1),
    root_cause         text,
    recommended_action text,
    -- Edits as [{path, start_line, end_line, replacement}], as the model returned them.
    patch              jsonb,
    -- The same check also fails on the base branch: not the PR's fault, so no fix is proposed.
    is_preexisting     boolean,
    -- Every model call records its cost in its own row, so budgets can be summed.
    model              text,
    input_tokens       integer NOT NULL DEFAULT 0,
    output_tokens      integer NOT NULL DEFAULT 0,
    cost_usd           numeric NOT NULL DEFAULT 0,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'completed', 'failed', 'skipped')),
    error              text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX analysis_results_check_run_id_idx ON analysis_results (check_run_id);
CREATE INDEX analysis_results_pull_request_id_idx ON analysis_results (pull_request_id);
CREATE INDEX analysis_results_failure_signature_idx ON analysis_results (failure_signature);

CREATE TRIGGER analysis_results_updated_at BEFORE UPDATE ON analysis_results
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE fix_attempts (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    analysis_result_id bigint REFERENCES analysis_results (id) ON DELETE CASCADE,
    pull_request_id    bigint NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    check_run_id       bigint REFERENCES check_runs (id) ON DELETE CASCADE,
    mode               text NOT NULL CHECK (mode IN ('suggest', 'commit')),
    -- Failed attempts count toward the cap too, so they are kept, not deleted.
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'succeeded', 'failed', 'skipped')),
    attempt_number     integer NOT NULL,
    commit_sha         text,
    review_id          bigint,
    error              text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- The attempt caps are counted per PR and per check.
CREATE INDEX fix_attempts_pull_request_id_idx ON fix_attempts (pull_request_id);
CREATE INDEX fix_attempts_check_run_id_idx ON fix_attempts (check_run_id);
CREATE INDEX fix_attempts_analysis_result_id_idx ON fix_attempts (analysis_result_id);

CREATE TRIGGER fix_attempts_updated_at BEFORE UPDATE ON fix_attempts
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE reviews (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pull_request_id  bigint NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    head_sha         text NOT NULL,
    github_review_id bigint,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'posted', 'failed', 'skipped')),
    summary          text,
    comments         jsonb NOT NULL DEFAULT '[]',
    model            text,
    input_tokens     integer NOT NULL DEFAULT 0,
    output_tokens    integer NOT NULL DEFAULT 0,
    cost_usd         numeric NOT NULL DEFAULT 0,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- One review per head commit, however often the event is redelivered or replayed.
    UNIQUE (pull_request_id, head_sha)
);

CREATE TRIGGER reviews_updated_at BEFORE UPDATE ON reviews
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- ---------------------------------------------------------------------------------------------
-- Linear
-- ---------------------------------------------------------------------------------------------

CREATE TABLE linear_issues (
    -- Linear's own uuid, kept as text: it is only ever compared, and webhooks send it as text.
    id                text PRIMARY KEY,
    -- As Linear writes it (ENG-123); links match it case-insensitively by upper-casing first.
    identifier        text NOT NULL UNIQUE,
    title             text,
    team_id           text,
    team_key          text,
    state_id          text,
    state_name        text,
    state_type        text,
    url               text,
    -- The payload's updatedAt: an older payload never overwrites a newer one.
    linear_updated_at timestamptz,
    -- Removed in Linear: marked, so links and history stay readable.
    removed_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER linear_issues_updated_at BEFORE UPDATE ON linear_issues
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE pr_links (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pull_request_id bigint NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    linear_issue_id text NOT NULL REFERENCES linear_issues (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('closes', 'references')),
    -- Where the identifier was found; relinking on edit drops links whose text went away.
    source          text NOT NULL CHECK (source IN ('branch', 'title', 'body')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pull_request_id, linear_issue_id)
);

-- An issue update looks up its PRs; the unique key above only serves the other direction.
CREATE INDEX pr_links_linear_issue_id_idx ON pr_links (linear_issue_id);

CREATE TRIGGER pr_links_updated_at BEFORE UPDATE ON pr_links
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- ---------------------------------------------------------------------------------------------
-- Outbound side effects
-- ---------------------------------------------------------------------------------------------

-- Every post to GitHub or Linear is recorded here first, under a key derived from what it is
-- about (not from the delivery), so a retried, redelivered or replayed event never posts twice.
CREATE TABLE outbound_actions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL,
    idempotency_key text NOT NULL,
    -- The event that caused it, for tracing; the action outlives pruned events.
    event_id        uuid REFERENCES integration_events (id) ON DELETE SET NULL,
    target          text,
    request         jsonb,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    -- The id GitHub or Linear gave the thing we made, so a later run updates it in place.
    remote_id       text,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (kind, idempotency_key)
);

-- Pruning old events sets event_id to NULL here; without an index each deleted event scans.
CREATE INDEX outbound_actions_event_id_idx ON outbound_actions (event_id);

CREATE TRIGGER outbound_actions_updated_at BEFORE UPDATE ON outbound_actions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- ---------------------------------------------------------------------------------------------
-- Attempts log
-- ---------------------------------------------------------------------------------------------

-- Every failed attempt of an event: integration_events.last_error keeps only the latest failure,
-- and an operator looking at a dead letter wants to see whether every attempt failed the same way.
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

-- A model's answer kept until the attempt that asked for it succeeds: a retried event reuses it
-- instead of paying for it again. Written outside the event's transaction, deleted inside it.
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
