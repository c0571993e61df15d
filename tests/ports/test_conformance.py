"""The in-memory GitHub answers as the HTTP one: the same operations, the same results.

One script of RepoPort operations (app/clients/github_port.py) runs against the in-memory port
(tests/ports/github_memory.py) and against HttpRepoPort over gidgethub and real sockets to the
HTTP fake GitHub (tests/fakes/github.py, itself checked against GitHub's OpenAPI description).
Both worlds are set up alike; every answer (timestamps aside) and every error (its class, status
and reason, a rate limit's time) must be the same.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.clients.errors import RateLimited, Refused, RemoteError, Unavailable
from app.clients.github import GitHubApp
from app.clients.github_port import HttpPorts, RepoPort
from app.metrics import Metrics
from app.settings import Settings
from app.setup import PERMISSIONS
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.github import FakeGitHub
from tests.fakes.github_repos import RepoState
from tests.ports.github_memory import MemoryGitHub

REPO = "octo-org/widgets"
HIDDEN = "someone/secret"  # private, another installation's: 404 to ours
BASE = {"calc.py": "def add(a, b):\n    return a + b\n", "docs/guide.md": "# Guide\n"}
HEAD = {"calc.py": "def add(a, b):\n    return a - b\n", "test_calc.py": "assert True\n"}
LOG = "##[group]Run pytest\nFAILED test_calc.py::test_add\n##[error]Process completed with exit 1."
# Commit times from here on, one second apart, in both worlds: the same commits, the same shas.
EPOCH = 2_000_000_000
TIMESTAMP = re.compile(r"_at$|^date$")

Fail = Callable[[int, dict[str, str]], None]


def seed(github: RepoState) -> dict[str, Any]:
    github._commit_time = EPOCH
    github.add_repo(REPO, installation_id=INSTALLATION_ID, files=BASE)
    github.commit_files(REPO, "fix-calc", HEAD, message="Rework calc")
    pull = github.add_pull(REPO, 7, head_branch="fix-calc", title="Rework calc")
    run = github.add_check_run(
        REPO,
        pull["head"]["sha"],
        name="tests",
        details_url=f"{github.url}/{REPO}/actions/runs/555/job/777",
        annotations=[
            {
                "path": "calc.py",
                "start_line": 2,
                "end_line": 2,
                "annotation_level": "failure",
                "message": "assert 0 == 4",
            }
        ],
    )
    github.add_actions_job(
        REPO, run_id=555, job_id=777, name="tests", check_run_id=run["id"], log=LOG
    )
    github.add_repo(HIDDEN, installation_id=INSTALLATION_ID + 1, private=True, files=BASE)
    return {"head": pull["head"]["sha"], "run": run["id"]}


async def outcome(call: Awaitable[Any]) -> Any:
    """The answer without its timestamps, or the error as what a reaction can tell of it."""
    try:
        return comparable(await call)
    except RateLimited as exc:
        return ("RateLimited", exc.service, exc.until)
    except Refused as exc:
        return ("Refused", exc.status, str(exc))
    except Unavailable as exc:
        return ("Unavailable", str(exc))
    except RemoteError as exc:  # pragma: no cover - a new kind would show here
        return (type(exc).__name__, str(exc))


def comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if not TIMESTAMP.search(k)}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


async def script(
    github: RepoPort, hidden: RepoPort, fail: Fail, seeded: dict[str, Any], reset: int
) -> list:
    """Every operation of the port, the happy path and GitHub's refusals; `reset` is the primary
    rate limit's reset (epoch seconds), the same for both scripts compared: each computing its
    own differed when the two ran on either side of a second's end."""
    head, run = seeded["head"], seeded["run"]
    said: list[Any] = []

    async def see(call: Awaitable[Any]) -> Any:
        said.append(await outcome(call))
        return said[-1]

    # Pull requests and diffs.
    await see(github.pull_files(7))
    await see(github.pull(7))
    await see(github.pull(99))
    await see(github.compare("main", head))
    await see(github.compare(head, "main"))
    await see(github.compare("main", "no-such-branch"))
    await see(github.open_pulls())
    # Contents and git data.
    await see(github.contents("calc.py"))
    await see(github.contents("calc.py", "fix-calc"))
    await see(github.contents("docs"))
    await see(github.contents("nowhere.txt"))
    await see(github.default_branch())
    tip = await see(github.tip("fix-calc"))
    commit = await see(github.git_commit(head))
    await see(github.git_commit("0" * 40))
    await see(github.git_tree(commit["tree"]["sha"]))
    edit = [{"path": "calc.py", "mode": "100644", "type": "blob", "content": "fixed\n"}]
    tree = await see(github.create_tree(commit["tree"]["sha"], edit))
    await see(github.create_tree("f" * 40, edit))
    made = await see(github.create_commit("Fix calc", tree, [tip["sha"]]))
    await see(github.create_commit("Fix calc", "f" * 40, [tip["sha"]]))
    await see(github.move_branch("fix-calc", made))
    await see(github.move_branch("fix-calc", head))  # not a fast forward
    await see(github.move_branch("no-such-branch", made))
    # Reviews: placed, refused for a line outside the diff, pending and deleted, found again.
    comment = {"path": "calc.py", "line": 2, "side": "RIGHT", "body": "subtracts"}
    review = {"commit_id": head, "body": "ok <!-- r -->", "event": "COMMENT"}
    posted = await see(github.create_review(7, {**review, "comments": [comment]}))
    await see(github.create_review(7, {**review, "comments": [{**comment, "line": 40}]}))
    await see(github.create_review(7, {**review, "comments": [{**comment, "path": "x.py"}]}))
    await see(github.create_review(7, {"commit_id": "0" * 40, "body": "x", "event": "COMMENT"}))
    pending = await see(github.create_review(7, {"commit_id": head, "comments": [comment]}))
    await see(github.create_review(7, {"commit_id": head, "comments": [comment]}))
    await see(github.delete_pending_reviews(7))
    await see(github.delete_review(7, pending))
    await see(github.delete_review(7, posted))
    await see(github.find_review(7, "<!-- r -->"))
    await see(github.find_review(7, "<!-- nothing -->"))
    # Issue comments.
    said_id = await see(github.create_comment(7, "summary <!-- s -->"))
    await see(github.create_comment(7, "x" * 70_000))
    await see(github.create_comment(99, "nowhere"))
    await see(github.update_comment(said_id, "summary, again <!-- s -->"))
    await see(github.update_comment("999", "nowhere"))
    await see(github.find_comment(7, "<!-- s -->"))
    await see(github.find_comment(7, "<!-- nothing -->"))
    # Labels, people, the pull request's state.
    await see(github.add_labels(7, ["bug", "ci"]))
    await see(github.add_labels(7, ["bug"]))
    await see(github.remove_label(7, "ci"))
    await see(github.remove_label(7, "never-there"))
    await see(github.request_reviewers(7, ["octocat"], []))
    await see(github.request_reviewers(7, ["stranger"], []))
    await see(github.add_assignees(7, ["octocat", "stranger"]))
    await see(github.permission("stranger"))
    # Check runs, annotations, Actions jobs and their logs.
    await see(github.check_run(run))
    await see(github.check_run(1))
    await see(github.check_runs_for(head, "tests"))
    await see(github.check_runs_for("fix-calc", "tests", filter="latest"))
    await see(github.check_runs_for("0" * 40, "tests"))
    await see(github.annotations(run))
    await see(github.run_jobs("555"))
    await see(github.run_jobs("556"))
    await see(github.job_log(777))
    await see(github.job_log(778))
    ours = {
        "name": "hookwise: tests",
        "head_sha": head,
        "status": "completed",
        "conclusion": "neutral",
        "external_id": str(run),
        "output": {"title": "Analysed", "summary": "add() subtracts"},
        "actions": [{"label": "Re-analyse", "description": "Again", "identifier": "reanalyse"}],
    }
    mine = await see(github.create_check_run(ours))
    await see(github.create_check_run({**ours, "head_sha": "0" * 40}))
    await see(github.update_check_run(mine, {"output": {"summary": "again"}}))
    await see(github.update_check_run(str(run), {"output": {"summary": "not ours"}}))
    await see(github.check_runs_for(head, "hookwise: tests"))
    await see(github.close_pull(7))
    await see(github.pull(7))
    # What the token cannot see or do.
    await see(hidden.pull_files(7))
    await see(hidden.contents("calc.py"))
    # GitHub's own troubles: a primary rate limit, a secondary one, an outage.
    fail(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
    await see(github.pull(7))
    fail(403, {"retry-after": "120"})
    limited = await see(github.default_branch())
    fail(502, {})
    await see(github.pull_files(7))
    said[said.index(limited)] = ("RateLimited", limited[1])  # the time is now + 120 s
    return said


@pytest.fixture
async def http_ports(settings: Settings, fake_github: FakeGitHub) -> AsyncIterator[HttpPorts]:
    async with httpx.AsyncClient() as http:
        app = GitHubApp(with_github(settings, fake_github).github, http, metrics=Metrics())
        yield HttpPorts(app)


async def test_the_memory_port_answers_as_the_http_fake_does(
    http_ports: HttpPorts, fake_github: FakeGitHub
) -> None:
    memory = MemoryGitHub(url=fake_github.url)
    memory.add_installation(INSTALLATION_ID, permissions=PERMISSIONS)

    def fail_http(status: int, headers: dict[str, str]) -> None:
        # The client tries a 5xx three times before it gives up.
        fake_github.fail(
            "GET", r".*", status=status, headers=headers, times=3 if status > 500 else 1
        )

    def fail_memory(status: int, headers: dict[str, str]) -> None:
        memory.fail(status, headers=headers)

    reset = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp())
    over_http = await script(
        await http_ports.repo_port(INSTALLATION_ID, REPO),
        await http_ports.repo_port(INSTALLATION_ID, HIDDEN),
        fail_http,
        seed(fake_github),
        reset,
    )
    in_memory = await script(
        await memory.repo_port(INSTALLATION_ID, REPO),
        await memory.repo_port(INSTALLATION_ID, HIDDEN),
        fail_memory,
        seed(memory),
        reset,
    )

    for step, (http_said, memory_said) in enumerate(zip(over_http, in_memory, strict=True)):
        assert memory_said == http_said, f"operation {step} of the script"
    # The script meets each kind of answer, so the comparison covers them.
    kinds = {said[0] if isinstance(said, tuple) else "answer" for said in over_http}
    assert kinds == {"answer", "Refused", "RateLimited", "Unavailable"}
    assert {said[1] for said in over_http if isinstance(said, tuple) and said[0] == "Refused"} == {
        403,
        404,
        422,
    }


