"""hookwise migrate: forward-only, checksummed, safe to run at once; schema.sql is the truth."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncpg
import pytest

from app.store import migrations
from app.store.errors import MigrationError
from tests.pg import EmbeddedPostgres

ROOT = Path(__file__).parents[2]
ALL = [
    "0001_initial.sql",
    "0002_event_attempts.sql",
    "0003_deflated_bodies.sql",
    "0004_model_answers.sql",
    "0005_workflows.sql",
    "0006_seed_002_names.sql",
    "0007_arrival_order.sql",
    "0008_github_faults.sql",
    "0009_declared_workflows.sql",
    "0011_performance_without_skipped.sql",
    "0012_serial_keys_table.sql",
    "0013_keys_by_statement.sql",
    "0015_keyless_queue.sql",
    "0016_repository_names_arrival.sql",
    "0017_repository_github_clock.sql",
    "0018_installation_arrival.sql",
    "0019_repository_membership_arrival.sql",
]


@pytest.fixture
def empty_dsn(pg: EmbeddedPostgres):
    name = pg.create_database(template="template0")
    yield pg.dsn(name)
    pg.drop_database(name)


async def migrate(dsn: str, directory: Path | None = None) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return await migrations.migrate(conn, migrations.load(directory))
    finally:
        await conn.close()


def schema_dump(pg: EmbeddedPostgres, dsn: str) -> str:
    # A fixed --restrict-key: pg_dump 18 otherwise writes a random one into every dump.
    return subprocess.run(
        [
            pg.bin("pg_dump"),
            "--schema-only",
            "--no-owner",
            "--restrict-key=hookwise",
            "--exclude-table=schema_migrations",
            dsn,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


async def test_schema_sql_equals_the_migrations_applied(pg: EmbeddedPostgres) -> None:
    migrated = pg.create_database(template="template0")
    from_schema = pg.create_database(template="template0")
    try:
        await migrate(pg.dsn(migrated))
        conn = await asyncpg.connect(pg.dsn(from_schema))
        try:
            await conn.execute((ROOT / "db" / "schema.sql").read_text())
        finally:
            await conn.close()
        expected = schema_dump(pg, pg.dsn(migrated))
        assert "CREATE TABLE public.integration_events" in expected
        assert schema_dump(pg, pg.dsn(from_schema)) == expected
    finally:
        pg.drop_database(migrated)
        pg.drop_database(from_schema)


async def test_every_table_of_the_design_exists(empty_dsn: str) -> None:
    await migrate(empty_dsn)
    conn = await asyncpg.connect(empty_dsn)
    try:
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()
    assert {
        "integrations",
        "integration_events",
        "installations",
        "repositories",
        "pull_requests",
        "check_runs",
        "pr_state_history",
        "analysis_results",
        "fix_attempts",
        "reviews",
        "linear_issues",
        "pr_links",
        "outbound_actions",
        "event_attempts",
        "schema_migrations",
    } <= tables


async def test_migrate_twice_is_a_no_op(empty_dsn: str) -> None:
    assert await migrate(empty_dsn) == ALL
    assert await migrate(empty_dsn) == []


async def test_concurrent_migrations_apply_once(empty_dsn: str) -> None:
    results = await asyncio.gather(*(migrate(empty_dsn) for _ in range(4)))
    assert sorted(results) == [[], [], [], ALL]


async def test_a_changed_applied_migration_is_refused(empty_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (id int);")
    assert await migrate(empty_dsn, tmp_path) == ["0001_first.sql"]
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (id bigint);")
    (tmp_path / "0002_second.sql").write_text("CREATE TABLE b (id int);")
    with pytest.raises(MigrationError, match=r"0001_first\.sql changed"):
        await migrate(empty_dsn, tmp_path)
    conn = await asyncpg.connect(empty_dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('b')") is None
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(empty_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE b (id int); SELECT * FROM missing;")
    with pytest.raises(asyncpg.UndefinedTableError):
        await migrate(empty_dsn, tmp_path)
    conn = await asyncpg.connect(empty_dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('a') IS NOT NULL")
        assert await conn.fetchval("SELECT to_regclass('b')") is None
        names = [r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")]
        assert names == ["0001_ok.sql"]
    finally:
        await conn.close()


async def test_pr_state_history_is_written_by_the_database(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO repositories (github_id, full_name) VALUES (1, 'o/r');"
        "INSERT INTO pull_requests (github_id, repository_id, pr_number, state, last_trigger)"
        " SELECT 10, id, 1, 'opened', 'opened' FROM repositories;"
        "UPDATE pull_requests SET title = 'only the title';"
        "UPDATE pull_requests SET state = 'merged', last_trigger = 'merged';"
    )
    # One transaction, yet the rows are in order: the trigger stamps clock_timestamp().
    rows = await db.fetch(
        "SELECT old_state::text, new_state::text, trigger_event::text FROM pr_state_history"
        " ORDER BY created_at"
    )
    assert [tuple(r) for r in rows] == [(None, "opened", "opened"), ("opened", "merged", "merged")]


# ---------------------------------------------------------------------------------------------
# 0006: seed 002's names and uuid keys, on a database that has rows
# ---------------------------------------------------------------------------------------------

# A database as 0005 left it, with every kind of row and link hookwise writes.
FILLED_0005 = """
INSERT INTO integrations (name, type) VALUES ('github', 'github');
INSERT INTO integration_events (id, integration_id, source, delivery_id, event_type, body)
SELECT '00000000-0000-0000-0000-00000000e001', id, 'github', 'd-1', 'check_run', '\\x7b7d'
FROM integrations;
INSERT INTO installations (id, account_login) VALUES (77, 'octo-org');
INSERT INTO repositories (github_id, installation_id, owner, name, full_name, status)
VALUES (1001, 77, 'octo-org', 'widgets', 'octo-org/widgets', 'active'),
       (1002, 77, 'octo-org', 'gadgets', 'octo-org/gadgets', 'removed');
