"""The README's cookbook, as a user would copy it: its five workflows declared verbatim from
README.md, each run once per trigger (redelivered and replayed events run nothing again),
with what a user sees on the fake GitHub and in workflow_executions."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app import operate
from app.store import linear_issues
from app.store.linear_issues import LinearIssue
from tests.conftest import INSTALLATION_ID
from tests.fakes.github import FakeGitHub
from tests.reactions_world import REPO, World, world_factory_for
from tests.stories.test_workflows import declare

README = Path(__file__).parents[2] / "README.md"


def cookbook() -> str:
    """The YAML block after "A cookbook:" in the README."""
    text = README.read_text()
    found = re.search(r"A cookbook:\n\n```yaml\n(.*?)```", text, re.S)
    assert found is not None, "the README has no cookbook"
    return found[1]


@pytest.fixture
def world_factory(settings, dsn, fake_github: FakeGitHub) -> Any:
    return world_factory_for(settings, dsn, fake_github)


def event(world: World, action: str, number: int) -> dict[str, Any]:
    pull = world.github.repo(REPO).pulls[number]
    return {
        "action": action,
        "number": number,
        "pull_request": world.github.pull_json(pull),
        "repository": world.repo,
        "installation": {"id": INSTALLATION_ID},
        "sender": pull.user,
    }


async def again(world: World) -> None:
    """The last delivery redelivered by GitHub, then every event replayed from /admin's CLI."""
    last = world.github.deliveries[-1]
    answer = await world.github.deliver(last.event, last.payload, guid=last.guid)
    assert answer.status_code == 200
    await world.replay_all()


def checks(world: World, name: str) -> list[Any]:
    return [r for r in world.github.check_runs.values() if r.name == f"hookwise / {name}"]


async def runs(db, name: str) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT e.trigger_type, e.status FROM workflow_executions e"
        " JOIN workflows w ON w.id = e.workflow_id WHERE w.name = $1 ORDER BY e.seq",
        f"{REPO}:{name}",
    )
    return [(r["trigger_type"], r["status"]) for r in rows]


async def test_each_cookbook_workflow_runs_once_per_trigger(world_factory, db, dsn) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        github, repo = world.github, world.github.repo(REPO)
        await declare(world, cookbook())
        [declared] = checks(world, "workflows")
        assert declared.conclusion == "success", declared.output

        # A first-time contributor's pull request that changes the docs, with no description.
        github.commit_files(REPO, "guide", {"docs/guide.md": "# Guide\n", "README.md": "hi\n"})
        github.add_pull(REPO, 8, head_branch="guide", title="Add a guide", user_login="newcomer")
        repo.pulls[8].author_association = "FIRST_TIME_CONTRIBUTOR"
        # A stale one, with nothing happening for months.
        github.commit_files(REPO, "old", {"old.txt": "old\n"})
        github.add_pull(REPO, 9, head_branch="old", title="Old idea")
        repo.pulls[9].updated_at = "2020-01-01T00:00:00Z"

        await world.deliver("pull_request", event(world, "opened", 8))
        await again(world)
        pull = repo.pulls[8]
        assert sorted(pull.labels) == ["documentation", "first-contribution"]
        [welcome] = [c for c in github.issue_comments.values() if c.body.startswith("Welcome")]
        assert welcome.body.startswith(
            "Welcome @newcomer, and thank you for Add a guide! A maintainer will look soon."
        )
        [size] = checks(world, "size")
        assert (size.head_sha, size.conclusion) == (pull.head_sha, "success")
        [linked] = checks(world, "linked issue")
        assert linked.conclusion == "failure"
        assert "no linked Linear issue" in linked.output["summary"]
        assert "the description is empty" in linked.output["summary"]

        # The author names a Linear issue hookwise knows: the gate turns green on the same head.
        await linear_issues.upsert(
            db,
            LinearIssue(
                id="issue-1",
                identifier="ENG-1",
                title="Write a guide",
                team_id="team-1",
                team_key="ENG",
                state_id="state-1",
                state_name="In Progress",
                state_type="started",
                url="https://linear.app/acme/issue/ENG-1",
                linear_updated_at=datetime(2026, 1, 1, tzinfo=UTC),
            ),
        )
        pull.body = "Fixes ENG-1"
        await world.deliver("pull_request", event(world, "edited", 8))
        await again(world)
        [linked] = checks(world, "linked issue")
        assert linked.conclusion == "success", linked.output

        # New commits: each pull request workflow whose `on:` names synchronize runs once more.
        github.commit_files(REPO, "guide", {"docs/more.md": "more\n"})
        await world.deliver("pull_request", event(world, "synchronize", 8))
        await again(world)
        assert sorted(pull.labels) == ["documentation", "first-contribution"]
        assert [r.head_sha for r in checks(world, "size")][-1] == pull.head_sha
        assert len([c for c in github.issue_comments.values() if "Welcome" in c.body]) == 1

        # Stale pull requests: by hand (the schedule's slot is tested in test_workflows.py).
        said = await operate.run_workflow(dsn, "close-stale", pull=None, repo=REPO)
        assert said.startswith(f"started {REPO}:close-stale on {REPO}")
        await world.settle()
        assert (repo.pulls[8].state, repo.pulls[9].state) == ("open", "closed")
        [notice] = [c for c in github.issue_comments.values() if "30 days" in c.body]
        assert notice.number == 9
        await operate.run_workflow(dsn, "close-stale", pull=None, repo=REPO)
        await world.settle()
        assert len([c for c in github.issue_comments.values() if "30 days" in c.body]) == 1

    assert await runs(db, "label-docs") == [("event", "completed")] * 2
    assert await runs(db, "welcome") == [("event", "completed")]
    assert await runs(db, "size-gate") == [("event", "completed")] * 2
    assert await runs(db, "linked-issue") == [("event", "completed")] * 3
    assert await runs(db, "close-stale") == [("manual", "completed")] * 2
