"""The GitHub operations reactions use, by name, for one repository: no handler builds a URL.

`RepoPort` is the interface: each method is one REST call (or one paged listing) from GitHub's
REST API reference, returning the fields reactions read. Two implementations answer it:
`HttpRepoPort` here, a thin layer over gidgethub's GitHubAPI (app/clients/github.py), and an
in-memory one for tests (tests/ports/github_memory.py), which tests/ports/ checks against the
HTTP fake GitHub with the same operations.

Errors are the one error tree's (app/clients/errors.py), raised by the port itself: `Refused`
(status 404, 422, 403 …, the reason GitHub gave), `RateLimited`, `Unavailable`; so reactions never
catch a library's exceptions. Every name put into a URL goes through app/clients/urls.part, and
every query through its query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from app.clients.errors import classify
from app.clients.github import GitHubAPI, GitHubApp, Identity
from app.clients.urls import part, query, repo_url


class RepoPort(Protocol):
    """Named operations on `repo` ('owner/name'), as one installation may do them. Raises the
    error tree's Refused, RateLimited and Unavailable (app/clients/errors.py)."""

    repo: str

    async def pull_files(self, number: int) -> list[Mapping[str, Any]]: ...
    async def compare_files(self, base: str, head: str) -> list[Mapping[str, Any]]: ...
    async def compare(self, base: str, head: str) -> Mapping[str, Any]: ...
    async def create_review(self, number: int, request: Mapping[str, Any]) -> str: ...
    async def delete_review(self, number: int, review_id: str) -> None: ...
    async def delete_pending_reviews(self, number: int) -> None: ...
    async def find_review(self, number: int, marker: str) -> str | None: ...
    async def create_comment(self, number: int, body: str) -> str: ...
    async def update_comment(self, comment_id: str, body: str) -> None: ...
    async def find_comment(self, number: int, marker: str) -> str | None: ...
    async def check_run(self, check_run_id: int | str) -> Mapping[str, Any]: ...
    async def check_runs_for(
        self, ref: str, name: str, *, filter: str = "all"
    ) -> list[Mapping[str, Any]]: ...
    async def create_check_run(self, request: Mapping[str, Any]) -> str: ...
    async def update_check_run(self, check_run_id: str, changes: Mapping[str, Any]) -> None: ...
    async def annotations(self, check_run_id: int) -> list[Mapping[str, Any]]: ...
    async def run_jobs(self, run_id: str) -> list[Mapping[str, Any]]: ...
    async def job_log(self, job_id: int) -> str: ...
    async def tip(self, branch: str) -> Mapping[str, Any]: ...
    async def git_commit(self, sha: str) -> Mapping[str, Any]: ...
    async def git_tree(self, sha: str) -> Mapping[str, Any]: ...
    async def contents(self, path: str, ref: str | None = None) -> Mapping[str, Any]: ...
    async def create_tree(self, base_tree: str, tree: Sequence[Mapping[str, Any]]) -> str: ...
    async def create_commit(self, message: str, tree: str, parents: list[str]) -> str: ...
    async def move_branch(self, branch: str, sha: str) -> None: ...
    async def default_branch(self) -> str: ...
    async def pull(self, number: int) -> Mapping[str, Any]: ...
    async def open_pulls(self) -> list[Mapping[str, Any]]: ...
    async def add_labels(self, number: int, labels: list[str]) -> list[str]: ...
    async def remove_label(self, number: int, name: str) -> None: ...
    async def request_reviewers(
        self, number: int, reviewers: list[str], teams: list[str]
    ) -> Mapping[str, Any]: ...
    async def add_assignees(self, number: int, assignees: list[str]) -> Mapping[str, Any]: ...
    async def permission(self, login: str) -> str: ...
    async def close_pull(self, number: int) -> None: ...


class Ports(Protocol):
    """Where reactions get a repository's port: the App over HTTP (HttpPorts), or an in-memory
    GitHub in tests."""

    async def repo_port(self, installation_id: int, repo: str) -> RepoPort:
        """`repo`'s operations as installation `installation_id`."""
        ...

    async def identity(self) -> Identity:
        """Who the App is (GET /app): its id and slug, hence its bot's login."""
        ...


class HttpPorts:
    """Ports over the GitHub App's HTTP client, authenticated as each installation."""

    def __init__(self, github: GitHubApp) -> None:
        self.github = github

    async def repo_port(self, installation_id: int, repo: str) -> HttpRepoPort:
        return HttpRepoPort(await self.github.installation_api(installation_id), repo)

    async def identity(self) -> Identity:
        return self.github.identity or await self.github.load_identity()


@contextmanager
def _classified() -> Iterator[None]:
    """What gidgethub or httpx raise, as the error tree's node (app/clients/errors.classify)."""
    try:
        yield
    except Exception as exc:
        error = classify(exc)
        if error is None or error is exc:
            raise
        raise error from exc