INSERT INTO pull_requests (github_id, repository_id, number, title, author_login, state,
                           head_ref, head_sha, base_ref, base_sha, html_url, last_trigger,
                           last_delivery_id)
SELECT 5001, id, 7, 'Fix calc', 'octocat', 'open', 'fix-calc', 'aaa', 'main', 'bbb',
       'https://ghe.example.com/octo-org/widgets/pull/7', 'opened', 'd-0'
FROM repositories WHERE github_id = 1001;
INSERT INTO pull_requests (github_id, repository_id, number, state, last_trigger)
SELECT 5002, id, 8, 'open', 'opened' FROM repositories WHERE github_id = 1001;
UPDATE pull_requests SET state = 'merged', last_trigger = 'merged' WHERE github_id = 5002;
INSERT INTO check_runs (github_id, repository_id, pull_request_id, name, head_sha, status,
                        conclusion, external_id)
SELECT 6001, repository_id, id, 'tests', 'aaa', 'completed', 'failure', 'ci-42'
FROM pull_requests WHERE github_id = 5001;
INSERT INTO check_runs (github_id, repository_id, name, head_sha, status)
SELECT 6002, id, 'lint', 'ccc', 'queued' FROM repositories WHERE github_id = 1001;
INSERT INTO workflow_executions (workflow_id, execution_id, subject, subject_label,
                                 pull_request_id, event_id, status, attempts)
SELECT w.id, 'analyse:6001', 'pr:' || p.id, 'octo-org/widgets#7', p.id,
       '00000000-0000-0000-0000-00000000e001', 'completed', 2
FROM workflows w, pull_requests p
WHERE w.name = 'hookwise.analyse_failure' AND p.github_id = 5001;
INSERT INTO execution_logs (execution_id, level, message)
SELECT id, 'INFO', 'evidence' FROM workflow_executions;
INSERT INTO model_answers (purpose, execution_id, answer, model, input_tokens, output_tokens,
                           cost_usd)
SELECT 'analysis:6001', id, '{}', 'm', 1, 1, 0 FROM workflow_executions;
INSERT INTO analysis_results (check_run_id, pull_request_id, failure_signature, category,
                              confidence, status, execution_id)
SELECT c.id, c.pull_request_id, 'sig', 'test', 0.75, 'completed', e.id
FROM check_runs c, workflow_executions e WHERE c.github_id = 6001;
INSERT INTO fix_attempts (analysis_result_id, pull_request_id, check_run_id, mode, status,
                          attempt_number, error, review_id, execution_id)
SELECT a.id, a.pull_request_id, a.check_run_id, 'suggest', 'succeeded', 1, NULL, 9001,
       a.execution_id
