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

-- Arrival order: a group-commit batch takes one value and adds each delivery's place in it.
CREATE SEQUENCE integration_events_arrival_seq INCREMENT BY 1024;

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
    -- Orders deliveries, within a batch too (received_at is the batch's now()).
    arrival        bigint NOT NULL DEFAULT nextval('integration_events_arrival_seq'),
    -- Events sharing a key run one at a time, in arrival order (app/serial.py).
    serial_keys    text[] NOT NULL DEFAULT '{}',
    -- GitHub shares one delivery GUID among all hooks subscribed to an event, and a redelivery
    -- keeps both the GUID and the hook id.
    CONSTRAINT integration_events_delivery_key UNIQUE (source, hook_id, delivery_id)
);

ALTER SEQUENCE integration_events_arrival_seq OWNED BY integration_events.arrival;

-- Large bodies arrive deflated already (body_encoding); pglz trying again would only cost CPU.
ALTER TABLE integration_events ALTER COLUMN body SET STORAGE EXTERNAL;

-- The claim only ever looks at live rows, in arrival order; finished ones, the vast majority,
-- stay out of it. Expired leases are 'processing' rows, so they are found here too.
CREATE INDEX integration_events_queue_idx ON integration_events (arrival)
    WHERE status IN ('pending', 'processing');

-- The unfinished events with no serial key, which integration_event_keys does not hold: the
-- claim finds them past a head deeper than its walk (app/queue.py).
CREATE INDEX integration_events_keyless_idx ON integration_events (arrival)
    WHERE status IN ('pending', 'processing') AND serial_keys = '{}';

-- Each unfinished event's serial keys, a row each, kept by the triggers below exactly while
-- the event is pending or processing: the claim's look-up of an earlier unfinished event
-- sharing a key is one step into (key, arrival) (app/queue.py).
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

CREATE FUNCTION integration_event_keys_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM integration_event_keys k
    USING (SELECT o.id, o.arrival, o.serial_keys FROM old_rows o
           WHERE o.status IN ('pending', 'processing')
           EXCEPT
           SELECT n.id, n.arrival, n.serial_keys FROM new_rows n
           WHERE n.status IN ('pending', 'processing')) AS gone
    WHERE k.key = ANY (gone.serial_keys) AND k.arrival = gone.arrival AND k.event_id = gone.id;
    INSERT INTO integration_event_keys (key, arrival, event_id)
    SELECT DISTINCT k.key, came.arrival, came.id
    FROM (SELECT n.id, n.arrival, n.serial_keys FROM new_rows n
          WHERE n.status IN ('pending', 'processing')
          EXCEPT
          SELECT o.id, o.arrival, o.serial_keys FROM old_rows o
          WHERE o.status IN ('pending', 'processing')) AS came,
         unnest(came.serial_keys) AS k (key);
    RETURN NULL;
END;
$$;

CREATE FUNCTION integration_event_keys_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM integration_event_keys
    WHERE key = ANY (OLD.serial_keys) AND arrival = OLD.arrival AND event_id = OLD.id;
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

-- Once per statement, after every UPDATE (a trigger with transition tables names no columns):
-- the rows that left the unfinished set, or changed their id, arrival or keys, lose their keys;
-- those that entered it, or changed, get theirs (migration 0013).
CREATE TRIGGER integration_event_keys_update
    AFTER UPDATE ON integration_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION integration_event_keys_update();

CREATE TRIGGER integration_event_keys_delete
    AFTER DELETE ON integration_events
    FOR EACH ROW WHEN (OLD.status IN ('pending', 'processing'))
    EXECUTE FUNCTION integration_event_keys_change();

CREATE TRIGGER integration_event_keys_truncate
    AFTER TRUNCATE ON integration_events
    FOR EACH STATEMENT EXECUTE FUNCTION integration_event_keys_truncate();

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

