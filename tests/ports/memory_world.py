"""The world the reaction tests of tests/ports/ run in: GitHub in memory (MemoryGitHub), the real
store (embedded PostgreSQL), the fake Anthropic API, and the runner that runs executions.

No webhook, no worker, no HTTP to GitHub: the state handlers store what an event says, as the
worker would, then one execution is started, claimed and run by app/reactions/runner.execute,
which answers its outcome (completed, failed, rescheduled …). What lands on MemoryGitHub is
what a user would see on GitHub.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app.context import Context, open_context
from app.handlers import check_runs, installations, pull_requests, repositories
from app.reactions import runner
from app.router import EventRow, HandlerContext, Router
from app.settings import Settings
from app.setup import PERMISSIONS
from app.store import executions, reviews
from app.store.executions import Start
from app.workflows.builtins import subject_of
from tests.conftest import INSTALLATION_ID
from tests.fakes.anthropic import FakeAnthropic
from tests.ports.github_memory import MemoryGitHub
from tests.reactions_world import BASE_FILES, HEAD_FILES, LOG, REPO

STATE = Router(installations.router, repositories.router, pull_requests.router, check_runs.router)
LOGGER = logging.LoggerAdapter(logging.getLogger("tests.ports"), {})


@dataclass
class MemoryWorld:
    github: MemoryGitHub
    model: FakeAnthropic
    app: Context
    pull: dict[str, Any]
    repo: dict[str, Any]

    async def store(self, event: str, payload: dict[str, Any]) -> None:
        """The state handlers' part of an event, in one transaction, as the worker runs it."""
        action = payload.get("action")
        row = EventRow(
            id=uuid.uuid4(),
            source="github",
            event_type=event,
            action=action,
            delivery_id=str(uuid.uuid4()),
            hook_id="1",
            attempts=1,
            received_at=datetime.now(UTC),
            arrival=0,
        )
        async with self.app.pool.acquire() as conn, conn.transaction():
            for handler in STATE.handlers_for("github", event, action):
                await handler(HandlerContext(row, payload, conn, self.app, LOGGER))

    async def react(self, workflow: str, payload: dict[str, Any], *, key: str = "") -> str:
        """Start `workflow` for the stored pull request with `payload`, claim it, run it; the
        runner's outcome."""
        async with self.app.pool.acquire() as conn:
            stored = await reviews.pull_request(conn, self.pull["id"])
            assert stored is not None, "store() the pull request first"
            await executions.start(
                conn,
                Start(
                    workflow=workflow,
                    key=key or f"{workflow}:{uuid.uuid4()}",
                    subject=subject_of(stored.id),
                    subject_label=f"{REPO}#{self.pull['number']}",
                    payload=payload,
                    pull_request_id=stored.id,
                    installation_id=INSTALLATION_ID,
                ),
            )
            execution = await executions.claim(conn, lease=60.0)
        assert execution is not None
        return await runner.execute(self.app, execution, LOGGER)

    def pr_event(self, action: str) -> dict[str, Any]:
        return {
            "action": action,
            "number": self.pull["number"],
            "pull_request": self.pull,
            "repository": self.repo,
            "installation": {"id": INSTALLATION_ID},
            "sender": self.pull["user"],
        }

    def failed_check(self, *, name: str = "tests", head: str | None = None) -> dict[str, Any]:
        """A failing GitHub Actions check run on the head (or `head`), with its job's log."""
        head = head or self.pull["head"]["sha"]
        jobs = len(self.github.jobs)
        run = self.github.add_check_run(
            REPO,
            head,
            name=name,
            details_url=f"{self.github.url}/{REPO}/actions/runs/{555 + jobs}/job/{777 + jobs}",
        )
        self.github.add_actions_job(
            REPO,
            run_id=555 + jobs,
            job_id=777 + jobs,
            name=name,
            check_run_id=run["id"],
            log=LOG,
        )
        return {
            "action": "completed",
            "check_run": run,
            "repository": self.repo,
            "installation": {"id": INSTALLATION_ID},
            "sender": {"login": "github-actions[bot]", "type": "Bot"},
        }


def model_settings(settings: Settings, model: FakeAnthropic, **more: Any) -> Settings:
    """`settings` with the fake Anthropic API and the reactions on, `more` by environment name;
    no GitHub App (its port is the in-memory one)."""
    values: dict[str, Any] = {
        "ANTHROPIC_API_KEY": model.api_key,
        "ANTHROPIC_BASE_URL": model.url,
        "HOOKWISE_ANTHROPIC_RETRY_SECONDS": 0.01,
        "HOOKWISE_REVIEW": True,
        "HOOKWISE_FIX": True,
    }
    return settings.with_env(**(values | more))


@asynccontextmanager
async def memory_world(
    settings: Settings,
    dsn: str,
    *,
    fork: bool = False,
    permissions: dict[str, str] | None = None,
    **more: Any,
) -> AsyncIterator[MemoryWorld]:
    """A repository with pull request #7 (BASE_FILES, then HEAD_FILES on fix-calc), stored."""
    github = MemoryGitHub()
    github.add_installation(INSTALLATION_ID, permissions=permissions or PERMISSIONS)
    github.add_repo(REPO, installation_id=INSTALLATION_ID, files=BASE_FILES)
    github.commit_files(REPO, "fix-calc", HEAD_FILES, message="Rework calc")
    pull = github.add_pull(REPO, 7, head_branch="fix-calc", title="Rework calc", fork=fork)
    repo = github.repo_json(github.repo(REPO))
    async with (
        FakeAnthropic() as model,
        open_context(model_settings(settings, model, **more), dsn) as app,
    ):
        world = MemoryWorld(github, model, replace(app, ports=github), pull, repo)
        await world.store("pull_request", world.pr_event("opened"))
        yield world


async def rows(conn: asyncpg.Connection, query: str) -> list[tuple[Any, ...]]:
    return [tuple(record) for record in await conn.fetch(query)]
