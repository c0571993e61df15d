"""Any text a remote service answers with ends up stored, as app/text.storable makes it: the
production clients against the fakes over sockets, the store's own functions, the embedded
PostgreSQL. Never an error of the database's, which a job would meet on every attempt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from app import failures
from app.clients.errors import Refused
from app.clients.github_port import HttpRepoPort, port
from app.clients.linear import LinearClient
from app.handlers import pull_requests as pull_request_handler
from app.handlers.github_payload import ensure_repository
from app.store import linear_issues, pull_requests, repositories
from app.store.linear_issues import LinearIssue
from app.store.pool import init_connection
from app.text import storable
from tests.conftest import INSTALLATION_ID
from tests.fakes.github import FakeGitHub
from tests.fakes.linear import FakeLinear
from tests.integration.test_github_app import app_for
from tests.unit.test_text import ANY_TEXT

REPO = "octo-org/texts"
EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
async def store(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    await init_connection(connection)
    yield connection
    await connection.close()


@pytest.fixture
async def github(settings, fake_github: FakeGitHub) -> AsyncIterator[HttpRepoPort]:
    fake_github.add_repo(REPO, installation_id=INSTALLATION_ID)
    fake_github.commit_files(REPO, "change", {"a.txt": "a\n"})
    fake_github.add_pull(REPO, 1, head_branch="change")
    app, http = await app_for(settings, fake_github)
    async with http:
        yield port(await app.installation_api(INSTALLATION_ID), REPO)


async def repository_id(conn: asyncpg.Connection, fake: FakeGitHub) -> Any:
    payload = {
        "repository": fake.repo_json(fake.repo(REPO)),
        "installation": {"id": INSTALLATION_ID},
    }
    return await ensure_repository(conn, payload, arrival=None)


@EXAMPLES
@given(title=ANY_TEXT, body=ANY_TEXT, message=ANY_TEXT)
async def test_any_text_github_answers_is_stored(
    fake_github: FakeGitHub,
    github: HttpRepoPort,
    store: asyncpg.Connection,
    title: str,
    body: str,
    message: str,
) -> None:
    pull = fake_github.repo(REPO).pulls[1]
    pull.title, pull.body = title, body
    await store.execute("DELETE FROM pull_requests")  # each example's answer written anew
    found = await github.pull(1)
    row = pull_request_handler.to_row(found, action=None, delivery_id="property", arrival=None)
    repository = await repository_id(store, fake_github)
    await pull_requests.upsert(store, repository, row)
    stored = await store.fetchrow("SELECT title, body FROM pull_requests WHERE pr_number = 1")
    # GitHub answers an empty body as null.
    assert tuple(stored) == (storable(title), storable(body) if body else None)

    # Refused with these words: the reason is what the repository's row keeps.
    refusal = {"message": message, "documentation_url": "https://docs.github.com/rest"}
    fake_github.fail("GET", f"/repos/{REPO}/pulls/2", status=422, body=refusal)
    with pytest.raises(Refused) as refused:
        await github.pull(2)
    reason = failures.reason(refused.value)
    await repositories.poll_failed(store, repository, reason, error_after=3, suspend_after=5)
    kept = await store.fetchval("SELECT last_error FROM repositories WHERE id = $1", repository)
    assert kept == f"GitHub refused (422): {storable(message) or 'Unprocessable Entity'}"


@pytest.fixture
async def fake_linear() -> AsyncIterator[FakeLinear]:
    async with FakeLinear() as fake:
        fake.add_team("ENG")
        yield fake


@pytest.fixture
async def linear(fake_linear: FakeLinear) -> AsyncIterator[LinearClient]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield LinearClient(
            http, url=fake_linear.url, api_key=fake_linear.api_key, retry_seconds=0.01
        )


@EXAMPLES
@given(title=ANY_TEXT)
async def test_any_title_linear_answers_is_stored(
    fake_linear: FakeLinear, linear: LinearClient, store: asyncpg.Connection, title: str
) -> None:
    made = fake_linear.add_issue("ENG", title)
    issue = await linear.issue(made.id)
    assert issue is not None
    await linear_issues.upsert(
        store,
        LinearIssue(
            id=issue.id,
            identifier=issue.identifier,
            title=issue.title,
            team_id=issue.team_id,
            team_key=issue.team_key,
            state_id=issue.state.id,
            state_name=issue.state.name,
            state_type=issue.state.type,
            url=issue.url,
            linear_updated_at=issue.updated_at,
        ),
    )
    assert await store.fetchval("SELECT title FROM linear_issues WHERE id = $1", made.id) == (
        storable(title)
    )