CREATE TYPE repository_status AS ENUM ('active', 'error', 'suspended', 'archived', 'removed');

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
    updated_at           timestamptz NOT NULL DEFAULT now(),
    -- integration_events.arrival of the installation event last applied: of two payloads with
    -- one last_event_at, the later arrival wins (migration 0018).
    last_arrival         bigint
);

CREATE TRIGGER installations_updated_at BEFORE UPDATE ON installations
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE repositories (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
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
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- As GitHub shows the repository. Unique as in seed 002 but nullable: installation payloads
    -- carry no URL, and when another repository takes a name, the newer holder keeps the URL.
    url             varchar(500) UNIQUE,
    -- hookwise.yml settings set on /admin: over the owner's .github file, under the
    -- repository's own (app/repo_config.py).
    config_override jsonb,
    -- integration_events.arrival of the payload that last set owner, name, full_name, url,
    -- and since migration 0017 default_branch, private, fork and installation_id too
    -- (app/store/repositories.py, NEWER). A rename learnt from GitHub's redirect records the
    -- newest arrival stored by then. NULL: written before migration 0016, or not by an event.
    names_arrival   bigint,
    -- GitHub's `updated_at` of that payload's repository object: one older by it changes none
    -- of them. NULL: no payload with one has set them yet (installation payloads carry none).
    github_updated_at timestamptz,
    -- integration_events.arrival of the installation event that last added or removed it: one
    -- that arrived before it changes neither (migration 0019). NULL: none since then.
    membership_arrival bigint
);

CREATE INDEX repositories_installation_id_idx ON repositories (installation_id);
CREATE INDEX repositories_full_name_idx ON repositories (full_name);
CREATE INDEX idx_repositories_status ON repositories (status);
CREATE INDEX idx_repositories_last_polled ON repositories (last_polled_at);

CREATE TRIGGER update_repositories_updated_at BEFORE UPDATE ON repositories
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- ---------------------------------------------------------------------------------------------
-- Pull requests, check runs and their state history
-- ---------------------------------------------------------------------------------------------

CREATE TYPE pr_state AS ENUM ('opened', 'closed', 'merged');

-- The seed's four values and GitHub's waiting ones.
CREATE TYPE check_status AS ENUM (
    'queued', 'in_progress', 'completed', 'cancelled', 'waiting', 'requested', 'pending'
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
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    github_id           bigint NOT NULL UNIQUE,
    -- Repositories are marked removed, never deleted, so no cascade is needed.
    repository_id       uuid NOT NULL REFERENCES repositories (id),
    pr_number           integer NOT NULL,
    title               text,
    body                text,
    author              text,
    -- 'merged' is a state of its own, so there is no separate merged flag to disagree with it.
    state               pr_state NOT NULL,
    draft               boolean NOT NULL DEFAULT false,
    merged_at           timestamptz,
    closed_at           timestamptz,
    head_branch         text,
    head_sha            text,
    -- Differs from the repository's full name for forks; we never push there.
    head_repo_full_name text,
    base_branch         text,
    base_sha            text,
    url                 text,
    is_fork             boolean NOT NULL DEFAULT false,
    github_created_at   timestamptz,
    -- The payload's updated_at: an older payload never overwrites a newer one.
    github_updated_at   timestamptz,
    -- Set by every writer; log_pr_state_change() copies both into the history row.
    last_trigger        trigger_event NOT NULL DEFAULT 'unknown',
    last_delivery_id    text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- The PR's labels ({"labels": [...]}).
    metadata            jsonb,
    -- When its check runs were last looked at: a check_run event for it, backfill, reconcile.
    last_checked_at     timestamptz,
    -- The arrival of the event last applied: settles a tie of updated_at (one-second resolution).
    last_arrival        bigint,
    UNIQUE (repository_id, pr_number)
);

