"""GitHub in memory: the RepoPort (app/clients/github_port.py) reactions use, with no HTTP.

Its state is the HTTP fake's (tests/fakes/github_repos.py's RepoState: repositories as git
objects and branches, pull requests, reviews, issue comments, labels, check runs, Actions jobs,
all in dicts), set up with the same helpers, and answered in the same JSON; what the fake checks
in a request (anchors of review comments, check run outputs, fast-forwards …) is checked with the
fake's own functions. Errors come as GitHub's reply would reach a reaction through gidgethub and
app/clients/errors.classify: Refused(status, reason), RateLimited(until), Unavailable.
tests/ports/test_conformance.py runs the same operations here and over HTTP against the fake.

    github = MemoryGitHub()
    github.add_installation(7)
    github.add_repo("octo-org/widgets", installation_id=7, files={"app.py": "print('hi')\\n"})
    port = await github.repo_port(7, "octo-org/widgets")
    context = Context(..., ports=github)   # reactions now run against it
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from gidgethub import HTTPException
from gidgethub.sansio import decipher_response

from app.clients.errors import RemoteError, classify
from app.clients.github import Identity, RateLimited, rate_limit_reset
from app.clients.urls import repo_url
from app.text import storable
from tests.fakes import github as core
from tests.fakes.github_repos import (
    DIR_MODE,
    FULL_PULL_ONLY,
    MAX_COMPARE_COMMITS,
    MAX_COMPARE_FILES,
    MAX_CONTENTS,
    MAX_PULL_FILES,
    NOT_ACCESSIBLE,
    REVIEW_DOCS,
    REVIEW_STATES,
    TYPE_OF_MODE,
    WORKFLOWS,
    CheckRun,
    IssueComment,
    Pull,
    Repo,
    RepoState,
    Review,
    ReviewComment,
    anchor,
    apply_check_run,
    comment_body,
    diff_files,
    invalid,
    required_text,
    stamp,
    tree_order,
    unprocessable,
)


@dataclass(kw_only=True, eq=False)
class MemoryGitHub(RepoState):
    """GitHub as one GitHub App sees it, in memory: `Ports` for the reactions' context.

    url: what GitHub's URLs in answers start with (the HTTP fake's url, to compare answers).
    calls: each operation asked, as (operation, repository), in order.
    """

    url: str = "https://api.github.com"
    app_id: int = 4242
    slug: str = "hookwise-test"
    installations: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list, repr=False)
    created_at: str = field(default_factory=lambda: core.iso(core.now()), repr=False)
    # Answers to give instead of the next operations' (fail()).
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list, repr=False)

    def app_json(self) -> dict[str, Any]:
        """The App as GET /app shows it (the HTTP fake's fields)."""
        return {
            "id": self.app_id,
            "slug": self.slug,
            "node_id": f"A_fake{self.app_id}",
            "client_id": "Iv1.fake0123456789",
            "owner": core.account("octo-org", "Organization"),
            "name": "Hookwise Test",
            "description": "",
            "external_url": "https://hookwise.invalid",
            "html_url": f"{self.url}/apps/{self.slug}",
            "created_at": self.created_at,
            "updated_at": self.created_at,
            "permissions": dict(core.APP_PERMISSIONS),
            "events": list(core.APP_EVENTS),
            "installations_count": len(self.installations),
        }

    def add_installation(
        self,
        installation_id: int,
        *,
        account_login: str = "octo-org",
        permissions: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Install the App on an organization, with `permissions` (the App's unless given)."""
        owner = core.account(account_login, "Organization")
        installation = {
            "id": installation_id,
            "account": owner,
            "permissions": dict(core.APP_PERMISSIONS if permissions is None else permissions),
        }
        self.installations[installation_id] = installation
        return installation

    def fail(
        self, status: int, *, times: int = 1, headers: Mapping[str, str] | None = None
    ) -> None:
        """The next `times` operations answer `status` instead, with GitHub's body for it (as
        FakeGitHub.fail words it): 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`,
        or with `retry-after`, is a rate limit; 5xx an outage."""
        self.failures += [(status, dict(headers or {}))] * times

    async def repo_port(self, installation_id: int, repo: str) -> MemoryRepoPort:
        return MemoryRepoPort(self, installation_id, repo)

    async def identity(self) -> Identity:
        return Identity(app_id=self.app_id, slug=self.slug)


def _remote(status: int, body: Mapping[str, Any], headers: Mapping[str, str]) -> RemoteError:
    """What a reaction meets for GitHub's reply `status` with `body`: gidgethub's exception for
    it (sansio.decipher_response), classified, as app/clients/github.py would raise it."""
    lowered = {k.lower(): v for k, v in headers.items()}
    at = rate_limit_reset(status, lowered, now=datetime.now(UTC), message=str(body.get("message")))
    if at is not None:
        return RateLimited(at, "GitHub rate limit")
    wire = {"content-type": core.JSON_TYPE, "x-ratelimit-remaining": "4999", **lowered}
    try:
        decipher_response(status, wire, json.dumps(body).encode())
    except HTTPException as exc:
        error = classify(exc)
        assert error is not None
        return error
    raise AssertionError(f"{status} is no error")


def _error_body(exc: core.GitHubError) -> dict[str, Any]:
    body = core.error_body(exc.status, exc.message, exc.documentation_url)
    if exc.errors is not None:
        body = {"message": exc.message, "errors": exc.errors, **body}
    return body


class MemoryRepoPort:
    """RepoPort on a MemoryGitHub, as installation `installation_id`."""

    def __init__(self, github: MemoryGitHub, installation_id: int, repo: str) -> None:
        self.github, self.installation_id, self.repo = github, installation_id, repo

    # How each operation runs: access as the token's, GitHub's errors as the error tree.

    @contextmanager
    def _asked(self, operation: str) -> Iterator[None]:
        github = self.github
        github.calls.append((operation, self.repo))
        if github.failures:
            status, headers = github.failures.pop(0)
            body = core.error_body(status, core.phrase(status))
            if status == 429 or (status == 403 and "retry-after" in headers):
                body["message"] = core.SECONDARY_RATE_LIMIT.format(request_id="0")
            raise _remote(status, body, headers)
        try:
            yield
        except core.GitHubError as exc:
            raise _remote(exc.status, _error_body(exc), {}) from None

    def _repo(self, *permissions: str, write: bool = False) -> Repo:
        """As tests/fakes/github_repos.repo_for: 404 when the token cannot see it, 403 when it
        may not do this."""
        found = self.github.repos.get(self.repo.lower())
        if found is None:
            raise core.GitHubError(404, "Not Found")
        if found.installation_id != self.installation_id:
            if found.private:
                raise core.GitHubError(404, "Not Found")
            if write:
                raise core.GitHubError(403, NOT_ACCESSIBLE)
            return found
        granted = self.github.installations[self.installation_id]["permissions"]
        wanted = ("write",) if write else ("read", "write")
        if permissions and not any(granted.get(name) in wanted for name in permissions):
            raise core.GitHubError(403, NOT_ACCESSIBLE)
        return found

    @staticmethod
    def _pull(repo: Repo, number: int) -> Pull:
        pull = repo.pulls.get(number)
        if pull is None:
            raise core.GitHubError(404, "Not Found")
        return pull

    @staticmethod
    def _id(value: int | str) -> int:
        """A path's `{id:int}`: anything else matches no route, which GitHub answers 404."""
        text = str(value)
        if not text.isdigit():
            raise core.GitHubError(404, "Not Found")
        return int(text)

    # Pull requests and diffs

    async def pull_files(self, number: int) -> list[Mapping[str, Any]]:
        with self._asked("pull_files"):
            repo = self._repo("pull_requests")
            pull = self._pull(repo, number)
            head = pull.head_sha
            return [self.github.file_json(repo, c, head) for c in pull.changes()[:MAX_PULL_FILES]]

    async def compare(self, base: str, head: str) -> Mapping[str, Any]:
        with self._asked("compare"):
            return self._compare(base, head)

    async def compare_files(self, base: str, head: str) -> list[Mapping[str, Any]]:
        return list((await self.compare(base, head)).get("files") or [])

    def _compare(self, base_ref: str, head_ref: str) -> dict[str, Any]:
        github, repo = self.github, self._repo("contents")
        base, head = repo.resolve(base_ref), repo.resolve(head_ref)
        if base is None or head is None:
            raise core.GitHubError(404, "Not Found")
        objects = repo.objects
        merge_base = objects.merge_base(base, head)
        if merge_base is None:
            raise core.GitHubError(404, f"No common ancestor between {base_ref} and {head_ref}.")
        ahead, behind = objects.between(base, head), objects.between(head, base)
        status = "identical"
        if ahead and behind:
            status = "diverged"
        elif ahead or behind:
            status = "ahead" if ahead else "behind"
        changes = diff_files(objects, objects.files(merge_base), objects.files(head), repo.binary)
        basehead, full = f"{base_ref}...{head_ref}", repo.full_name
        return {
            "url": f"{github.url}/repos/{full}/compare/{basehead}",
            "html_url": f"{github.url}/{full}/compare/{basehead}",
            "permalink_url": f"{github.url}/{full}/compare/{base}...{head}",
            "diff_url": f"{github.url}/{full}/compare/{basehead}.diff",
            "patch_url": f"{github.url}/{full}/compare/{basehead}.patch",
            "base_commit": github.commit_json(repo, objects.commits[base]),
            "merge_base_commit": github.commit_json(repo, objects.commits[merge_base]),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": [
                github.commit_json(repo, commit) for commit in ahead[-MAX_COMPARE_COMMITS:]
            ],
            "files": [
                github.file_json(repo, change, head) for change in changes[:MAX_COMPARE_FILES]
            ],
        }

    async def pull(self, number: int) -> Mapping[str, Any]:
        with self._asked("pull"):
            repo = self._repo("pull_requests")
            return self.github.pull_json(self._pull(repo, number))

    async def open_pulls(self) -> list[Mapping[str, Any]]:
        with self._asked("open_pulls"):
            repo = self._repo("pull_requests")
            pulls = sorted(
                (p for p in repo.pulls.values() if p.state == "open"),
                key=lambda p: (p.updated_at or p.created_at, p.number),
            )
            return [
                {k: v for k, v in self.github.pull_json(p).items() if k not in FULL_PULL_ONLY}
                for p in pulls
            ]

    async def close_pull(self, number: int) -> None:
        with self._asked("close_pull"):
            pull = self._pull(self._repo("pull_requests", write=True), number)
            if pull.state == "open":
                pull.state = "closed"
                pull.closed_at = pull.updated_at = stamp()

    # Reviews and comments

    def _reviews(self, repo: Repo, pull: Pull) -> list[Review]:
        return [
            r for r in self.github.reviews.values() if r.repo is repo and r.number == pull.number
        ]

    async def create_review(self, number: int, request: Mapping[str, Any]) -> str:
        """As GitHub: all or nothing, one comment outside the diff refuses the whole review."""
        with self._asked("create_review"):
            github = self.github
            repo = self._repo("pull_requests", write=True)
            pull = self._pull(repo, number)
            data = json.loads(json.dumps(request))  # as it would travel
            event, body = data.get("event"), data.get("body") or ""
            if event is not None and event not in REVIEW_STATES:
                raise invalid(f"For 'properties/event', \"{event}\" is not one of the events.")
            if len(body) > 65_536:
                raise unprocessable("Body is too long (maximum is 65536 characters)", REVIEW_DOCS)
            comments = data.get("comments") or []
            if event in ("REQUEST_CHANGES", "COMMENT") and not body and not comments:
                raise unprocessable(f"Review body is required for event {event}", REVIEW_DOCS)
            pending = [r for r in self._reviews(repo, pull) if r.state == "PENDING"]
            if event is None and pending:
                raise unprocessable(
                    "User can only have one pending review per pull request", REVIEW_DOCS
                )
            commit_id = data.get("commit_id") or pull.head_sha
            sha = repo.resolve(commit_id) if isinstance(commit_id, str) else None
            if sha is None or sha not in repo.objects.ancestors(pull.head_sha):
                raise unprocessable("Commit could not be resolved", REVIEW_DOCS)
            changes = {change.path: change for change in pull.changes(sha)}
            anchors = [anchor(changes, comment) for comment in comments]
            at, bot = stamp(), github.bot_user()
            review = Review(
                id=next(github._ids),
                repo=repo,
                number=pull.number,
                user=bot,
                body=body,
                state=REVIEW_STATES[event] if event else "PENDING",
                commit_id=sha,
                submitted_at=at if event else None,
                comment_ids=[],
            )
            github.reviews[review.id] = review
            for placed in anchors:
                comment = ReviewComment(
                    id=next(github._ids),
                    repo=repo,
                    number=pull.number,
                    review_id=review.id,
                    user=bot,
                    body=placed.body,
                    path=placed.path,
                    line=placed.line,
                    side=placed.side,
                    start_line=placed.start_line,
                    start_side=placed.start_side,
                    position=placed.position,
                    diff_hunk=placed.diff_hunk,
                    commit_id=sha,
                    created_at=at,
                )
                github.review_comments[comment.id] = comment
                review.comment_ids.append(comment.id)
            return str(review.id)

    async def delete_review(self, number: int, review_id: str) -> None:
        with self._asked("delete_review"):
            self._delete_review(number, review_id)

    def _delete_review(self, number: int, review_id: str) -> None:
        github = self.github
        repo = self._repo("pull_requests", write=True)
        pull = self._pull(repo, number)
        review = github.reviews.get(self._id(review_id))
        if review is None or review.repo is not repo or review.number != pull.number:
            raise core.GitHubError(404, "Not Found")
        if review.state != "PENDING":
            raise unprocessable("Can not delete a non-pending pull request review", REVIEW_DOCS)
        del github.reviews[review.id]
        for comment_id in review.comment_ids:
            github.review_comments.pop(comment_id, None)

    async def delete_pending_reviews(self, number: int) -> None:
        with self._asked("delete_pending_reviews"):
            repo = self._repo("pull_requests")
            for review in self._reviews(repo, self._pull(repo, number)):
                if review.state == "PENDING":
                    self._delete_review(number, str(review.id))

    async def find_review(self, number: int, marker: str) -> str | None:
        with self._asked("find_review"):
            repo = self._repo("pull_requests")
            for review in self._reviews(repo, self._pull(repo, number)):
                if marker in review.body:
                    return str(review.id)
            return None

    def _comments(self, repo: Repo, number: int) -> list[IssueComment]:
        return [
            c for c in self.github.issue_comments.values() if c.repo is repo and c.number == number
        ]

    async def create_comment(self, number: int, body: str) -> str:
        with self._asked("create_comment"):
            github = self.github
            repo = self._repo("issues", "pull_requests", write=True)
            pull = self._pull(repo, number)
            text = comment_body({"body": body})
            at = stamp()
            comment = IssueComment(
                id=next(github._ids),
                repo=repo,
                number=pull.number,
                user=github.bot_user(),
                body=text,
                created_at=at,
                updated_at=at,
            )
            github.issue_comments[comment.id] = comment
            return str(comment.id)

    async def update_comment(self, comment_id: str, body: str) -> None:
        with self._asked("update_comment"):
            repo = self._repo("issues", "pull_requests", write=True)
            comment = self.github.issue_comments.get(self._id(comment_id))
            if comment is None or comment.repo is not repo:
                raise core.GitHubError(404, "Not Found")
            comment.body = comment_body({"body": body})
            comment.updated_at = stamp()

    async def find_comment(self, number: int, marker: str) -> str | None:
        with self._asked("find_comment"):
            repo = self._repo("issues", "pull_requests")
            self._pull(repo, number)
            for comment in self._comments(repo, number):
                if marker in comment.body:
                    return str(comment.id)
            return None

    async def add_labels(self, number: int, labels: list[str]) -> list[str]:
        with self._asked("add_labels"):
            pull = self._pull(self._repo("issues", "pull_requests", write=True), number)
            if not labels or not all(isinstance(x, str) and x for x in labels):
                raise invalid('"labels" wasn\'t supplied.')
            pull.labels += [name for name in dict.fromkeys(labels) if name not in pull.labels]
            pull.updated_at = stamp()
            return list(pull.labels)

    async def remove_label(self, number: int, name: str) -> None:
        with self._asked("remove_label"):
            pull = self._pull(self._repo("issues", "pull_requests", write=True), number)
            if name not in pull.labels:
                raise core.GitHubError(404, "Label does not exist")
            pull.labels.remove(name)
            pull.updated_at = stamp()

    async def add_assignees(self, number: int, assignees: list[str]) -> Mapping[str, Any]:
        with self._asked("add_assignees"):
            repo = self._repo("issues", "pull_requests", write=True)
            pull = self._pull(repo, number)
            for login in assignees:
                allowed = login in repo.collaborators or login == pull.user["login"]
                if allowed and login not in pull.assignees and len(pull.assignees) < 10:
                    pull.assignees.append(login)
            return self.github.issue_json(pull)

    async def request_reviewers(
        self, number: int, reviewers: list[str], teams: list[str]
    ) -> Mapping[str, Any]:
        with self._asked("request_reviewers"):
            repo = self._repo("pull_requests", write=True)
            pull = self._pull(repo, number)
            if not reviewers and not teams:
                raise invalid('"reviewers" wasn\'t supplied.')
            for login in reviewers:
                if login == pull.user["login"]:
                    raise unprocessable("Review cannot be requested from pull request author.")
                if login not in repo.collaborators:
                    raise core.GitHubError(
                        422,
                        "Reviews may only be requested from collaborators. One or more of the"
                        " users or teams you specified is not a collaborator of the "
                        f"{repo.full_name} repository.",
                    )
            for slug in teams:
                if slug not in repo.teams:
                    raise core.GitHubError(
                        422, f"Could not resolve to a node with the global id of {slug}"
                    )
            pull.requested_reviewers += [x for x in reviewers if x not in pull.requested_reviewers]
            pull.requested_teams += [x for x in teams if x not in pull.requested_teams]
            return self.github.pull_json(pull)

    async def permission(self, login: str) -> str:
        with self._asked("permission"):
            repo = self._repo()
            return repo.collaborators.get(login) or ("none" if repo.private else "read")

    # Check runs and Actions

    def _check_run(self, repo: Repo, check_run_id: int | str) -> CheckRun:
        run = self.github.check_runs.get(self._id(check_run_id))
        if run is None or run.repo is not repo:
            raise core.GitHubError(404, "Not Found")
        return run

    async def check_run(self, check_run_id: int | str) -> Mapping[str, Any]:
        with self._asked("check_run"):
            repo = self._repo("checks")
            return self.github.check_run_json(self._check_run(repo, check_run_id))

    async def check_runs_for(
        self, ref: str, name: str, *, filter: str = "all"
    ) -> list[Mapping[str, Any]]:
        """Newest first; filter 'latest': only the latest run of each name per App."""
        with self._asked("check_runs_for"):
            github, repo = self.github, self._repo("checks")
            sha = repo.resolve(ref)
            if sha is None:
                raise core.GitHubError(422, f"No commit found for SHA: {ref}")
            runs = sorted(
                (r for r in github.check_runs.values() if r.repo is repo and r.head_sha == sha),
                key=lambda run: run.id,
                reverse=True,
            )
            if filter == "latest":
                seen: set[tuple[int, str]] = set()
                latest = []
                for run in runs:
                    if (run.app["id"], run.name) not in seen:
                        seen.add((run.app["id"], run.name))
                        latest.append(run)
                runs = latest
            return [github.check_run_json(run) for run in runs if run.name == name]

    async def create_check_run(self, request: Mapping[str, Any]) -> str:
        with self._asked("create_check_run"):
            github, repo = self.github, self._repo("checks", write=True)
            data = json.loads(json.dumps(request))
            name, head_sha = required_text(data, "name"), required_text(data, "head_sha")
            if head_sha not in repo.objects.commits:
                raise core.GitHubError(422, f"No commit found for SHA: {head_sha}")
            run = CheckRun(
                id=next(github._ids),
                repo=repo,
                head_sha=head_sha,
                name=name,
                app=github.app_of(github.slug),
                status="queued",
                conclusion=None,
                started_at=data.get("started_at") or stamp(),
                completed_at=None,
                output={"title": None, "summary": None, "text": None},
            )
            apply_check_run(run, data, creating=True)
            github.check_runs[run.id] = run
            return str(run.id)

    async def update_check_run(self, check_run_id: str, changes: Mapping[str, Any]) -> None:
        with self._asked("update_check_run"):
            github, repo = self.github, self._repo("checks", write=True)
            run = self._check_run(repo, check_run_id)
            if run.app["id"] != github.app_id:
                raise core.GitHubError(
                    403,
                    f"Invalid app_id `{run.app['id']}` - check run can only be modified by the"
                    " GitHub App that created it.",
                )
            apply_check_run(run, json.loads(json.dumps(changes)), creating=False)

    async def annotations(self, check_run_id: int) -> list[Mapping[str, Any]]:
        with self._asked("annotations"):
            repo = self._repo("checks")
            run = self._check_run(repo, check_run_id)
            blob = f"{self.github.url}/{repo.full_name}/blob/{run.head_sha}"
            return [{**a, "blob_href": f"{blob}/{a['path']}"} for a in run.annotations]

    async def run_jobs(self, run_id: str) -> list[Mapping[str, Any]]:
        with self._asked("run_jobs"):
            github, repo = self.github, self._repo("actions")
            wanted = self._id(run_id)
            jobs = [j for j in github.jobs.values() if j.repo is repo and j.run_id == wanted]
            if not jobs:
                raise core.GitHubError(404, "Not Found")
            return [github.job_json(job) for job in jobs]

    async def job_log(self, job_id: int) -> str:
        with self._asked("job_log"):
            repo = self._repo("actions")
            job = self.github.jobs.get(job_id)
            if job is None or job.repo is not repo:
                # Over HTTP the log is fetched with httpx, whose error classify words so.
                path = f"{repo_url(self.repo)}/actions/jobs/{job_id}/logs"
                raise _remote_httpx(404, path)
            # As HttpRepoPort reads it: httpx's decoding (U+FFFD for what is not UTF-8), then
            # made storable (app/text.py).
            log = job.log
            return storable(log.decode("utf-8", "replace") if isinstance(log, bytes) else log)

    # Git data and contents

    async def tip(self, branch: str) -> Mapping[str, Any]:
        with self._asked("tip"):
            repo = self._repo("contents")
            sha = repo.resolve(branch)
            if sha is None:
                raise core.GitHubError(422, f"No commit found for SHA: {branch}")
            return self.github.commit_json(repo, repo.objects.commits[sha], files=True)

    async def git_commit(self, sha: str) -> Mapping[str, Any]:
        with self._asked("git_commit"):
            repo = self._repo("contents")
            commit = repo.objects.commits.get(sha)
            if commit is None:
                raise core.GitHubError(404, "Not Found")
            return self.github.git_commit_json(repo, commit)

    async def git_tree(self, sha: str) -> Mapping[str, Any]:
        with self._asked("git_tree"):
            repo = self._repo("contents")
            if sha not in repo.objects.trees:
                commit = repo.resolve(sha)
                if commit is None:
                    raise core.GitHubError(404, "Not Found")
                sha = repo.objects.commits[commit].tree
            return self.github.tree_json(repo, sha, recursive=False)

    async def contents(self, path: str, ref: str | None = None) -> Mapping[str, Any]:
        """A file (base64 in lines of 60, as GitHub sends it); a directory's listing."""
        with self._asked("contents"):
            return self._contents(path, ref)

    def _contents(self, path: str, ref: str | None) -> Any:
        github, repo = self.github, self._repo("contents")
        ref = ref or repo.default_branch
        sha = repo.resolve(ref)
        if sha is None:
            raise core.GitHubError(404, f"No commit found for the ref {ref}")
        path = path.strip("/")
        objects = repo.objects
        mode, found = DIR_MODE, objects.commits[sha].tree
        for name in path.split("/") if path else []:
            if mode != DIR_MODE or name not in objects.trees[found]:
                raise core.GitHubError(404, "Not Found")
            mode, found = objects.trees[found][name]
        api = f"{github.url}/repos/{repo.full_name}"

        def entry(entry_path: str, entry_mode: str, entry_sha: str) -> dict[str, Any]:
            kind = "dir" if entry_mode == DIR_MODE else "file"
            html = f"{github.url}/{repo.full_name}/{'tree' if kind == 'dir' else 'blob'}"
            git = f"{api}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry_sha}"
            raw = f"{github.url}/{repo.full_name}/raw/{sha}/{entry_path}"
            url = f"{api}/contents/{entry_path}?ref={ref}"
            return {
                "type": kind,
                "size": len(objects.blobs.get(entry_sha, b"")) if kind == "file" else 0,
                "name": entry_path.rsplit("/", 1)[-1],
                "path": entry_path,
                "sha": entry_sha,
                "url": url,
                "git_url": git,
                "html_url": f"{html}/{ref}/{entry_path}",
                "download_url": raw if kind == "file" else None,
                "_links": {"self": url, "git": git, "html": f"{html}/{ref}/{entry_path}"},
            }

        if mode == DIR_MODE:
            children = sorted(objects.trees[found].items(), key=tree_order)
            prefix = f"{path}/" if path else ""
            return [entry(f"{prefix}{name}", m, s) for name, (m, s) in children]
        data = objects.blobs[found]
        body = entry(path, mode, found)
        if len(data) > MAX_CONTENTS:
            body.update(encoding="none", content="")
        else:
            encoded = base64.b64encode(data).decode()
            lines = [encoded[i : i + 60] for i in range(0, len(encoded), 60)]
            body.update(encoding="base64", content="".join(f"{line}\n" for line in lines))
        return body

    async def create_tree(self, base_tree: str, tree: Sequence[Mapping[str, Any]]) -> str:
        """Entries over base_tree: content or an existing blob or tree by sha; sha null deletes."""
        with self._asked("create_tree"):
            objects = self._repo("contents", write=True).objects
            if base_tree not in objects.trees:
                raise core.GitHubError(422, "base_tree is not a valid tree oid")
            flat = objects.flatten(base_tree)
            for item in json.loads(json.dumps(tree)):
                if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                    raise core.GitHubError(422, "Invalid tree info")
                path, mode, kind = item["path"].strip("/"), item.get("mode"), item.get("type")
                if TYPE_OF_MODE.get(str(mode)) != kind or not path:
                    raise core.GitHubError(422, "Invalid tree info")
                if ("sha" in item) == ("content" in item):
                    raise core.GitHubError(422, "Must supply either tree.sha or tree.content")
                under = f"{path}/"
                for existing in [p for p in flat if p == path or p.startswith(under)]:
                    del flat[existing]
                sha = item.get("sha")
                if "content" in item:
                    if kind != "blob" or not isinstance(item["content"], str):
                        raise core.GitHubError(422, "Invalid tree info")
                    flat[path] = (str(mode), objects.put_blob(item["content"].encode()))
                elif sha is None:
                    continue  # deleted
                elif (kind == "blob" and sha in objects.blobs) or kind == "commit":
                    flat[path] = (str(mode), sha)
                elif kind == "tree" and sha in objects.trees:
                    flat.update({f"{under}{p}": e for p, e in objects.flatten(sha).items()})
                else:
                    raise core.GitHubError(422, f"tree.sha {sha} is not a valid {kind}")
            return objects.put_tree(flat)

    async def create_commit(self, message: str, tree: str, parents: list[str]) -> str:
        with self._asked("create_commit"):
            repo = self._repo("contents", write=True)
            if tree not in repo.objects.trees:
                raise core.GitHubError(422, "Tree SHA does not exist")
            if any(p not in repo.objects.commits for p in parents):
                raise core.GitHubError(422, "Parent SHA does not exist or is not a commit object")
            return self.github._commit(repo, tree, list(parents), message).sha

    async def move_branch(self, branch: str, sha: str) -> None:
        """A fast forward only, and never over workflow files without `workflows: write`."""
        with self._asked("move_branch"):
            repo = self._repo("contents", write=True)
            if branch not in repo.branches:
                raise core.GitHubError(422, "Reference does not exist")
            if sha not in repo.objects.commits:
                raise core.GitHubError(422, "Object does not exist")
            tip = repo.branches[branch]
            if tip not in repo.objects.ancestors(sha):
                raise core.GitHubError(422, "Update is not a fast forward")
            granted = self.github.installations[self.installation_id]["permissions"]
            if granted.get("workflows") != "write":
                objects = repo.objects
                for change in diff_files(objects, objects.files(tip), objects.files(sha), set()):
                    if change.path.startswith(WORKFLOWS):
                        raise core.GitHubError(
                            403,
                            "refusing to allow a GitHub App to create or update workflow"
                            f" `{change.path}` without `workflows` permission",
                        )
            repo.branches[branch] = sha

    async def default_branch(self) -> str:
        with self._asked("default_branch"):
            return self._repo().default_branch


def _remote_httpx(status: int, path: str) -> RemoteError:
    """classify's word for an httpx.HTTPStatusError of a GET of `path` (the job log)."""
    request = httpx.Request("GET", f"https://api.github.com{path}")
    response = httpx.Response(status, request=request)
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        error = classify(exc)
        assert error is not None
        return error
    raise AssertionError(f"{status} is no error")
