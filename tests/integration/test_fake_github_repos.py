"""The fake GitHub's repository side: diffs, reviews, comments, contents, checks, logs, git data."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gidgethub import BadRequest
from gidgethub.httpx import GitHubAPI

from tests.fakes.github import APP_PERMISSIONS, FakeGitHub
from tests.integration.test_fake_github import issue_token

REPO = "octo-org/widgets"
LINES = "".join(f"line {n}\n" for n in range(1, 41))
REVIEW_DOCS = "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub() as fake:
        fake.add_installation(7, permissions={**APP_PERMISSIONS, "contents": "write"})
        fake.add_repo(REPO, installation_id=7, files={"app.py": LINES, "README.md": "# Widgets\n"})
        yield fake


@pytest.fixture
async def client(github: FakeGitHub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=github.url, timeout=10) as plain:
        token = await issue_token(github, plain, 7)
    headers = {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
    async with httpx.AsyncClient(base_url=github.url, headers=headers, timeout=10) as client:
        yield client


def blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


def open_pull(github: FakeGitHub, **kwargs: Any) -> dict[str, Any]:
    """PR #1 in three hunks of app.py: line 5 changed, line 20 removed, a line added after 35
    (new line 35); and new.txt added."""
    changed = LINES.replace("line 5\n", "line five\n").replace("line 20\n", "")
    changed = changed.replace("line 35\n", "line 35\nline 35b\n")
    github.commit_files(REPO, "fix", {"app.py": changed, "new.txt": "new\n"}, message="Fix")
    return github.add_pull(REPO, 1, head_branch="fix", **kwargs)


# Pull requests and their diffs


async def test_pull_files_are_paged_with_githubs_patch_text(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    many = {f"docs/page{n:02}.md": f"page {n}\n" for n in range(33)}
    github.commit_files(REPO, "docs", {**many, "README.md": None, "logo.png": "\x89PNG\0"})
    github.commit_files(REPO, "docs", {"app.py": LINES.replace("line 5\n", "line five\n")})
    pull = github.add_pull(REPO, 2, head_branch="docs", title="Docs")

    response = await client.get(f"/repos/{REPO}/pulls/2")
    assert response.status_code == 200
    got = response.json()
    assert got["head"]["sha"] == pull["head"]["sha"] == github.tip(REPO, "docs")
    assert got["base"]["sha"] == github.tip(REPO)
    assert (got["commits"], got["changed_files"], got["additions"], got["deletions"]) == (
        2,
        36,
        34,
        2,
    )
    assert got["head"]["repo"]["fork"] is False

    first = await client.get(f"/repos/{REPO}/pulls/2/files")
    assert len(first.json()) == 30
    assert set(first.links) == {"next", "last"}
    second = await client.get(first.links["next"]["url"])
    assert len(second.json()) == 6
    assert set(second.links) == {"prev", "first"}
    files = {f["filename"]: f for f in first.json() + second.json()}
    assert files["app.py"] == {
        "sha": blob_sha(LINES.replace("line 5\n", "line five\n")),
        "filename": "app.py",
        "status": "modified",
        "additions": 1,
        "deletions": 1,
        "changes": 2,
        "blob_url": f"{github.url}/{REPO}/blob/{got['head']['sha']}/app.py",
        "raw_url": f"{github.url}/{REPO}/raw/{got['head']['sha']}/app.py",
        "contents_url": f"{github.url}/repos/{REPO}/contents/app.py?ref={got['head']['sha']}",
        "patch": "@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n"
        " line 6\n line 7\n line 8",
    }
    readme = files["README.md"]
    assert (readme["status"], readme["deletions"], readme["patch"]) == (
        "removed",
        1,
        "@@ -1 +0,0 @@\n-# Widgets",
    )
    assert files["docs/page07.md"]["patch"] == "@@ -0,0 +1 @@\n+page 7"
    assert files["logo.png"]["status"] == "added"
    assert "patch" not in files["logo.png"]

    everything = await client.get(f"/repos/{REPO}/pulls/2/files?per_page=1000")
    assert len(everything.json()) == 36  # GitHub caps per_page at 100
    commits = await client.get(f"/repos/{REPO}/pulls/2/commits")
    assert [c["sha"] for c in commits.json()][-1] == got["head"]["sha"]


async def test_set_binary_hides_the_patch_and_a_missing_newline_is_marked(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.commit_files(REPO, "b", {"data.csv": "a,b\n", "tail.txt": "no newline"})
    github.set_binary(REPO, "data.csv")
    github.add_pull(REPO, 3, head_branch="b")
    files = {f["filename"]: f for f in (await client.get(f"/repos/{REPO}/pulls/3/files")).json()}
    assert "patch" not in files["data.csv"]
    assert files["data.csv"]["changes"] == 0
    assert files["tail.txt"]["patch"] == "@@ -0,0 +1 @@\n+no newline\n\\ No newline at end of file"


async def test_a_file_moved_unchanged_is_one_renamed_entry(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.commit_files(REPO, "mv", {"README.md": None, "docs/README.md": "# Widgets\n"})
    github.add_pull(REPO, 4, head_branch="mv")
    [moved] = (await client.get(f"/repos/{REPO}/pulls/4/files")).json()
    assert moved["filename"] == "docs/README.md" and moved["previous_filename"] == "README.md"
    assert (moved["status"], moved["changes"]) == ("renamed", 0)
    assert "patch" not in moved
    pull = (await client.get(f"/repos/{REPO}/pulls/4")).json()
    assert pull["changed_files"] == 1


async def test_the_files_of_a_pull_request_stop_at_3000_its_counts_do_not(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.commit_files(REPO, "big", {f"gen/{n:04}.txt": f"{n}\n" for n in range(3005)})
    github.add_pull(REPO, 5, head_branch="big")
    pull = (await client.get(f"/repos/{REPO}/pulls/5")).json()
    assert (pull["changed_files"], pull["additions"]) == (3005, 3005)
    last = await client.get(f"/repos/{REPO}/pulls/5/files?per_page=100&page=30")
    assert len(last.json()) == 100 and "next" not in last.links
    beyond = await client.get(f"/repos/{REPO}/pulls/5/files?per_page=100&page=31")
    assert beyond.json() == []


async def test_compare_shows_only_what_changed_since_a_commit(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    first = github.commit_files(REPO, "fix", {"a.txt": "a\n"})
    github.commit_files(REPO, "fix", {"b.txt": "b\n"})
    response = await client.get(f"/repos/{REPO}/compare/{first}...fix")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["ahead_by"], body["behind_by"]) == ("ahead", 1, 0)
    assert [f["filename"] for f in body["files"]] == ["b.txt"]
    assert body["files"][0]["patch"] == "@@ -0,0 +1 @@\n+b"
    assert body["merge_base_commit"]["sha"] == first
    missing = await client.get(f"/repos/{REPO}/compare/{first}...nope")
    assert missing.status_code == 404


async def test_compare_lists_300_files_and_250_commits_as_github_does(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    """GitHub's REST reference, "Compare two commits": without per_page or page "the returned
    list is limited to 250 commits, and the last commit in the list is the most recent"; with
    them "The list of changed files is only shown on the first page of results, and it includes
    up to 300 changed files for the entire comparison"."""
    start = github.tip(REPO, "main")
    shas = [github.commit_files(REPO, "big", {f"gen/{n:03}.txt": f"{n}\n"}) for n in range(255)]
    github.commit_files(REPO, "big", {f"more/{n:02}.txt": f"{n}\n" for n in range(50)})
    whole = (await client.get(f"/repos/{REPO}/compare/{start}...big")).json()
    assert (whole["ahead_by"], whole["total_commits"]) == (256, 256)
    assert [c["sha"] for c in whole["commits"]] == [*shas[6:], github.tip(REPO, "big")]
    assert [f["filename"] for f in whole["files"]] == [f"gen/{n:03}.txt" for n in range(255)] + [
        f"more/{n:02}.txt" for n in range(45)
    ]
    first = await client.get(f"/repos/{REPO}/compare/{start}...big?per_page=100")
    assert [c["sha"] for c in first.json()["commits"]] == shas[:100]
    assert len(first.json()["files"]) == 300 and "next" in first.links
    last = await client.get(first.links["last"]["url"])
    assert len(last.json()["commits"]) == 56 and last.json()["files"] == []