-- check_run events from forks carry no pull_requests list; they are matched by head sha.
CREATE INDEX pull_requests_repository_head_sha_idx ON pull_requests (repository_id, head_sha);
-- Seed 002's, but idx_pull_requests_repository_id: repository_id leads three indexes already.
CREATE INDEX idx_pull_requests_state ON pull_requests (state);
CREATE INDEX idx_pull_requests_last_checked ON pull_requests (last_checked_at);
CREATE INDEX idx_pull_requests_created_at ON pull_requests (created_at);
CREATE INDEX idx_pull_requests_repo_state ON pull_requests (repository_id, state);

CREATE TRIGGER update_pull_requests_updated_at BEFORE UPDATE ON pull_requests
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE check_runs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    github_id       bigint NOT NULL UNIQUE,
    repository_id   uuid NOT NULL REFERENCES repositories (id),
    -- A check run belongs to a commit; the PR link is a convenience that may come later or never.
    pr_id           uuid REFERENCES pull_requests (id) ON DELETE SET NULL,
    check_name      text NOT NULL,
    head_sha        text NOT NULL,
    -- Check runs carry no updated_at: never moving backwards orders by status rank, then
    -- completed_at.
    status          check_status NOT NULL,
    conclusion      check_conclusion,
    app_slug        text,
    -- Seed 002's: GitHub's id of the run, as text (github_id as a number). GitHub's own
    -- external_id field is metadata->>'external_id'.
    external_id     varchar(100) NOT NULL UNIQUE,
    details_url     text,
    html_url        text,
    check_suite_id  bigint,
    started_at      timestamptz,
    completed_at    timestamptz,
    output_title    text,
    output_summary  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Where the failure analysis read the run's log from (GitHub Actions runs).
    logs_url        varchar(500),
    metadata        jsonb,
    -- The arrival of the event last applied: settles a tie of status and times.
    last_arrival    bigint
);

CREATE INDEX check_runs_repository_head_sha_idx ON check_runs (repository_id, head_sha);
-- Seed 002's, but idx_check_runs_pr_id: pr_id leads two indexes already.
CREATE INDEX idx_check_runs_status ON check_runs (status);
CREATE INDEX idx_check_runs_conclusion ON check_runs (conclusion);
CREATE INDEX idx_check_runs_check_name ON check_runs (check_name);
CREATE INDEX idx_check_runs_created_at ON check_runs (created_at);
CREATE INDEX idx_check_runs_pr_status ON check_runs (pr_id, status);
CREATE INDEX idx_check_runs_pr_conclusion ON check_runs (pr_id, conclusion);

CREATE TRIGGER update_check_runs_updated_at BEFORE UPDATE ON check_runs
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE pr_state_history (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pr_id         uuid NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    old_state     pr_state,
    new_state     pr_state NOT NULL,
    -- hookwise's: the draft flag before and after, the head commit, the delivery.
    from_draft    boolean,
    to_draft      boolean,
    head_sha      text,
    trigger_event trigger_event NOT NULL,
    delivery_id   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- The payload's updated_at, when GitHub says the change happened.
    metadata      jsonb
);

-- Seed 002's, but idx_pr_state_history_pr_id: pr_id leads idx_pr_state_history_pr_created.
CREATE INDEX idx_pr_state_history_pr_created ON pr_state_history (pr_id, created_at);
CREATE INDEX idx_pr_state_history_created_at ON pr_state_history (created_at);
CREATE INDEX idx_pr_state_history_trigger_event ON pr_state_history (trigger_event);

-- History is written here, not by handlers, so backfill, reconcile and hand-written SQL record
-- it too. Only state, draft and head changes count: edits to titles or labels are not history.
-- clock_timestamp(): a PR opened and changed in one transaction gets its rows in order.
CREATE FUNCTION log_pr_state_change() RETURNS trigger
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

CREATE TRIGGER log_pull_request_state_changes
    AFTER INSERT OR UPDATE ON pull_requests
    FOR EACH ROW EXECUTE FUNCTION log_pr_state_change();

-- ---------------------------------------------------------------------------------------------
-- Phase 2: failure analysis, fixes and reviews
-- ---------------------------------------------------------------------------------------------

