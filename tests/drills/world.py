"""A repository of pull requests on the fake GitHub that hookwise reacts to, for the drills that
count what lands there: each pull request gets a review and a summary comment when opened, and
its failing check gets our check run and a review suggesting the fix.

The ideas are tests/stories/test_reactions.py's World, for many pull requests at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.conftest import INSTALLATION_ID
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.github import FakeGitHub
from tests.reactions_world import ANALYSIS, BASE_FILES, HEAD_FILES, LOG, REPO, REVIEW

CHECK = "tests"


def answer(request: dict[str, Any]) -> dict[str, Any] | None:
    """The fake model's answer to whichever tool hookwise forces."""
    tool = (request.get("tool_choice") or {}).get("name")
    return {"submit_review": REVIEW, "report_analysis": ANALYSIS}.get(tool)


@dataclass
class Pulls:
    """`count` open pull requests, each on its own branch and head commit."""

    github: FakeGitHub
    count: int

    def __post_init__(self) -> None:
        github = self.github
        github.add_repo(REPO, installation_id=INSTALLATION_ID, files=BASE_FILES)
        for number in self.numbers:
            # A message of its own: the same tree and parent would give every branch one sha.
            github.commit_files(REPO, f"pr-{number}", HEAD_FILES, message=f"Rework calc #{number}")
            github.add_pull(REPO, number, head_branch=f"pr-{number}", title=f"Rework #{number}")
        self.repo = github.repo_json(github.repo(REPO))

    @property
    def numbers(self) -> range:
        return range(1, self.count + 1)

    def opened(self, number: int) -> dict[str, Any]:
        pull = self.github.pull_json(self.github.repo(REPO).pulls[number])
        return {
            "action": "opened",
            "number": number,
            "pull_request": pull,
            "repository": self.repo,
            "installation": {"id": INSTALLATION_ID},
            "sender": pull["user"],
        }

    def failed_check(self, number: int) -> dict[str, Any]:
        """A failing GitHub Actions check on the pull request's head, with its job and log."""
        github = self.github
        head = github.repo(REPO).pulls[number].head_sha
        run_id, job_id = 10_000 + number, 20_000 + number
        run = github.add_check_run(
            REPO,
            head,
            name=CHECK,
            details_url=f"{github.url}/{REPO}/actions/runs/{run_id}/job/{job_id}",
        )
        github.add_actions_job(
            REPO, run_id=run_id, job_id=job_id, name=CHECK, check_run_id=run["id"], log=LOG
        )
        return {
            "action": "completed",
            "check_run": run,
            "repository": self.repo,
            "installation": {"id": INSTALLATION_ID},
            "sender": {"login": "github-actions[bot]", "type": "Bot"},
        }


def effects(github: FakeGitHub) -> Counter[tuple[str, int | str]]:
    """What hookwise left on the fake GitHub, by kind and pull request (or head commit)."""
    landed: Counter[tuple[str, int | str]] = Counter()
    for review in github.reviews.values():
        kind = "fix review" if "suggests a fix" in review.body else "review"
        landed[(kind, review.number)] += 1
    for comment in github.issue_comments.values():
        landed[("summary comment", comment.number)] += 1
    for run in github.check_runs.values():
        if run.name.startswith("hookwise: "):
            landed[("check run", run.head_sha)] += 1
    return landed


def expected(pulls: Pulls, *, checks: bool) -> Counter[tuple[str, int | str]]:
    """Exactly one of each effect per pull request."""
    wanted: Counter[tuple[str, int | str]] = Counter()
    for number in pulls.numbers:
        wanted[("review", number)] = 1
        wanted[("summary comment", number)] = 1
        if checks:
            wanted[("fix review", number)] = 1
            wanted[("check run", pulls.github.repo(REPO).pulls[number].head_sha)] = 1
    return wanted


def model_for(model: FakeAnthropic) -> FakeAnthropic:
    model.responder = answer
    return model
