"""Renamed, transferred, archived and deleted repositories (issue 16, item 6): `repository`
webhooks keep the stored name and status, and a 301 from GitHub is followed once to the new name,
which is then stored, so a reconcile by the old name does not dead-letter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.clients.github import GitHubApp
from app.clients.github_port import port
from app.store import repositories
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.github import FakeGitHub
from tests.integration.test_redeliver import cli
from tests.stories.test_backfill import ALPHA, open_pulls, own_events, world

RENAMED = "octo-org/alpha-two"
TRANSFERRED = "new-org/alpha"
STORED = "SELECT full_name, owner, name, status::text AS status FROM repositories"


async def installation_token(fake: FakeGitHub) -> dict[str, str]:
    token, _ = fake.issue_token(INSTALLATION_ID)
    return {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}


async def test_the_fake_redirects_an_old_name_as_github_does(fake_github: FakeGitHub) -> None:
    repo = fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.rename_repo(ALPHA, RENAMED)
    headers = await installation_token(fake_github)
    async with httpx.AsyncClient(base_url=fake_github.url, headers=headers) as http:
        read = await http.get(f"/repos/{ALPHA}/commits/main", params={"per_page": "1"})
        assert read.status_code == 301
        moved = f"{fake_github.url}/repositories/{repo['id']}/commits/main?per_page=1"
        assert read.headers["location"] == moved
        assert read.json()["message"] == "Moved Permanently"
        assert read.json()["url"] == moved
        # A write is 307: repeat it as it was at the new place.
        write = await http.post(f"/repos/{ALPHA}/check-runs", json={"name": "x", "head_sha": "0"})
        assert write.status_code == 307
        assert write.headers["location"].endswith(f"/repositories/{repo['id']}/check-runs")
        by_id = await http.get(f"/repositories/{repo['id']}")
        assert by_id.status_code == 200 and by_id.json()["full_name"] == RENAMED
        # Gone for good: not found, by either name.
        fake_github.delete_repo(RENAMED)
        assert (await http.get(f"/repos/{ALPHA}")).status_code == 404
        assert (await http.get(f"/repos/{RENAMED}")).status_code == 404


@pytest.fixture
async def github_app(settings, fake_github: FakeGitHub) -> AsyncIterator[GitHubApp]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield GitHubApp(
            with_github(settings, fake_github, HOOKWISE_GITHUB_WRITE_INTERVAL=0.0).github, http
        )


async def test_a_301_is_followed_once_and_the_new_name_reported(
    github_app: GitHubApp, fake_github: FakeGitHub
) -> None:
    repo = fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.rename_repo(ALPHA, RENAMED)
    heard: list[tuple[int, str, str | None]] = []

    async def moved(github_id: int, full_name: str, url: str | None) -> None:
        heard.append((github_id, full_name, url))

    github_app.on_moved = moved
    api = await github_app.installation_api(INSTALLATION_ID)
    tip = await port(api, ALPHA).tip("main")
    assert tip["sha"] == fake_github.tip(RENAMED)
    made = await port(api, ALPHA).create_check_run({"name": "lint", "head_sha": tip["sha"]})
    assert fake_github.check_runs[int(made)].repo.full_name == RENAMED
    assert heard == [(repo["id"], RENAMED, f"{fake_github.url}/{RENAMED}")] * 2
    paths = [r.path for r in fake_github.requests if r.path.startswith(("/repos", "/repositor"))]
    assert paths == [
        f"/repos/{ALPHA}/commits/main",
        f"/repositories/{repo['id']}/commits/main",
        f"/repositories/{repo['id']}",
        f"/repos/{ALPHA}/check-runs",
        f"/repositories/{repo['id']}/check-runs",
        f"/repositories/{repo['id']}",
    ]


async def test_a_reconcile_by_the_old_name_follows_and_stores_the_new_one(
    settings, dsn, db: asyncpg.Connection, fake_github: FakeGitHub
) -> None:
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    open_pulls(fake_github, ALPHA, 2)
    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA)
        fake_github.rename_repo(ALPHA, RENAMED)  # and no webhook reaches hookwise
        code, _, err = await cli("reconcile", "--repo", ALPHA, dsn=dsn, fake=fake_github)
        assert code == 0, err
        await w.settle()
    row = await db.fetchrow(STORED)
    assert tuple(row) == (RENAMED, "octo-org", "alpha-two", "active")
    assert await db.fetchval("SELECT url FROM repositories") == f"{fake_github.url}/{RENAMED}"
    assert await db.fetchval("SELECT failure_count FROM repositories") == 0
    assert [(r["event_type"], r["status"]) for r in await own_events(db)] == [
        ("hookwise.backfill", "completed"),
        ("hookwise.reconcile", "completed"),
    ]


async def test_a_move_takes_the_new_url_from_the_repository_that_had_it(
    db: asyncpg.Connection,
) -> None:
    # Beta was deleted, and alpha renamed to its name, with neither webhook received.
    await db.execute(
        "INSERT INTO repositories (github_id, full_name, url) VALUES"
        " (1, 'octo-org/alpha', 'https://github.com/octo-org/alpha'),"
        " (2, 'octo-org/beta', 'https://github.com/octo-org/beta')"
    )
    url = "https://github.com/octo-org/beta"
    assert await repositories.moved(db, 1, "octo-org/beta", url)
    rows = await db.fetch("SELECT github_id, full_name, url FROM repositories ORDER BY github_id")
    assert [tuple(r) for r in rows] == [(1, "octo-org/beta", url), (2, "octo-org/beta", None)]
    assert not await repositories.moved(db, 1, "octo-org/beta", url)  # nothing left to change


def repository_event(fake: FakeGitHub, name: str, action: str, **more: Any) -> dict[str, Any]:
    return {
        "action": action,
        "repository": fake.repo_json(fake.repo(name), full=False),
        "installation": {"id": INSTALLATION_ID, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u"},
        "sender": {"login": "octocat", "id": 1, "type": "User"},
        **more,
    }


async def test_repository_events_keep_its_name_and_status(
    settings, dsn, db: asyncpg.Connection, fake_github: FakeGitHub
) -> None:
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA)
        fake_github.rename_repo(ALPHA, RENAMED)
        changes = {"repository": {"name": {"from": "alpha"}}}
        await w.deliver(
            "repository", repository_event(fake_github, RENAMED, "renamed", changes=changes)
        )
        assert tuple(await db.fetchrow(STORED)) == (RENAMED, "octo-org", "alpha-two", "active")

        fake_github.rename_repo(RENAMED, TRANSFERRED)
        owner = {"from": {"user": {"login": "octo-org", "id": 2, "type": "Organization"}}}
        event = repository_event(fake_github, TRANSFERRED, "transferred", changes={"owner": owner})
        await w.deliver("repository", event)
        assert tuple(await db.fetchrow(STORED)) == (TRANSFERRED, "new-org", "alpha", "active")
        url = await db.fetchval("SELECT url FROM repositories")
        assert url == f"{fake_github.url}/{TRANSFERRED}"

        fake_github.archive_repo(TRANSFERRED)
        await w.deliver("repository", repository_event(fake_github, TRANSFERRED, "archived"))
        assert (await db.fetchrow(STORED))["status"] == "archived"
        fake_github.archive_repo(TRANSFERRED, archived=False)
        await w.deliver("repository", repository_event(fake_github, TRANSFERRED, "unarchived"))
        assert (await db.fetchrow(STORED))["status"] == "active"

        event = repository_event(fake_github, TRANSFERRED, "deleted")
        fake_github.delete_repo(TRANSFERRED)
        await w.deliver("repository", event)
        row = await db.fetchrow("SELECT status::text, removed_at FROM repositories")
        assert row["status"] == "removed" and row["removed_at"] is not None
        statuses = await db.fetch(
            "SELECT status FROM integration_events WHERE event_type = 'repository'"
        )
        assert [r["status"] for r in statuses] == ["completed"] * 5
