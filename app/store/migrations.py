"""Forward-only migrations: db/migrations/*.sql applied in order, each in its own transaction.

An advisory lock makes concurrent `migrate` runs (several machines starting at once) safe;
each applied file is recorded with its checksum, and a file changed after it was applied is an
error rather than a silent divergence between databases.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

import app
from app.store.errors import MigrationError

log = logging.getLogger(__name__)

# Any constant unique to hookwise; shared by every process that migrates the same database.
ADVISORY_LOCK_KEY = 0x686F6F6B77697365 & 0x7FFFFFFFFFFFFFFF

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
APPLIED = "SELECT name, checksum FROM schema_migrations"
RECORD = "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)"


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """db/migrations in a checkout, or the copy packed into the wheel."""
    package = Path(app.__file__).parent
    for candidate in (package / "db" / "migrations", package.parent / "db" / "migrations"):
        if candidate.is_dir():
            return candidate
    raise MigrationError("db/migrations not found beside the app package")


def load(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    return [Migration(p.name, p.read_text()) for p in sorted(directory.glob("*.sql"))]


async def pending(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    """Migrations not applied yet; MigrationError if an applied one has changed."""
    await conn.execute(CREATE_TABLE)
    applied = {row["name"]: row["checksum"] for row in await conn.fetch(APPLIED)}
    for migration in migrations:
        recorded = applied.get(migration.name)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"migration {migration.name} changed after it was applied; "
                "add a new migration instead of editing an applied one"
            )
    return [m for m in migrations if m.name not in applied]


async def is_current(conn: asyncpg.Connection, migrations: list[Migration]) -> bool:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return False
    applied = {row["name"]: row["checksum"] for row in await conn.fetch(APPLIED)}
    return all(applied.get(m.name) == m.checksum for m in migrations)


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is pending; returns the names applied."""
    migrations = load() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        done = []
        for migration in await pending(conn, migrations):
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(RECORD, migration.name, migration.checksum)
            log.info(
                "applied migration %s",
                migration.name,
                extra={"action": "migrated", "migration": migration.name},
            )
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