FROM analysis_results a;
INSERT INTO fix_attempts (analysis_result_id, pull_request_id, check_run_id, mode, status,
                          attempt_number, error)
SELECT a.id, a.pull_request_id, a.check_run_id, 'commit', 'failed', 2, 'push refused'
FROM analysis_results a;
INSERT INTO reviews (pull_request_id, head_sha, status, summary, github_review_id)
SELECT id, 'aaa', 'posted', 'Looks fine.', 9002 FROM pull_requests WHERE github_id = 5001;
INSERT INTO reviews (pull_request_id, head_sha, status, error)
SELECT id, 'ddd', 'failed', 'model down' FROM pull_requests WHERE github_id = 5002;
INSERT INTO linear_issues (id, identifier) VALUES ('lin-1', 'ENG-1');
INSERT INTO pr_links (pull_request_id, linear_issue_id, kind, source)
SELECT id, 'lin-1', 'closes', 'title' FROM pull_requests WHERE github_id = 5001;
"""

# Every row and link, named by what does not change (GitHub ids, texts): before 0006 ...
LINKS_BEFORE = {
    "pull_requests": """
        SELECT p.github_id, r.github_id, p.number, p.title, p.author_login, p.state::text,
               p.head_ref, p.base_ref, p.html_url
        FROM pull_requests p JOIN repositories r ON r.id = p.repository_id""",
    "check_runs": """
        SELECT c.github_id, r.github_id, p.github_id, c.name, c.status::text
        FROM check_runs c JOIN repositories r ON r.id = c.repository_id
        LEFT JOIN pull_requests p ON p.id = c.pull_request_id""",
    "pr_state_history": """
        SELECT p.github_id, h.from_state::text, h.to_state::text, h.trigger::text, h.changed_at
        FROM pr_state_history h JOIN pull_requests p ON p.id = h.pull_request_id""",
    "analysis_results": """
        SELECT c.github_id, p.github_id, a.category, a.confidence::float8, e.execution_id
        FROM analysis_results a JOIN check_runs c ON c.id = a.check_run_id
        JOIN pull_requests p ON p.id = a.pull_request_id
        JOIN workflow_executions e ON e.id = a.execution_id""",
    "fix_attempts": """
        SELECT a.failure_signature, p.github_id, c.github_id, f.mode, f.status, f.attempt_number,
               f.error
        FROM fix_attempts f JOIN analysis_results a ON a.id = f.analysis_result_id
        JOIN pull_requests p ON p.id = f.pull_request_id
        JOIN check_runs c ON c.id = f.check_run_id""",
    "reviews": """
        SELECT p.github_id, v.head_sha, v.status, v.summary, v.error
        FROM reviews v JOIN pull_requests p ON p.id = v.pull_request_id""",
    "pr_links": """
        SELECT p.github_id, k.linear_issue_id FROM pr_links k
        JOIN pull_requests p ON p.id = k.pull_request_id""",
    "workflow_executions": """
        SELECT e.execution_id, p.github_id, e.event_id, l.message, m.purpose
        FROM workflow_executions e JOIN pull_requests p ON p.id = e.pull_request_id
        JOIN execution_logs l ON l.execution_id = e.id
        JOIN model_answers m ON m.execution_id = e.id""",
}
# ... and after it, under the seed's names.
LINKS_AFTER = {
    "pull_requests": """
        SELECT p.github_id, r.github_id, p.pr_number, p.title, p.author, p.state::text,
               p.head_branch, p.base_branch, p.url
        FROM pull_requests p JOIN repositories r ON r.id = p.repository_id""",
    "check_runs": """
        SELECT c.github_id, r.github_id, p.github_id, c.check_name, c.status::text
        FROM check_runs c JOIN repositories r ON r.id = c.repository_id
        LEFT JOIN pull_requests p ON p.id = c.pr_id""",
    "pr_state_history": """
        SELECT p.github_id, h.old_state::text, h.new_state::text, h.trigger_event::text,
               h.created_at
        FROM pr_state_history h JOIN pull_requests p ON p.id = h.pr_id""",
    "analysis_results": """
        SELECT c.github_id, p.github_id, a.category, a.confidence_score, e.execution_id
        FROM analysis_results a JOIN check_runs c ON c.id = a.check_run_id
        JOIN pull_requests p ON p.id = a.pull_request_id
        JOIN workflow_executions e ON e.id = a.execution_id""",
    "fix_attempts": """
        SELECT a.failure_signature, p.github_id, c.github_id, f.fix_strategy, f.status,
               f.attempt_number, f.error_message
        FROM fix_attempts f JOIN analysis_results a ON a.id = f.analysis_result_id
        JOIN pull_requests p ON p.id = f.pull_request_id
        JOIN check_runs c ON c.id = f.check_run_id""",
    "reviews": """
        SELECT p.github_id, v.head_sha, v.status, v.feedback, v.error
        FROM reviews v JOIN pull_requests p ON p.id = v.pr_id""",
    "pr_links": LINKS_BEFORE["pr_links"],
    "workflow_executions": LINKS_BEFORE["workflow_executions"],
}
RENAMED_STATES = {"open": "opened"}


async def links(conn: asyncpg.Connection, queries: dict[str, str]) -> dict[str, list[tuple]]:
    found = {}
    for table, query in queries.items():
        rows = [tuple(RENAMED_STATES.get(v, v) for v in row) for row in await conn.fetch(query)]
        found[table] = sorted(rows, key=repr)
    return found


async def test_0006_keeps_every_row_and_link(empty_dsn: str) -> None:
    every = migrations.load()
    upto_0005 = [m for m in every if m.name <= "0005_workflows.sql"]
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrations.migrate(conn, upto_0005)
        await conn.execute(FILLED_0005)
        tables = [t for t in LINKS_BEFORE] + ["repositories", "execution_logs", "model_answers"]
        counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
        before = await links(conn, LINKS_BEFORE)
        updated = await conn.fetch("SELECT github_id, updated_at FROM pull_requests")

        upto_0006 = [m for m in every if m.name <= "0006_seed_002_names.sql"]
        assert await migrations.migrate(conn, upto_0006) == ["0006_seed_002_names.sql"]

        assert {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables} == counts
        assert await links(conn, LINKS_AFTER) == before
        assert all(len(rows) > 0 for rows in before.values())
        for table in SEED_002_TABLES:
            kind = await conn.fetchval(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_name = $1 AND column_name = 'id'",
                table,
            )
            assert kind == "uuid", table
        # One at a time still holds: the subject names the PR as new executions do.
        assert await conn.fetchval(
            "SELECT bool_and(subject = 'pr:' || pull_request_id) FROM workflow_executions"
        )
        # The seed's external_id is GitHub's id of the run; GitHub's field moved to metadata.
        runs = await conn.fetch(
            "SELECT github_id, external_id, metadata::text FROM check_runs ORDER BY github_id"
        )
        assert [tuple(r) for r in runs] == [
            (6001, "6001", '{"external_id": "ci-42"}'),
            (6002, "6002", None),
        ]
        fixes = await conn.fetch(
            "SELECT fix_strategy, success, retry_count, started_at IS NOT NULL,"
            " completed_at IS NOT NULL FROM fix_attempts ORDER BY attempt_number"
        )
        assert [tuple(r) for r in fixes] == [
            ("suggest", True, 1, True, True),
            ("commit", False, 0, True, True),
        ]
        reviews = await conn.fetch("SELECT reviewer_type, decision FROM reviews ORDER BY head_sha")
        assert [tuple(r) for r in reviews] == [("ai", "COMMENT"), ("ai", None)]
        urls = await conn.fetch("SELECT github_id, url FROM repositories ORDER BY github_id")
        assert [tuple(r) for r in urls] == [
            (1001, "https://ghe.example.com/octo-org/widgets"),
            (1002, "https://github.com/octo-org/gadgets"),
        ]
        # Nothing was touched on the way: no history rows, no updated_at bumps.
        assert sorted(
            map(tuple, await conn.fetch("SELECT github_id, updated_at FROM pull_requests"))
        ) == sorted(map(tuple, updated))
        assert await conn.fetchval(
            "SELECT last_checked_at = (SELECT updated_at FROM check_runs WHERE github_id = 6001)"
            " FROM pull_requests WHERE github_id = 5001"
        )
    finally:
        await conn.close()


SEED_002_TABLES = (
    "repositories",
    "pull_requests",
    "check_runs",
    "pr_state_history",
    "analysis_results",
    "fix_attempts",
    "reviews",
)