CREATE TABLE analysis_results (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    check_run_id       uuid NOT NULL REFERENCES check_runs (id) ON DELETE CASCADE,
    pull_request_id    uuid REFERENCES pull_requests (id) ON DELETE CASCADE,
    -- A hash of the normalised failing lines: the same failure in several jobs is analysed once.
    failure_signature  text,
    category           text,
    -- NULL when no model answered (skipped, failed).
    confidence_score   double precision CHECK (confidence_score BETWEEN 0 AND 1),
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
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    analysis_result_id uuid REFERENCES analysis_results (id) ON DELETE CASCADE,
    pull_request_id    uuid NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    check_run_id       uuid REFERENCES check_runs (id) ON DELETE CASCADE,
    fix_strategy       text NOT NULL CHECK (fix_strategy IN ('suggest', 'commit')),
    -- Failed attempts count toward the cap too, so they are kept, not deleted.
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'succeeded', 'failed', 'skipped')),
    -- The attempt's place among the PR's attempts, which the cap counts.
    attempt_number     integer NOT NULL,
    commit_sha         text,
    -- GitHub's id of the review that suggested the fix.
    review_id          bigint,
    error_message      text,
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
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pr_id            uuid NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    head_sha         text NOT NULL,
    github_review_id bigint,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'posted', 'failed', 'skipped')),
    -- The review's summary; its line comments are in comments.
    feedback         text,
    comments         jsonb NOT NULL DEFAULT '[]',
    model            text,
    input_tokens     integer NOT NULL DEFAULT 0,
    output_tokens    integer NOT NULL DEFAULT 0,
    cost_usd         numeric NOT NULL DEFAULT 0,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- hookwise has one reviewer, the model: 'ai'.
    reviewer_type    varchar(50) NOT NULL,
    -- The review's event as posted to GitHub: COMMENT.
    decision         varchar(50),
    metadata         jsonb,
    started_at       timestamptz,
    completed_at     timestamptz,
    -- One review per head commit, however often the event is redelivered or replayed.
    UNIQUE (pr_id, head_sha)
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
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- The arrival of the event last applied: settles a tie of updatedAt.
    last_arrival      bigint
);

