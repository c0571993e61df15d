"""What a review after a push looks at (issue 16, item 7): only the pull request's own changes
since the last review, the whole pull request when history was rewritten or the base came in;
never what the base branch changed, whose lines GitHub refuses (422) in a review of the PR."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.github import FakeGitHub
from tests.reactions_world import REPO, World, world_factory_for

UPSTREAM = {"upstream.py": "def upstream():\n    return 'from main'\n"}
# The model comments on a line of the upstream file: GitHub would refuse the whole review.
ON_UPSTREAM = {
    "summary": "Second look.",
    "comments": [
        {"path": "upstream.py", "line": 2, "body": "Not this PR's line."},
        {"path": "notes.md", "line": 1, "body": "A title."},
    ],
}


@pytest.fixture
def world_factory(settings, dsn, fake_github: FakeGitHub) -> Any:
    return world_factory_for(settings, dsn, fake_github)


async def first_review(world: World) -> None:
    world.model.reply_tool("submit_review", {"summary": "First look.", "comments": []})
    await world.deliver("pull_request", world.pr_event("opened"))


async def pushed(world: World) -> str:
    """The synchronize event for the PR's head now; the prompt the model was sent for it."""
    world.pull = world.github.pull_json(world.github.repo(REPO).pulls[7])
    world.model.reply_tool("submit_review", ON_UPSTREAM)
    await world.deliver("pull_request", world.pr_event("synchronize"))
    assert len(world.model.calls) == 2
    return world.model.calls[1]["messages"][0]["content"]


def posted_comments(world: World) -> list[tuple[str, int]]:
    return sorted((c.path, c.line) for c in world.github.review_comments.values())


async def test_after_a_rebase_the_whole_pull_request_is_reviewed_not_main(world_factory) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        await first_review(world)
        world.github.commit_files(REPO, "main", UPSTREAM, message="Upstream work")
        world.github.commit_files(REPO, "fix-calc", {"notes.md": "# Notes\n"}, message="Notes")
        world.github.rebase_branch(REPO, "fix-calc", onto="main")
        prompt = await pushed(world)

        assert "### upstream.py" not in prompt
        assert "### calc.py" in prompt and "### notes.md" in prompt  # the whole PR again
        assert posted_comments(world) == [("notes.md", 1)]
        assert len(world.github.reviews) == 2


async def test_after_merging_main_in_the_whole_pull_request_is_reviewed(world_factory) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        await first_review(world)
        world.github.commit_files(REPO, "main", UPSTREAM, message="Upstream work")
        world.github.commit_files(REPO, "fix-calc", {"notes.md": "# Notes\n"}, message="Notes")
        world.github.merge_branch(REPO, "fix-calc", "main")
        prompt = await pushed(world)

        assert "### upstream.py" not in prompt
        assert "### calc.py" in prompt and "### notes.md" in prompt
        assert posted_comments(world) == [("notes.md", 1)]


async def test_a_plain_push_is_reviewed_for_what_it_adds(world_factory) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        await first_review(world)
        world.github.commit_files(REPO, "main", UPSTREAM, message="Upstream work")  # not merged
        world.github.commit_files(REPO, "fix-calc", {"notes.md": "# Notes\n"}, message="Notes")
        prompt = await pushed(world)

        assert "### notes.md" in prompt
        assert "### calc.py" not in prompt and "### upstream.py" not in prompt
        assert posted_comments(world) == [("notes.md", 1)]


async def test_a_push_past_what_github_lists_of_a_comparison_is_reviewed_whole(
    world_factory, db
) -> None:
    """GitHub lists 300 files of a comparison at most and does not say it cut there: a push of
    more is reviewed as the whole pull request, so notes.md, listed after 300 others, is seen."""
    async with world_factory(HOOKWISE_FIX=False) as world:
        await first_review(world)
        generated = {f"gen/{n:03}.txt": f"{n}\n" for n in range(305)}
        world.github.commit_files(REPO, "fix-calc", generated | {"notes.md": "# Notes\n"})
        prompt = await pushed(world)

        assert "### notes.md" in prompt and "### calc.py" in prompt
        assert posted_comments(world) == [("notes.md", 1)]
    said = await db.fetchval(
        "SELECT message FROM execution_logs WHERE step_name = 'diff'"
        " ORDER BY created_at DESC LIMIT 1"
    )
    assert said.startswith("the whole pull request: 300 files or more changed since")
