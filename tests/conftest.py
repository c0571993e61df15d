from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from app.settings import Settings
from tests.harness import Running, running_hookwise
from tests.pg import EmbeddedPostgres, empty_database

GITHUB_SECRET = "It's a Secret to Everybody"
LINEAR_SECRET = "linear-test-secret"


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "pgdata")
    server.create_template()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def module_dsn(pg: EmbeddedPostgres) -> Iterator[str]:
    name = pg.create_database()
    yield pg.dsn(name)
    pg.drop_database(name)


@pytest.fixture
async def dsn(module_dsn: str) -> str:
    await empty_database(module_dsn)
    return module_dsn


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    yield conn
    await conn.close()


@pytest.fixture
def settings(dsn: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=dsn,
        data_dir=tmp_path,
        github_webhook_secret=GITHUB_SECRET,
        linear_webhook_secret=LINEAR_SECRET,
    )


@pytest.fixture
async def hookwise(settings: Settings, dsn: str) -> AsyncIterator[Running]:
    async with running_hookwise(settings, dsn) as running:
        yield running
