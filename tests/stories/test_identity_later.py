"""A rate limit on GET /app at start-up (issue 16, item 14): serve and worker start without the
App's identity and ask again in the background; the admin's pages say GitHub asks to wait; and an
event that could be our own never starts a reaction while who we are is unknown."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import pytest

from app.context import open_context
from tests.admin_support import log_in, with_admin
from tests.conftest import with_github
from tests.fakes.github import FakeGitHub
from tests.harness import running_hookwise
from tests.reactions_world import world_factory_for


def rate_limited(fake: FakeGitHub, path: str, *, seconds: int, method: str = "GET") -> None:
    """GitHub's primary limit on the App: 403, X-RateLimit-Remaining 0, reset in `seconds`."""
    reset = str(int(time.time()) + seconds)
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    fake.fail(method, path, status=403, headers=headers)


async def test_start_goes_on_and_asks_who_we_are_again(settings, dsn, fake_github) -> None:
    rate_limited(fake_github, "/app", seconds=1)
    async with open_context(with_github(settings, fake_github), dsn) as ctx:
        assert ctx.github is not None and ctx.github.identity is None
        identity = await asyncio.wait_for(ctx.github.identified(), 15)
        assert identity.slug == "hookwise-test"
    asked = [r.status for r in fake_github.requests if r.path == "/app"]
    assert asked == [403, 200]


@pytest.fixture
def world_factory(settings, dsn, fake_github: FakeGitHub) -> Any:
    return world_factory_for(settings, dsn, fake_github)


async def test_an_event_that_may_be_our_own_waits_until_we_know(
    world_factory, db: asyncpg.Connection, fake_github: FakeGitHub
) -> None:
    rate_limited(fake_github, "/app", seconds=3600)
    async with world_factory(HOOKWISE_FIX=False) as world:
        assert world.hookwise.ctx.github.identity is None
        ours = world.pr_event("opened") | {"sender": fake_github.bot_user()}
        await world.deliver("pull_request", ours)
        assert world.model.calls == []
        row = await db.fetchrow(
            "SELECT status, attempts, run_after > now() AS later FROM integration_events"
        )
        assert (row["status"], row["attempts"], row["later"]) == ("pending", 0, True)
        assert await db.fetchval("SELECT count(*) FROM workflow_executions") == 0


async def test_the_redeliver_page_says_github_asks_to_wait(
    settings, dsn, fake_github: FakeGitHub
) -> None:
    configured = with_github(with_admin(settings), fake_github)
    async with (
        running_hookwise(configured, dsn) as admin,
        httpx.AsyncClient(base_url=admin.url) as client,
    ):
        await log_in(client)
        rate_limited(fake_github, "/app/hook/deliveries", seconds=600)
        page = await client.get("/admin/redeliver", params={"since": "1h"})
        assert page.status_code == 503
        assert "GitHub asks to wait until" in page.text