class HttpRepoPort:
    """RepoPort through an installation's gidgethub client: one REST call per operation."""

    def __init__(self, api: GitHubAPI, repo: str) -> None:
        self.api = api
        self.repo = repo
        self.path = repo_url(repo)

    async def _get(self, url: str) -> Mapping[str, Any]:
        with _classified():
            found: Mapping[str, Any] = await self.api.getitem(url)
        return found

    async def _each(self, url: str, iterable_key: str = "items") -> AsyncIterator[Any]:
        with _classified():
            async for item in self.api.getiter(url, iterable_key=iterable_key):
                yield item

    async def _all(self, url: str, iterable_key: str = "items") -> list[Any]:
        return [item async for item in self._each(url, iterable_key)]

    async def _post(self, url: str, data: Any) -> Any:
        with _classified():
            return await self.api.post(url, data=data)

    async def _patch(self, url: str, data: Any) -> Any:
        with _classified():
            return await self.api.patch(url, data=data)

    async def _delete(self, url: str) -> None:
        with _classified():
            await self.api.delete(url)

    async def pull_files(self, number: int) -> list[Mapping[str, Any]]:
        """GET /pulls/{n}/files, every page: filename, patch (absent for binaries), status;
        3,000 files at most (app/github_limits.PULL_FILES)."""
        return [
            f
            async for f in self._each(
                f"{self.path}/pulls/{part(number)}/files{query({'per_page': 100})}"
            )
        ]

    async def compare_files(self, base: str, head: str) -> list[Mapping[str, Any]]:
        """GET /compare/{base}...{head}: the files changed between two commits, 300 at most
        (app/github_limits.COMPARE_FILES)."""
        return list((await self.compare(base, head)).get("files") or [])

    async def compare(self, base: str, head: str) -> Mapping[str, Any]:
        """GET /compare/{base}...{head}: `status` (ahead when base is an ancestor of head,
        diverged, behind, identical), `merge_base_commit`, `files` (what head changed since the
        merge base)."""
        return await self._get(f"{self.path}/compare/{part(base)}...{part(head)}")

    async def create_review(self, number: int, request: Mapping[str, Any]) -> str:
        """POST /pulls/{n}/reviews; the review's id."""
        posted = await self._post(f"{self.path}/pulls/{part(number)}/reviews", request)
        return str(posted["id"])

    async def delete_review(self, number: int, review_id: str) -> None:
        """DELETE /pulls/{n}/reviews/{id}: a pending review (GitHub refuses others, 422)."""
        await self._delete(f"{self.path}/pulls/{part(number)}/reviews/{part(review_id)}")

    async def delete_pending_reviews(self, number: int) -> None:
        """Delete our pending review of the PR, if one is left (the list shows only the
        caller's own pending reviews)."""
        async for review in self._each(f"{self.path}/pulls/{part(number)}/reviews"):
            if review.get("state") == "PENDING":
                await self.delete_review(number, str(review["id"]))

    async def find_review(self, number: int, marker: str) -> str | None:
        """The id of our earlier review whose body carries `marker`, if any."""
        async for earlier in self._each(f"{self.path}/pulls/{part(number)}/reviews"):
            if marker in (earlier.get("body") or ""):
                return str(earlier["id"])
        return None

    async def create_comment(self, number: int, body: str) -> str:
        """POST /issues/{n}/comments; the comment's id."""
        posted = await self._post(f"{self.path}/issues/{part(number)}/comments", {"body": body})
        return str(posted["id"])

    async def update_comment(self, comment_id: str, body: str) -> None:
        await self._patch(f"{self.path}/issues/comments/{part(comment_id)}", {"body": body})

    async def find_comment(self, number: int, marker: str) -> str | None:
        """The id of our earlier issue comment whose body carries `marker`, if any."""
        async for comment in self._each(f"{self.path}/issues/{part(number)}/comments"):
            if marker in (comment.get("body") or ""):
                return str(comment["id"])
        return None

    async def check_run(self, check_run_id: int | str) -> Mapping[str, Any]:
        return await self._get(f"{self.path}/check-runs/{part(check_run_id)}")

    async def check_runs_for(
        self, ref: str, name: str, *, filter: str = "all"
    ) -> list[Mapping[str, Any]]:
        """GET /commits/{ref}/check-runs?check_name=…&filter=…, every page: the runs of that
        name, newest first (filter 'latest': only the most recent run of each)."""
        url = f"{self.path}/commits/{part(ref, slashes=True)}/check-runs" + query(
            {"check_name": name, "filter": filter, "per_page": 100}
        )
        return [run async for run in self._each(url, iterable_key="check_runs")]

    async def create_check_run(self, request: Mapping[str, Any]) -> str:
        made = await self._post(f"{self.path}/check-runs", request)
        return str(made["id"])

    async def update_check_run(self, check_run_id: str, changes: Mapping[str, Any]) -> None:
        await self._patch(f"{self.path}/check-runs/{part(check_run_id)}", changes)

    async def annotations(self, check_run_id: int) -> list[Mapping[str, Any]]:
        return [
            note
            async for note in self._each(f"{self.path}/check-runs/{part(check_run_id)}/annotations")
        ]

    async def run_jobs(self, run_id: str) -> list[Mapping[str, Any]]:
        """GET /actions/runs/{id}/jobs, every page."""
        jobs = f"{self.path}/actions/runs/{part(run_id)}/jobs"
        return [job async for job in self._each(jobs, iterable_key="jobs")]

    async def job_log(self, job_id: int) -> str:
        """GET /actions/jobs/{id}/logs: the job's log as text (404 or 410 once it expired)."""
        with _classified():
            return await self.api.job_log(self.repo, job_id)

    async def tip(self, branch: str) -> Mapping[str, Any]:
        """GET /commits/{branch}: the branch's head commit."""
        return await self._get(f"{self.path}/commits/{part(branch, slashes=True)}")

    async def git_commit(self, sha: str) -> Mapping[str, Any]:
        return await self._get(f"{self.path}/git/commits/{part(sha)}")

    async def git_tree(self, sha: str) -> Mapping[str, Any]:
        return await self._get(f"{self.path}/git/trees/{part(sha)}")

    async def contents(self, path: str, ref: str | None = None) -> Mapping[str, Any]:
        """GET /contents/{path}?ref=…: a file (`content` base64, `encoding`) or a directory's
        listing; without `ref`, as on the default branch."""
        params: dict[str, str | int] = {"ref": ref} if ref is not None else {}
        return await self._get(f"{self.path}/contents/{part(path, slashes=True)}{query(params)}")

    async def create_tree(self, base_tree: str, tree: Sequence[Mapping[str, Any]]) -> str:
        made = await self._post(f"{self.path}/git/trees", {"base_tree": base_tree, "tree": tree})
        return str(made["sha"])

    async def create_commit(self, message: str, tree: str, parents: list[str]) -> str:
        made = await self._post(
            f"{self.path}/git/commits", {"message": message, "tree": tree, "parents": parents}
        )
        return str(made["sha"])

    async def move_branch(self, branch: str, sha: str) -> None:
        """PATCH /git/refs/heads/{branch}, force false: fast-forward only, so a push made
        meanwhile is refused (422) rather than lost."""
        await self._patch(
            f"{self.path}/git/refs/heads/{part(branch, slashes=True)}",
            {"sha": sha, "force": False},
        )

    # Declared workflows' steps (app/workflows/steps.py).

    async def default_branch(self) -> str:
        """GET /repos/{repo}: the repository's default branch."""
        return str((await self._get(self.path))["default_branch"])

    async def pull(self, number: int) -> Mapping[str, Any]:
        """GET /pulls/{n}: the pull request as it stands (labels, author_association …)."""
        return await self._get(f"{self.path}/pulls/{part(number)}")

    async def open_pulls(self) -> list[Mapping[str, Any]]:
        """GET /pulls?state=open, every page, least recently updated first."""
        params: dict[str, str | int] = {
            "state": "open",
            "sort": "updated",
            "direction": "asc",
            "per_page": 100,
        }
        url = f"{self.path}/pulls{query(params)}"
        return [p async for p in self._each(url)]

    async def add_labels(self, number: int, labels: list[str]) -> list[str]:
        """POST /issues/{n}/labels (labels a repository lacks are created); the PR's labels."""
        answer = await self._post(f"{self.path}/issues/{part(number)}/labels", {"labels": labels})
        return [label["name"] for label in answer]

    async def remove_label(self, number: int, name: str) -> None:
        """DELETE /issues/{n}/labels/{name}; a label the PR does not have is 404."""
        await self._delete(f"{self.path}/issues/{part(number)}/labels/{part(name)}")

    async def request_reviewers(
        self, number: int, reviewers: list[str], teams: list[str]
    ) -> Mapping[str, Any]:
        """POST /pulls/{n}/requested_reviewers (teams by slug)."""
        answer: Mapping[str, Any] = await self._post(
            f"{self.path}/pulls/{part(number)}/requested_reviewers",
            {"reviewers": reviewers, "team_reviewers": teams},
        )
        return answer

    async def add_assignees(self, number: int, assignees: list[str]) -> Mapping[str, Any]:
        """POST /issues/{n}/assignees (who cannot be assigned is left out by GitHub)."""
        answer: Mapping[str, Any] = await self._post(
            f"{self.path}/issues/{part(number)}/assignees", {"assignees": assignees}
        )
        return answer

    async def permission(self, login: str) -> str:
        """GET /collaborators/{login}/permission: admin, write, read or none (maintain and
        triage read as write and read, GitHub's own mapping in this field)."""
        answer = await self._get(f"{self.path}/collaborators/{part(login)}/permission")
        return str(answer.get("permission") or "none")

    async def close_pull(self, number: int) -> None:
        """PATCH /pulls/{n} state closed."""
        await self._patch(f"{self.path}/pulls/{part(number)}", {"state": "closed"})


def port(api: GitHubAPI, repo: str) -> HttpRepoPort:
    """`repo`'s operations through `api` (an installation's client)."""
    return HttpRepoPort(api, repo)