async def test_gidgethub_reads_pages_and_gets_404(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    open_pull(github)
    token = client.headers["authorization"].removeprefix("token ")
    async with httpx.AsyncClient(timeout=10) as http:
        gh = GitHubAPI(http, "hookwise-test", oauth_token=token, base_url=github.url)
        files = [f async for f in gh.getiter(f"/repos/{REPO}/pulls/1/files?per_page=1")]
        assert [f["filename"] for f in files] == ["app.py", "new.txt"]
        runs = await gh.getitem(f"/repos/{REPO}/commits/fix/check-runs")
        assert runs == {"total_count": 0, "check_runs": []}
        with pytest.raises(BadRequest) as missing:
            await gh.getitem(f"/repos/{REPO}/contents/.github/hookwise.yml?ref=fix")
        assert missing.value.status_code == 404


async def test_open_pulls_are_listed_newest_first_in_pages_and_closing_shows(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.max_per_page = 2
    for number in (1, 2, 3):
        github.commit_files(REPO, f"b{number}", {f"f{number}.txt": "x\n"})
        github.add_pull(REPO, number, head_branch=f"b{number}")
    github.close_pull(REPO, 2, merged=True)

    first = await client.get(f"/repos/{REPO}/pulls", params={"per_page": 100})
    assert [p["number"] for p in first.json()] == [3, 1]
    assert "next" not in first.links
    assert "merged" not in first.json()[0]  # a single pull request's field only
    everything = await client.get(f"/repos/{REPO}/pulls", params={"state": "all"})
    assert [p["number"] for p in everything.json()] == [3, 2]
    rest = await client.get(everything.links["next"]["url"])
    assert [p["number"] for p in rest.json()] == [1]

    merged = (await client.get(f"/repos/{REPO}/pulls/2")).json()
    assert (merged["state"], merged["merged"]) == ("closed", True)
    assert merged["merged_at"] == merged["closed_at"] == merged["updated_at"]
    refused = await client.get(f"/repos/{REPO}/pulls", params={"state": "merged"})
    assert refused.status_code == 422
    assert github.take_violations() == [
        f"GET /repos/{REPO}/pulls: pulls/list: query parameter state invalid at $:"
        " 'merged' is not one of ['open', 'closed', 'all']"
    ]
    with pytest.raises(ValueError, match="no open pull request #2"):
        github.close_pull(REPO, 2)


# Reviews and comments


async def test_a_review_anchored_in_the_diff_is_posted(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    pull = open_pull(github)
    comments = [
        {"path": "app.py", "line": 5, "body": "```suggestion\nline 5\n```"},  # added
        {"path": "app.py", "line": 8, "side": "RIGHT", "body": "context"},
        {"path": "app.py", "line": 20, "side": "LEFT", "body": "why remove it?"},
        {"path": "app.py", "start_line": 17, "line": 19, "body": "these three"},
        {"path": "app.py", "line": 35, "body": "added line"},
        {"path": "new.txt", "line": 1, "body": "new file"},
    ]
    response = await client.post(
        f"/repos/{REPO}/pulls/1/reviews",
        json={
            "commit_id": pull["head"]["sha"],
            "body": "Summary",
            "event": "COMMENT",
            "comments": comments,
        },
    )
    assert response.status_code == 200, response.text
    review = response.json()
    assert review["user"]["login"] == "hookwise-test[bot]"
    assert review["user"]["type"] == "Bot"
    assert (review["state"], review["body"], review["commit_id"]) == (
        "COMMENTED",
        "Summary",
        pull["head"]["sha"],
    )
    assert review["html_url"] == f"{github.url}/{REPO}/pull/1#pullrequestreview-{review['id']}"
    assert review["submitted_at"].endswith("Z")

    listed = await client.get(f"/repos/{REPO}/pulls/1/reviews")
    assert [r["id"] for r in listed.json()] == [review["id"]]
    posted = (await client.get(f"/repos/{REPO}/pulls/1/comments")).json()
    assert [(c["path"], c["line"], c["side"], c["start_line"]) for c in posted] == [
        ("app.py", 5, "RIGHT", None),
        ("app.py", 8, "RIGHT", None),
        ("app.py", 20, "LEFT", None),
        ("app.py", 19, "RIGHT", 17),
        ("app.py", 35, "RIGHT", None),
        ("new.txt", 1, "RIGHT", None),
    ]
    assert {c["pull_request_review_id"] for c in posted} == {review["id"]}
    assert posted[0]["diff_hunk"] == (
        "@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five"
    )
    assert posted[0]["body"].startswith("```suggestion")


@pytest.mark.parametrize(
    ("comment", "error"),
    [
        pytest.param({"path": "app.py", "line": 1}, "Line could not be resolved", id="outside"),
        pytest.param(
            {"path": "app.py", "line": 32, "side": "LEFT"},
            "Line could not be resolved",
            id="wrong-side",
        ),
        pytest.param(
            {"path": "app.py", "line": 12, "side": "RIGHT"},
            "Line could not be resolved",
            id="between-hunks",
        ),
        pytest.param({"path": "README.md", "line": 1}, "Path could not be resolved", id="path"),
        pytest.param(
            {"path": "app.py", "line": 5, "body": "x" * 65_537},
            "Body is too long (maximum is 65536 characters)",
            id="comment-too-long",
        ),
    ],
)
async def test_one_bad_anchor_refuses_the_whole_review(
    github: FakeGitHub, client: httpx.AsyncClient, comment: dict[str, Any], error: str
) -> None:
    open_pull(github)
    good = {"path": "app.py", "line": 5, "body": "fine"}
    response = await client.post(
        f"/repos/{REPO}/pulls/1/reviews",
        json={"event": "COMMENT", "body": "Summary", "comments": [good, {"body": "b", **comment}]},
    )
    assert response.status_code == 422
    assert response.json() == {
        "message": "Unprocessable Entity",
        "errors": [error],
        "documentation_url": REVIEW_DOCS,
        "status": "422",
    }
    assert github.reviews == {}
    assert github.review_comments == {}
    assert (await client.get(f"/repos/{REPO}/pulls/1/reviews")).json() == []


async def test_a_review_body_over_githubs_limit_is_refused(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    open_pull(github)
    path = f"/repos/{REPO}/pulls/1/reviews"
    too_long = await client.post(path, json={"event": "COMMENT", "body": "x" * 65_537})
    assert too_long.status_code == 422
    assert too_long.json()["errors"] == ["Body is too long (maximum is 65536 characters)"]
    at_limit = await client.post(path, json={"event": "COMMENT", "body": "x" * 65_536})
    assert at_limit.status_code == 200
    unknown = await client.post(f"/repos/{REPO}/pulls/9/reviews", json={"event": "COMMENT"})
    assert unknown.status_code == 404


async def test_issue_comments_are_created_edited_and_listed(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    open_pull(github)
    created = await client.post(f"/repos/{REPO}/issues/1/comments", json={"body": "Summary v1"})
    assert created.status_code == 201
    comment = created.json()
    assert comment["user"]["login"] == "hookwise-test[bot]"
    assert comment["html_url"] == f"{github.url}/{REPO}/pull/1#issuecomment-{comment['id']}"
    assert comment["created_at"] == comment["updated_at"]

    edited = await client.patch(
        f"/repos/{REPO}/issues/comments/{comment['id']}", json={"body": "Summary v2"}
    )
    assert (edited.status_code, edited.json()["body"]) == (200, "Summary v2")
    for n in range(2):
        await client.post(f"/repos/{REPO}/issues/1/comments", json={"body": f"more {n}"})
    page = await client.get(f"/repos/{REPO}/issues/1/comments?per_page=2")
    assert [c["body"] for c in page.json()] == ["Summary v2", "more 0"]
    assert "next" in page.links

    too_long = await client.post(f"/repos/{REPO}/issues/1/comments", json={"body": "x" * 65_537})
    assert too_long.status_code == 422
    assert too_long.json()["message"] == "Validation Failed"
    assert too_long.json()["errors"][0]["message"] == (
        "Body is too long (maximum is 65536 characters)"
    )
    missing = await client.patch(f"/repos/{REPO}/issues/comments/1", json={"body": "x"})
    assert missing.status_code == 404
    assert len(github.issue_comments) == 3


# Contents


async def test_contents_round_trip_base64_and_404(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    text = "x = 1\n" * 40 + "é\n"
    sha = github.commit_files(REPO, "cfg", {".github/hookwise.yml": text})
    for ref in ("cfg", sha, sha[:10]):
        response = await client.get(f"/repos/{REPO}/contents/.github/hookwise.yml?ref={ref}")
        assert response.status_code == 200, ref
        body = response.json()
        assert (body["type"], body["encoding"], body["path"], body["name"]) == (
            "file",
            "base64",
            ".github/hookwise.yml",
            "hookwise.yml",
        )
        assert body["sha"] == blob_sha(text)
        assert body["size"] == len(text.encode())
        lines = body["content"].split("\n")
        assert lines[-1] == "" and all(len(line) <= 60 for line in lines)
        assert len(lines[0]) == 60
        assert base64.b64decode(body["content"]).decode() == text

    on_main = await client.get(f"/repos/{REPO}/contents/.github/hookwise.yml")
    assert on_main.status_code == 404
    assert on_main.json()["message"] == "Not Found"
    bad_ref = await client.get(f"/repos/{REPO}/contents/app.py?ref=nope")
    assert (bad_ref.status_code, bad_ref.json()["message"]) == (
        404,
        "No commit found for the ref nope",
    )
    listing = await client.get(f"/repos/{REPO}/contents/.github?ref=cfg")
    assert [(e["type"], e["path"]) for e in listing.json()] == [("file", ".github/hookwise.yml")]
    assert github.file_at(REPO, ".github/hookwise.yml", ref="cfg") == text


async def test_repositories_outside_the_installation_are_hidden_or_read_only(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    github.add_installation(8, account_login="other")
    github.add_repo("other/secret", installation_id=8, private=True, files={"a": "a\n"})
    github.add_repo("other/open", installation_id=8, files={"a": "a\n"})
    for path in ("/repos/other/secret", "/repos/other/secret/contents/a", "/repos/nobody/x"):
        response = await client.get(path)
        assert (response.status_code, response.json()["message"]) == (404, "Not Found")
    assert (await client.get("/repos/other/open/contents/a")).status_code == 200
    write = await client.post("/repos/other/open/git/blobs", json={"content": "x"})
    assert (write.status_code, write.json()["message"]) == (
        403,
        "Resource not accessible by integration",
    )
    listed = await client.get("/installation/repositories")
    assert [r["full_name"] for r in listed.json()["repositories"]] == [REPO]
    assert listed.json()["total_count"] == 1
    no_token = await client.get(f"/repos/{REPO}", headers={"Authorization": ""})
    assert no_token.status_code == 401


# Check runs


async def test_check_runs_are_created_updated_and_annotated(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    sha = github.commit_files(REPO, "fix", {"a.txt": "a\n"})
    github.add_pull(REPO, 1, head_branch="fix")
    actions = [
        {"label": "Apply fix", "description": "Commit the proposed fix", "identifier": "apply"},
        {"label": "Re-analyse", "description": "Analyse the failure again", "identifier": "redo"},
    ]
    created = await client.post(
        f"/repos/{REPO}/check-runs",
        json={
            "name": "hookwise",
            "head_sha": sha,
            "status": "in_progress",
            "output": {"title": "Analysing", "summary": "Reading the log"},
            "actions": actions,
        },
    )
    assert created.status_code == 201, created.text
    run = created.json()
    assert (run["app"]["id"], run["app"]["slug"]) == (4242, "hookwise-test")
    assert (run["status"], run["conclusion"], run["head_sha"]) == ("in_progress", None, sha)
    assert [p["number"] for p in run["pull_requests"]] == [1]
    assert github.check_runs[run["id"]].actions == actions

    annotation = {
        "path": "a.txt",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "failure",
        "message": "boom",
    }
    for n in range(2):
        patched = await client.patch(
            f"/repos/{REPO}/check-runs/{run['id']}",
            json={
                "conclusion": "neutral",
                "output": {
                    "title": "Pre-existing",
                    "summary": f"pass {n}",
                    "annotations": [annotation] * 30,
                },
            },
        )
        assert patched.status_code == 200, patched.text
    done = (await client.get(f"/repos/{REPO}/check-runs/{run['id']}")).json()
    assert (done["status"], done["conclusion"]) == ("completed", "neutral")
    assert done["output"]["summary"] == "pass 1"
    assert done["output"]["annotations_count"] == 60
    page = await client.get(f"/repos/{REPO}/check-runs/{run['id']}/annotations?per_page=50")
    assert len(page.json()) == 50
    assert page.json()[0]["message"] == "boom"
    assert page.json()[0]["blob_href"] == f"{github.url}/{REPO}/blob/{sha}/a.txt"
    assert "next" in page.links

    github.add_check_run(REPO, sha, name="tests", conclusion="failure")
    listed = await client.get(f"/repos/{REPO}/commits/fix/check-runs?check_name=tests")
    assert listed.json()["total_count"] == 1
    [theirs] = listed.json()["check_runs"]
    assert (theirs["app"]["slug"], theirs["conclusion"]) == ("github-actions", "failure")
    refused = await client.patch(
        f"/repos/{REPO}/check-runs/{theirs['id']}", json={"conclusion": "success"}
    )
    assert refused.status_code == 403
    assert "can only be modified by the GitHub App that created it" in refused.json()["message"]
    everything = await client.get(f"/repos/{REPO}/commits/{sha}/check-runs")
    assert [r["name"] for r in everything.json()["check_runs"]] == ["tests", "hookwise"]


async def test_another_apps_check_run_finishes_without_a_webhook(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    run = github.add_check_run(REPO, "main", name="build", status="in_progress")
    assert (run["status"], run["conclusion"], run["completed_at"]) == ("in_progress", None, None)
    github.finish_check_run(run["id"], conclusion="failure")
    got = (await client.get(f"/repos/{REPO}/check-runs/{run['id']}")).json()
    assert (got["status"], got["conclusion"]) == ("completed", "failure")
    assert got["completed_at"] is not None
    assert github.deliveries == []
    with pytest.raises(ValueError, match="completed already"):
        github.finish_check_run(run["id"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"actions": [{"label": "a", "description": "d", "identifier": "i"}] * 4},
            "Invalid request.\n\nNo more than 3 items are allowed; 4 were supplied.",
            id="four-actions",
        ),
        pytest.param(
            {"actions": [{"label": "L" * 21, "description": "d", "identifier": "i"}]},
            "Invalid request.\n\nOnly 20 characters are allowed; 21 were supplied.",
            id="long-label",
        ),
        pytest.param(
            {"actions": [{"label": "l", "description": "D" * 41, "identifier": "i"}]},
            "Invalid request.\n\nOnly 40 characters are allowed; 41 were supplied.",
            id="long-description",
        ),
        pytest.param(
            {"output": {"title": "t", "summary": "s" * 65_536}},
            "Invalid request.\n\nOnly 65535 characters are allowed; 65536 were supplied.",
            id="long-summary",
        ),
        pytest.param(
            {"head_sha": "0" * 40},
            f"No commit found for SHA: {'0' * 40}",
            id="unknown-sha",
        ),
        pytest.param(
            {"status": "completed"},
            'Invalid request.\n\nNo subschema in "anyOf" matched.\n"conclusion" wasn\'t supplied.',
            id="no-conclusion",
        ),
    ],
)
async def test_check_runs_are_validated_like_github(
    github: FakeGitHub, client: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    body = {"name": "hookwise", "head_sha": github.tip(REPO), **change}
    response = await client.post(f"/repos/{REPO}/check-runs", json=body)
    assert (response.status_code, response.json()["message"]) == (422, message)
    assert github.check_runs == {}
    # The limits GitHub's description states, the contract check finds too.
    broken = github.take_violations()
    stated = "actions" in change or "output" in change
    assert len(broken) == stated
    assert all(f"POST /repos/{REPO}/check-runs: checks/create: request body" in v for v in broken)


# Actions jobs and their logs


async def test_job_logs_redirect_to_a_link_that_expires(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    sha = github.commit_files(REPO, "fix", {"a.txt": "a\n"})
    run = github.add_check_run(REPO, sha, name="test (3.12)")
    log = "2024-05-01T10:00:00.0000000Z ##[error]Process completed with exit code 1.\n"
    github.add_actions_job(
        REPO, run_id=77, job_id=501, name="test (3.12)", check_run_id=run["id"], log=log
    )
    github.add_actions_job(REPO, run_id=77, job_id=502, name="lint", check_run_id=1, log="ok")

    jobs = await client.get(f"/repos/{REPO}/actions/runs/77/jobs")
    assert jobs.json()["total_count"] == 2
    [job] = [j for j in jobs.json()["jobs"] if j["check_run_url"].endswith(f"/{run['id']}")]
    assert job["check_run_url"] == f"{github.url}/repos/{REPO}/check-runs/{run['id']}"
    assert (job["id"], job["run_id"], job["conclusion"], job["head_sha"]) == (
        501,
        77,
        "failure",
        sha,
    )
    assert (await client.get(f"/repos/{REPO}/actions/runs/78/jobs")).status_code == 404

    redirect = await client.get(f"/repos/{REPO}/actions/jobs/501/logs")
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location.startswith(f"{github.url}/_blobs/logs/")
    [signed] = github.signed_urls.values()
    assert (signed.url, signed.job_id) == (location, 501)

    used = github.rate_used
    async with httpx.AsyncClient(timeout=10) as anonymous:
        fetched = await anonymous.get(location)
        assert (fetched.status_code, fetched.text) == (200, log)
        assert fetched.headers["content-type"].startswith("text/plain")
        assert "x-ratelimit-remaining" not in fetched.headers
        assert github.rate_used == used

        github.expire_blobs()
        expired = await anonymous.get(location)
        assert expired.status_code == 403
        assert "<Code>AuthenticationFailed</Code>" in expired.text
        unknown = await anonymous.get(f"{github.url}/_blobs/logs/nope")
        assert unknown.status_code == 404

    fresh = await client.get(f"/repos/{REPO}/actions/jobs/501/logs", follow_redirects=True)
    assert (fresh.status_code, fresh.text) == (200, log)
    assert (await client.get(f"/repos/{REPO}/actions/jobs/999/logs")).status_code == 404


# Git data


async def commit_through_git_data(
    client: httpx.AsyncClient, branch: str, files: dict[str, str], *, parent: str | None = None
) -> str:
    """Create a commit on top of `parent` (the branch tip unless given) as a fix would be."""
    if parent is None:
        ref = await client.get(f"/repos/{REPO}/git/ref/heads/{branch}")
        assert ref.status_code == 200, ref.text
        parent = ref.json()["object"]["sha"]
    commit = (await client.get(f"/repos/{REPO}/git/commits/{parent}")).json()
    tree = []
    for path, content in files.items():
        blob = await client.post(f"/repos/{REPO}/git/blobs", json={"content": content})
        assert blob.status_code == 201, blob.text
        tree.append({"path": path, "mode": "100644", "type": "blob", "sha": blob.json()["sha"]})
    new_tree = await client.post(
        f"/repos/{REPO}/git/trees", json={"base_tree": commit["tree"]["sha"], "tree": tree}
    )
    assert new_tree.status_code == 201, new_tree.text
    created = await client.post(
        f"/repos/{REPO}/git/commits",
        json={"message": "Fix", "tree": new_tree.json()["sha"], "parents": [parent]},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["sha"])


async def test_a_git_data_commit_fast_forwards_the_branch(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    open_pull(github)
    before = github.tip(REPO, "fix")
    sha = await commit_through_git_data(client, "fix", {"app.py": "fixed\n", "src/x.py": "x\n"})
    assert github.tip(REPO, "fix") == before  # nothing moves until the ref does

    moved = await client.patch(f"/repos/{REPO}/git/refs/heads/fix", json={"sha": sha})
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "ref": "refs/heads/fix",
        "node_id": moved.json()["node_id"],
        "url": f"{github.url}/repos/{REPO}/git/refs/heads/fix",
        "object": {
            "sha": sha,
            "type": "commit",
            "url": f"{github.url}/repos/{REPO}/git/commits/{sha}",
        },
    }
    contents = (await client.get(f"/repos/{REPO}/contents/app.py?ref={sha}")).json()
    assert base64.b64decode(contents["content"]) == b"fixed\n"
    commit = (await client.get(f"/repos/{REPO}/git/commits/{sha}")).json()
    assert [p["sha"] for p in commit["parents"]] == [before]
    assert commit["author"]["name"] == "hookwise-test[bot]"
    assert commit["verification"]["verified"] is True
    tree = (await client.get(f"/repos/{REPO}/git/trees/{sha}?recursive=1")).json()
    assert [(e["path"], e["type"]) for e in tree["tree"]] == [
        ("README.md", "blob"),
        ("app.py", "blob"),
        ("new.txt", "blob"),
        ("src", "tree"),
        ("src/x.py", "blob"),
    ]
    top = (await client.get(f"/repos/{REPO}/git/trees/{commit['tree']['sha']}")).json()
    assert [e["path"] for e in top["tree"]] == ["README.md", "app.py", "new.txt", "src"]

    pull = (await client.get(f"/repos/{REPO}/pulls/1")).json()
    assert pull["head"]["sha"] == sha
    branch = (await client.get(f"/repos/{REPO}/branches/fix")).json()
    assert branch["commit"]["sha"] == sha
    rest = (await client.get(f"/repos/{REPO}/commits/fix")).json()
    assert rest["commit"]["tree"]["sha"] == commit["tree"]["sha"]
    assert [f["filename"] for f in rest["files"]] == ["app.py", "src/x.py"]


async def test_a_non_fast_forward_update_is_refused(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    open_pull(github)
    tip = github.tip(REPO, "fix")
    sideways = await commit_through_git_data(
        client, "fix", {"app.py": "other\n"}, parent=github.tip(REPO)
    )
    for force in ({}, {"force": False}):
        refused = await client.patch(
            f"/repos/{REPO}/git/refs/heads/fix", json={"sha": sideways, **force}
        )
        assert refused.status_code == 422
        assert refused.json()["message"] == "Update is not a fast forward"
    assert github.tip(REPO, "fix") == tip
    forced = await client.patch(
        f"/repos/{REPO}/git/refs/heads/fix", json={"sha": sideways, "force": True}
    )
    assert forced.status_code == 200
    assert github.tip(REPO, "fix") == sideways
    missing = await client.patch(f"/repos/{REPO}/git/refs/heads/nope", json={"sha": sideways})
    assert (missing.status_code, missing.json()["message"]) == (422, "Reference does not exist")


async def test_workflow_files_need_the_workflows_permission(
    github: FakeGitHub, client: httpx.AsyncClient
) -> None:
    sha = await commit_through_git_data(client, "main", {".github/workflows/ci.yml": "on: push\n"})
    refused = await client.patch(f"/repos/{REPO}/git/refs/heads/main", json={"sha": sha})
    assert refused.status_code == 403
    assert "`.github/workflows/ci.yml` without `workflows` permission" in refused.json()["message"]


async def test_git_writes_need_contents_write(github: FakeGitHub) -> None:
    github.add_installation(9, account_login="readers")
    github.add_repo("readers/lib", installation_id=9, files={"a": "a\n"})
    async with httpx.AsyncClient(base_url=github.url) as client:
        auth = {"Authorization": f"token {await issue_token(github, client, 9)}"}
        assert (await client.get("/repos/readers/lib/git/ref/heads/main", headers=auth)).is_success
        blob = await client.post(
            "/repos/readers/lib/git/blobs", json={"content": "x"}, headers=auth
        )
    assert (blob.status_code, blob.json()["message"]) == (
        403,
        "Resource not accessible by integration",
    )


async def test_pushing_to_a_fork_is_refused(github: FakeGitHub, client: httpx.AsyncClient) -> None:
    pull = open_pull(github, fork=True)
    head, base = pull["head"], pull["base"]
    assert head["repo"]["full_name"] == "forker/widgets"
    assert head["repo"]["fork"] is True
    assert head["repo"]["id"] != base["repo"]["id"]
    assert head["label"] == "forker:fix"

    # The head commit is readable through the base repository, as GitHub's fork network allows.
    config = await client.get(f"/repos/{REPO}/contents/new.txt?ref={head['sha']}")
    assert config.status_code == 200
    files = await client.get(f"/repos/{REPO}/pulls/1/files")
    assert [f["filename"] for f in files.json()] == ["app.py", "new.txt"]

    fork = "/repos/forker/widgets"
    assert (await client.get(f"{fork}/git/ref/heads/fix")).status_code == 200  # public: readable
    blob = await client.post(f"{fork}/git/blobs", json={"content": "fixed\n"})
    assert blob.status_code == 403
    ref = await client.patch(f"{fork}/git/refs/heads/fix", json={"sha": head["sha"]})
    assert ref.status_code == 403
    in_base = await client.patch(f"/repos/{REPO}/git/refs/heads/fix", json={"sha": head["sha"]})
    assert (in_base.status_code, in_base.json()["message"]) == (422, "Reference does not exist")
    # GitHub leaves pull_requests empty on check runs of a fork's commits.
    assert github.add_check_run(REPO, head["sha"], name="tests")["pull_requests"] == []


async def test_a_private_fork_is_not_found(github: FakeGitHub, client: httpx.AsyncClient) -> None:
    github.add_repo("octo-org/private", installation_id=7, private=True, files={"a": "a\n"})
    github.commit_files("octo-org/private", "fix", {"a": "b\n"})
    pull = github.add_pull("octo-org/private", 1, head_branch="fix", fork=True)
    assert pull["head"]["repo"]["private"] is True
    blob = await client.post("/repos/forker/private/git/blobs", json={"content": "x"})
    assert (blob.status_code, blob.json()["message"]) == (404, "Not Found")