CREATE TRIGGER linear_issues_updated_at BEFORE UPDATE ON linear_issues
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE pr_links (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pull_request_id uuid NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
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
-- GitHub requests
-- ---------------------------------------------------------------------------------------------

-- One GitHub request at a time per installation across every process, and its writes spaced
-- (GitHub's best practices for integrators): a lease per installation (0: the App itself, its
-- JWT requests), claimed and released each in a statement of its own. No lock and no transaction
-- is held while GitHub answers: a holder that died is outlived by `leased_until`. Unlogged: a
-- lease is worth nothing after a crash (all lapse), and claiming one waits for no WAL flush.
CREATE UNLOGGED TABLE github_request_leases (
    installation_id bigint PRIMARY KEY,
    holder          uuid,
    leased_until    timestamptz,
    -- The next write may go at this time, not before.
    next_write_at   timestamptz NOT NULL DEFAULT '-infinity'
);

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

-- Seed 001: reactions are executions of workflows (0005).
CREATE TABLE workflows (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        varchar(255) NOT NULL UNIQUE,
    description text,
    status      varchar(50) NOT NULL DEFAULT 'active',
    config      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz DEFAULT now(),
    updated_at  timestamptz DEFAULT now(),
    created_by  varchar(255),
    -- Declared workflows (0009): whose file, 'repo:<GitHub repository id>' or
    -- 'owner:<login>'; NULL for the built-in ones. The name as the file writes it.
    scope         text,
    declared_name text,
    CONSTRAINT chk_workflow_status CHECK (status IN ('active', 'inactive', 'archived', 'draft'))
);
CREATE UNIQUE INDEX uq_workflows_scope_declared_name ON workflows (scope, declared_name)
    WHERE scope IS NOT NULL;
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
    -- hookwise's extras. What one at a time is kept by: 'pr:<pull request id>'.
    subject             text NOT NULL,
    -- For people: 'owner/repo#7'.
    subject_label       text,
    event_id            uuid REFERENCES integration_events (id) ON DELETE SET NULL,
    pull_request_id     uuid REFERENCES pull_requests (id) ON DELETE CASCADE,
    installation_id     bigint,
    -- Claimed like events: attempts counted, a lease, the time it is due.
    attempts            integer NOT NULL DEFAULT 0,
    run_after           timestamptz NOT NULL DEFAULT now(),
    locked_until        timestamptz,
    -- Start order, for one subject's executions one at a time in order.
    seq                 bigint GENERATED ALWAYS AS IDENTITY,
    -- skipped (0009): a declared workflow whose conditions did not hold.
    CONSTRAINT chk_execution_status CHECK (status IN (
        'pending', 'running', 'completed', 'failed', 'timeout', 'cancelled', 'skipped'
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
-- Seed 001's statuses only (0011): a skipped run did nothing, neither success nor failure.
WHERE we.started_at > now() - interval '30 days' AND we.status <> 'skipped'
GROUP BY w.id, w.name;

-- A model's answer kept until the execution that asked for it succeeds: a retried execution
-- reuses it instead of paying for it again.
CREATE TABLE model_answers (
    -- What the answer is for, within its execution: 'review', 'analysis:<check run id>'.
    purpose       text NOT NULL,
    execution_id  uuid NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
    answer        jsonb NOT NULL,
    model         text NOT NULL,
    input_tokens  integer NOT NULL,
    output_tokens integer NOT NULL,
    cost_usd      numeric NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_id, purpose)
);

-- What an execution wrote, so a retried one can start again from a clean slate.
-- Then seed 002's columns these two lacked before 0006.
ALTER TABLE analysis_results
    ADD COLUMN execution_id uuid REFERENCES workflow_executions (id) ON DELETE SET NULL,
    ADD COLUMN metadata jsonb;
ALTER TABLE fix_attempts
    ADD COLUMN execution_id uuid REFERENCES workflow_executions (id) ON DELETE SET NULL,
    -- How often the execution that made the attempt was retried before it.
    ADD COLUMN retry_count integer NOT NULL DEFAULT 0,
    -- Derived, so it cannot disagree with status.
    ADD COLUMN success boolean GENERATED ALWAYS AS (
        CASE status WHEN 'succeeded' THEN true WHEN 'failed' THEN false END) STORED,
    ADD COLUMN metadata jsonb,
    ADD COLUMN started_at timestamptz,
    ADD COLUMN completed_at timestamptz;

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

-- Declared workflows (0009): each .github/hookwise.yml as last read, and its problems.
CREATE TABLE workflow_sources (
    scope           text PRIMARY KEY,
    full_name       text NOT NULL,
    installation_id bigint,
    path            text NOT NULL,
    problems        jsonb NOT NULL DEFAULT '[]',
    synced_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO workflows (name, description, config, created_by) VALUES
    ('hookwise.workflows_sync', 'Read the workflows declared in .github/hookwise.yml',
     '{"builtin": true}', 'hookwise');
INSERT INTO workflow_actions (workflow_id, action_type, action_name, order_index)
SELECT id, 'quality_gates', 'read, validate and store the declared workflows', 0
FROM workflows WHERE name = 'hookwise.workflows_sync';
INSERT INTO workflows (name, description, config, created_by) VALUES
    ('hookwise.workflows_check',
     'Check the .github/hookwise.yml a branch or pull request proposes',
     '{"builtin": true}', 'hookwise');
INSERT INTO workflow_actions (workflow_id, action_type, action_name, order_index)
SELECT id, 'quality_gates', 'check the proposed workflows, run none', 0
FROM workflows WHERE name = 'hookwise.workflows_check';
