"""Linear and GitHub end to end: the fake GitHub and the fake Linear deliver signed webhooks to
hookwise over HTTP, the real worker runs the real handlers, and what Linear is told lands on the
fake Linear."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app.serving import default_router
from app.settings import Settings
from app.store import events
from app.worker import Worker
from tests.conftest import INSTALLATION_ID, LINEAR_SECRET, with_github
from tests.fakes.github import FakeGitHub
from tests.fakes.linear import FakeLinear, Issue
from tests.harness import Running, running_hookwise

REPO = "octo-org/widgets"
FILES = {"login.py": "def login():\n    return None\n"}


@dataclass
class World:
    github: FakeGitHub
    linear: FakeLinear
    hookwise: Running
    worker: Worker
    db: asyncpg.Connection
    repo: dict[str, Any] = field(default_factory=dict)

    async def settle(self) -> None:
        await asyncio.wait_for(self.worker.idle(wake=True), 30)

    async def deliver_issue(self, issue: Issue, action: str, **changes: Any) -> None:
        """Linear tells hookwise about `issue` as it is now (data fields overridden by
        `changes`)."""
        payload = self.linear.issue_webhook(issue, action)
        payload["data"].update(changes)
        response = await self.linear.deliver(payload)
        # Linear asks for 200 (a new delivery and a repeated one alike).
        assert response.status_code == 200, response.text
        await self.settle()

    def open_pull(
        self, number: int, *, branch: str | None = None, title: str = "Update", body: str = ""
    ) -> dict[str, Any]:
        branch = branch or f"change-{number}"
        self.github.commit_files(REPO, branch, {f"f{number}.txt": f"{number}\n"})
        return self.github.add_pull(REPO, number, head_branch=branch, title=title, body=body)

    async def deliver_pull(
        self, pull: dict[str, Any], action: str, *, guid: str | None = None, **changes: Any
    ) -> dict[str, Any]:
        """A pull_request event for `pull` with `changes`, a moment newer than the last."""
        pull = pull | changes | {"updated_at": later(pull["updated_at"])}
        payload = {
            "action": action,
            "number": pull["number"],
            "pull_request": pull,
            "repository": self.repo,
            "installation": {"id": INSTALLATION_ID},
            "sender": pull["user"],
        }
        delivery = await self.github.deliver("pull_request", payload, guid=guid)
        assert delivery.status_code == 202, delivery
        await self.settle()
        return pull

    async def merge(self, pull: dict[str, Any], **more: Any) -> dict[str, Any]:
        at = later(pull["updated_at"])
        merged = {"state": "closed", "merged": True, "merged_at": at, "closed_at": at}
        return await self.deliver_pull(pull, "closed", **(merged | more))

    async def close(self, pull: dict[str, Any]) -> dict[str, Any]:
        at = later(pull["updated_at"])
        closed = {"state": "closed", "merged": False, "merged_at": None, "closed_at": at}
        return await self.deliver_pull(pull, "closed", **closed)

    async def replay_all(self) -> None:
        async with self.hookwise.ctx.pool.acquire() as conn:
            await events.replay(conn, events.Selection(status="completed"))
        await self.settle()

    async def links(self) -> set[tuple[int, str, str, str]]:
        rows = await self.db.fetch(
            "SELECT p.pr_number, i.identifier, k.kind, k.source FROM pr_links k"
            " JOIN pull_requests p ON p.id = k.pull_request_id"
            " JOIN linear_issues i ON i.id = k.linear_issue_id"
        )
        return {tuple(row) for row in rows}

    async def outbound(self) -> list[tuple[str, str, int]]:
        rows = await self.db.fetch(
            "SELECT kind, status, attempts FROM outbound_actions ORDER BY kind, idempotency_key"
        )
        return [tuple(row) for row in rows]


def later(stamp: str | None) -> str:
    """A GitHub timestamp a second after `stamp` (or now)."""
    moment = datetime.fromisoformat(stamp) if stamp else datetime.now(UTC)
    return (moment + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")


def linear_settings(settings: Settings, github: FakeGitHub, linear: FakeLinear | None, **more):
    values: dict[str, Any] = {"HOOKWISE_POLL_INTERVAL": 3600.0}
    if linear is not None:
        values |= {"LINEAR_API_KEY": linear.api_key, "LINEAR_API_URL": linear.url}
    return with_github(settings, github, **(values | more))


@asynccontextmanager
async def linear_world(
    settings: Settings,
    dsn: str,
    db: asyncpg.Connection,
    github: FakeGitHub,
    *,
    api: bool = True,
    **more: Any,
) -> AsyncIterator[World]:
    """The world; with api=False, hookwise has no Linear API key (links only, nothing sent)."""
    async with FakeLinear(webhook_secret=LINEAR_SECRET) as linear:
        github.add_repo(REPO, installation_id=INSTALLATION_ID, files=FILES)
        repo = github.repo_json(github.repo(REPO))
        configured = linear_settings(settings, github, linear if api else None, **more)
        async with running_hookwise(configured, dsn) as hookwise:
            github.hook_url = f"{hookwise.url}/webhooks/github"
            linear.hook_url = f"{hookwise.url}/webhooks/linear"
            worker = Worker(hookwise.ctx, default_router())
            task = asyncio.create_task(worker.run())
            try:
                yield World(github, linear, hookwise, worker, db, repo)
            finally:
                worker.stop()
                await task
