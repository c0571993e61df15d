"""Fix suggestions are anchored and posted against the same commit, and a review GitHub refuses
for some of its inline comments is posted without them, naming them (issue 16, item 8)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.github import FakeGitHub
from tests.reactions_world import ANALYSIS, HEAD_FILES, REPO, World, world_factory_for

REVIEWS = rf"/repos/{REPO}/pulls/7/reviews"
# Lines 2 and 6 of calc.py are changed by the pull request at the failing run's commit.
TWO_EDITS = ANALYSIS | {
    "edits": [
        {"path": "calc.py", "start_line": 2, "end_line": 2, "replacement": "    return a + b"},
        {"path": "calc.py", "start_line": 6, "end_line": 6, "replacement": "    return x / 2"},
    ]
}


@pytest.fixture
def world_factory(settings, dsn, fake_github: FakeGitHub) -> Any:
    return world_factory_for(settings, dsn, fake_github)


def suggestions(world: World) -> list[tuple[str, int, str]]:
    return sorted(
        (c.path, c.line, c.commit_id)
        for c in world.github.review_comments.values()
        if "suggestion" in c.body
    )


def fix_reviews(world: World) -> list[Any]:
    return [r for r in world.github.reviews.values() if "suggests a fix" in r.body]


async def test_a_fix_for_an_older_head_is_anchored_at_that_commit(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        failing = world.failed_check()
        run_head = failing["check_run"]["head_sha"]
        # Pushed after the run failed: calc.py grows, so its line 9 is in the PR's diff now,
        # but not in the diff at the failing run's commit, which the edits speak of.
        longer = HEAD_FILES["calc.py"] + "\n\ndef double(x):\n    return 2 * x\n"
        world.github.commit_files(REPO, "fix-calc", {"calc.py": longer}, message="More")
        line_9 = {"path": "calc.py", "start_line": 9, "end_line": 9, "replacement": "x"}
        world.model.reply_tool(
            "report_analysis", TWO_EDITS | {"edits": [*TWO_EDITS["edits"], line_9]}
        )
        await world.deliver("check_run", failing)

        assert suggestions(world) == [("calc.py", 2, run_head), ("calc.py", 6, run_head)]
        [review] = fix_reviews(world)
        assert review.commit_id == run_head
    row = await db.fetchrow("SELECT status, error_message FROM fix_attempts")
    assert row["status"] == "succeeded", row["error_message"]


async def test_inline_comments_github_refuses_are_left_out_and_named(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        world.model.reply_tool("report_analysis", TWO_EDITS)
        # GitHub refuses the review, then (asked comment by comment) the comment on line 2.
        world.github.fail("POST", REVIEWS, status=422, times=2)
        await world.deliver("check_run", world.failed_check())

        head = world.pull["head"]["sha"]
        assert suggestions(world) == [("calc.py", 6, head)]
        [review] = fix_reviews(world)
        assert review.state == "COMMENTED"
        assert "calc.py line 2" in review.body  # named in the summary, not lost silently
        # The comment-by-comment asking leaves nothing pending behind.
        assert all(r.state != "PENDING" for r in world.github.reviews.values())
    row = await db.fetchrow("SELECT status FROM fix_attempts")
    assert row["status"] == "succeeded"


async def test_a_review_github_refuses_a_comment_of_is_posted_without_it(world_factory) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        two = {"path": "calc.py", "body": "Look here."}
        answer = {"summary": "Two spots.", "comments": [two | {"line": 2}, two | {"line": 6}]}
        world.model.reply_tool("submit_review", answer)
        world.github.fail("POST", REVIEWS, status=422, times=2)
        await world.deliver("pull_request", world.pr_event("opened"))

        [review] = world.github.reviews.values()
        assert "calc.py line 2" in review.body and "Two spots." in review.body
        assert [(c.path, c.line) for c in world.github.review_comments.values()] == [("calc.py", 6)]
        [summary] = world.github.issue_comments.values()
        assert "1 comment." in summary.body


def padded(world: World) -> None:
    """305 files listed before calc.py: past the 300 GitHub lists of a comparison."""
    many = {f"assets/{n:03}.txt": f"{n}\n" for n in range(305)}
    world.github.commit_files(REPO, "fix-calc", many, message="Assets")
    world.pull = world.github.pull_json(world.github.repo(REPO).pulls[7])


def our_summary(world: World) -> str:
    [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
    return str(ours.output["summary"])


async def test_a_fix_past_the_comparisons_300_files_is_suggested_from_the_pull_listing(
    world_factory, db
) -> None:
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        padded(world)
        await world.deliver("pull_request", world.pr_event("opened"))
        world.model.reply_tool("report_analysis", ANALYSIS)
        await world.deliver("check_run", world.failed_check())

        assert suggestions(world) == [("calc.py", 2, world.pull["head"]["sha"])]
        assert "Suggested 1 change in a review." in our_summary(world)
    row = await db.fetchrow("SELECT status, error_message FROM fix_attempts")
    assert row["status"] == "succeeded", row["error_message"]


async def test_a_fix_past_the_listing_at_an_older_commit_says_so(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        padded(world)
        await world.deliver("pull_request", world.pr_event("opened"))
        failing = world.failed_check()
        run_head = failing["check_run"]["head_sha"]
        world.github.commit_files(REPO, "fix-calc", {"notes.md": "# Notes\n"}, message="More")
        world.model.reply_tool("report_analysis", ANALYSIS)
        await world.deliver("check_run", failing)

        assert suggestions(world) == []
        said = our_summary(world)
        assert (
            f"No suggestion: GitHub lists 300 files of this pull request's diff at {run_head[:7]}"
            " and stops there; calc.py, setup.py, which the edits change, are not among them."
            in said
        )
    row = await db.fetchrow("SELECT status, error_message FROM fix_attempts")
    assert row["status"] == "skipped" and "not among them" in row["error_message"]