async def test_long_listings_are_read_whole_or_cut_where_github_cuts_them(
    http_ports: HttpPorts, fake_github: FakeGitHub
) -> None:
    """Check runs of a commit come in pages of 100 at most, which the port follows; a
    comparison lists 300 files ("up to 300 changed files for the entire comparison") and a
    pull request 3,000 ("Responses include a maximum of 3000 files"), GitHub's REST reference.
    """
    memory = MemoryGitHub(url=fake_github.url)
    memory.add_installation(INSTALLATION_ID, permissions=PERMISSIONS)
    heard: list[tuple[Any, ...]] = []
    for world in (fake_github, memory):
        head = seed(world)["head"]
        for _ in range(105):
            world.add_check_run(REPO, head, name="lint")
        world.commit_files(REPO, "big", {f"gen/{n:04}.txt": f"{n}\n" for n in range(3005)})
        world.add_pull(REPO, 8, head_branch="big")
    for ports in (http_ports, memory):
        github = await ports.repo_port(INSTALLATION_ID, REPO)
        runs = await github.check_runs_for(head, "lint")
        compared = await github.compare_files("main", "big")
        listed = await github.pull_files(8)
        heard.append((len(runs), len(compared), len(listed), comparable(listed[-1])))
    over_http, in_memory = heard
    assert over_http[:3] == (105, 300, 3000)
    assert in_memory == over_http
