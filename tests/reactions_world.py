"""The world the reaction tests run in: the fake GitHub and Anthropic over HTTP, hookwise's web
app, and the real worker (started at once, or when the test says)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.serving import default_router
from app.settings import Settings
from app.store import events
from app.worker import Worker
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.github import FakeGitHub
from tests.harness import Running, running_hookwise

REPO = "octo-org/widgets"
LOG = (Path(__file__).parent / "data" / "logs" / "pytest_assert.log").read_text()
BASE_FILES = {"calc.py": "def add(a, b):\n    return a + b\n\n\ndef half(x):\n    return x / 2\n"}
HEAD_FILES = {
    "calc.py": "def add(a, b):\n    return a - b\n\n\ndef half(x):\n    return x // 2\n",
    "test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
}
REVIEW = {
    "summary": "add() subtracts.",
    "comments": [
        {"path": "calc.py", "line": 2, "body": "This subtracts; add() should add."},
        {"path": "calc.py", "line": 40, "body": "No such line in the diff."},
        {"path": "README.md", "line": 1, "body": "Not a file of this PR."},
    ],
}
ANALYSIS = {
    "category": "test",
    "confidence": 0.9,
    "root_cause": "add() subtracts its arguments.",
    "recommended_action": "Make add() return a + b.",
    "fixable": True,
    "edits": [
        {"path": "calc.py", "start_line": 2, "end_line": 2, "replacement": "    return a + b"},
        {"path": "setup.py", "start_line": 1, "end_line": 1, "replacement": "x"},
    ],
}


@dataclass
class World:
    github: FakeGitHub
    model: FakeAnthropic
    hookwise: Running
    worker: Worker
    pull: dict[str, Any]
    repo: dict[str, Any]
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the worker (once)."""
        if self.task is None:
            self.task = asyncio.create_task(self.worker.run())

    async def store(self, event: str, payload: dict[str, Any]) -> None:
        """Deliver and have it stored, without waiting for the worker."""
        delivery = await self.github.deliver(event, payload)
        assert delivery.status_code == 202, delivery

    async def settle(self) -> None:
        self.start()
        await asyncio.wait_for(self.worker.idle(wake=True), 60)

    async def deliver(self, event: str, payload: dict[str, Any]) -> None:
        await self.store(event, payload)
        await self.settle()

    def pr_event(self, action: str) -> dict[str, Any]:
        return {
            "action": action,
            "number": self.pull["number"],
            "pull_request": self.pull,
            "repository": self.repo,
            "installation": {"id": INSTALLATION_ID},
            "sender": self.pull["user"],
        }

    def failed_check(self, *, name: str = "tests") -> dict[str, Any]:
        head = self.pull["head"]["sha"]
        run = self.github.add_check_run(
            REPO,
            head,
            name=name,
            details_url=f"{self.github.url}/{REPO}/actions/runs/555/job/777",
        )
        self.github.add_actions_job(
            REPO, run_id=555, job_id=777, name=name, check_run_id=run["id"], log=LOG
        )
        return {
            "action": "completed",
            "check_run": run,
            "repository": self.repo,
            "installation": {"id": INSTALLATION_ID},
            "sender": {"login": "github-actions[bot]", "type": "Bot"},
        }

    async def replay_all(self) -> None:
        async with self.hookwise.ctx.pool.acquire() as conn:
            await events.replay(conn, events.Selection(status="completed"))
        await self.settle()


def ai_settings(settings: Settings, github: FakeGitHub, model: FakeAnthropic, **more: Any):
    values = {
        "ANTHROPIC_API_KEY": model.api_key,
        "ANTHROPIC_BASE_URL": model.url,
        "HOOKWISE_ANTHROPIC_RETRY_SECONDS": 0.01,
        "HOOKWISE_REVIEW": True,
        "HOOKWISE_FIX": True,
        "HOOKWISE_POLL_INTERVAL": 3600.0,
    }
    return with_github(settings, github, **(values | more))


def world_factory_for(settings: Settings, dsn: str, fake_github: FakeGitHub) -> Any:
    """The body of each test module's `world_factory` fixture: build(**settings) opens a world."""

    @asynccontextmanager
    async def build(
        *, fork: bool = False, executable: tuple[str, ...] = (), start: bool = True, **more: Any
    ) -> AsyncIterator[World]:
        async with FakeAnthropic() as model:
            fake_github.add_repo(REPO, installation_id=INSTALLATION_ID, files=BASE_FILES)
            fake_github.commit_files(
                REPO, "fix-calc", HEAD_FILES, message="Rework calc", executable=executable
            )
            pull = fake_github.add_pull(
                REPO, 7, head_branch="fix-calc", title="Rework calc", fork=fork
            )
            repo = fake_github.repo_json(fake_github.repo(REPO))
            configured = ai_settings(settings, fake_github, model, **more)
            async with running_hookwise(configured, dsn) as hookwise:
                fake_github.hook_url = f"{hookwise.url}/webhooks/github"
                worker = Worker(hookwise.ctx, default_router())
                world = World(fake_github, model, hookwise, worker, pull, repo)
                if start:
                    world.start()
                try:
                    yield world
                finally:
                    worker.stop()
                    if world.task is not None:
                        await world.task

    return build
