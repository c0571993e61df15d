-- 0008_github_faults: GitHub as it really is (issue 16).

-- An archived repository is kept apart (`repository` webhooks, archived and unarchived): GitHub
-- refuses writes to it, and nothing in it changes to look at.
ALTER TYPE repository_status ADD VALUE 'archived' AFTER 'suspended';

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
