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

ROOT = Path(__file__).parent.parent
ALL = [
    "0001_initial.sql",
    "0002_event_attempts.sql",
    "0003_deflated_bodies.sql",
    "0004_model_answers.sql",
    "0005_workflows.sql",
    "0008_github_faults.sql",
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
        "INSERT INTO pull_requests (github_id, repository_id, number, state, last_trigger)"
        " SELECT 10, id, 1, 'open', 'opened' FROM repositories;"
        "UPDATE pull_requests SET title = 'only the title';"
        "UPDATE pull_requests SET state = 'merged', last_trigger = 'merged';"
    )
    rows = await db.fetch(
        "SELECT from_state::text, to_state::text, trigger::text FROM pr_state_history ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [(None, "open", "opened"), ("open", "merged", "merged")]
