"""The GitHub operations reactions use, by name, for one repository: no handler builds a URL.

A thin layer over gidgethub's GitHubAPI (app/clients/github.py): each method is one REST call
(or one paged listing) from GitHub's REST API reference, returning the fields reactions read.
Errors are the library's; app/clients/errors.classify sorts them into the one error tree.
Every name put into a URL goes through app/clients/urls.part, and every query through its query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.clients.github import GitHubAPI
from app.clients.urls import part, query, repo_url


class RepoPort:
    """Named operations on `repo` ('owner/name') through an installation's client."""

    def __init__(self, api: GitHubAPI, repo: str) -> None:
        self.api = api
        self.repo = repo
        self.path = repo_url(repo)

    async def pull_files(self, number: int) -> list[Mapping[str, Any]]:
        """GET /pulls/{n}/files, every page: filename, patch (absent for binaries), status."""
        return [
            f
            async for f in self.api.getiter(
                f"{self.path}/pulls/{part(number)}/files{query({'per_page': 100})}"
            )
        ]

    async def compare_files(self, base: str, head: str) -> list[Mapping[str, Any]]:
        """GET /compare/{base}...{head}: the files changed between two commits."""
        return list((await self.compare(base, head)).get("files") or [])

    async def compare(self, base: str, head: str) -> Mapping[str, Any]:
        """GET /compare/{base}...{head}: `status` (ahead when base is an ancestor of head,
        diverged, behind, identical), `merge_base_commit`, `files` (what head changed since the
        merge base)."""
        found: Mapping[str, Any] = await self.api.getitem(
            f"{self.path}/compare/{part(base)}...{part(head)}"
        )
        return found

    async def create_review(self, number: int, request: Mapping[str, Any]) -> str:
        """POST /pulls/{n}/reviews; the review's id."""
        posted = await self.api.post(f"{self.path}/pulls/{part(number)}/reviews", data=request)
        return str(posted["id"])

    async def delete_review(self, number: int, review_id: str) -> None:
        """DELETE /pulls/{n}/reviews/{id}: a pending review (GitHub refuses others, 422)."""
        await self.api.delete(f"{self.path}/pulls/{part(number)}/reviews/{part(review_id)}")

    async def delete_pending_reviews(self, number: int) -> None:
        """Delete our pending review of the PR, if one is left (the list shows only the
        caller's own pending reviews)."""
        async for review in self.api.getiter(f"{self.path}/pulls/{part(number)}/reviews"):
            if review.get("state") == "PENDING":
                await self.delete_review(number, str(review["id"]))

    async def find_review(self, number: int, marker: str) -> str | None:
        """The id of our earlier review whose body carries `marker`, if any."""
        async for earlier in self.api.getiter(f"{self.path}/pulls/{part(number)}/reviews"):
            if marker in (earlier.get("body") or ""):
                return str(earlier["id"])
        return None

    async def create_comment(self, number: int, body: str) -> str:
        """POST /issues/{n}/comments; the comment's id."""
        posted = await self.api.post(
            f"{self.path}/issues/{part(number)}/comments", data={"body": body}
        )
        return str(posted["id"])

    async def update_comment(self, comment_id: str, body: str) -> None:
        await self.api.patch(f"{self.path}/issues/comments/{part(comment_id)}", data={"body": body})

    async def find_comment(self, number: int, marker: str) -> str | None:
        """The id of our earlier issue comment whose body carries `marker`, if any."""
        async for comment in self.api.getiter(f"{self.path}/issues/{part(number)}/comments"):
            if marker in (comment.get("body") or ""):
                return str(comment["id"])
        return None

    async def check_run(self, check_run_id: int | str) -> Mapping[str, Any]:
        found: Mapping[str, Any] = await self.api.getitem(
            f"{self.path}/check-runs/{part(check_run_id)}"
        )
        return found

    async def check_runs_for(
        self, ref: str, name: str, *, filter: str = "all"
    ) -> list[Mapping[str, Any]]:
        """GET /commits/{ref}/check-runs?check_name=…&filter=…: the runs of that name (filter
        'latest': only the most recent run of each)."""
        found = await self.api.getitem(
            f"{self.path}/commits/{part(ref, slashes=True)}/check-runs"
            + query({"check_name": name, "filter": filter, "per_page": 100})
        )
        return list(found.get("check_runs") or ())

    async def create_check_run(self, request: Mapping[str, Any]) -> str:
        made = await self.api.post(f"{self.path}/check-runs", data=request)
        return str(made["id"])

    async def update_check_run(self, check_run_id: str, changes: Mapping[str, Any]) -> None:
        await self.api.patch(f"{self.path}/check-runs/{part(check_run_id)}", data=changes)

    async def annotations(self, check_run_id: int) -> list[Mapping[str, Any]]:
        return [
            note
            async for note in self.api.getiter(
                f"{self.path}/check-runs/{part(check_run_id)}/annotations"
            )
        ]

    async def run_jobs(self, run_id: str) -> list[Mapping[str, Any]]:
        """GET /actions/runs/{id}/jobs, every page."""
        jobs = f"{self.path}/actions/runs/{part(run_id)}/jobs"
        return [job async for job in self.api.getiter(jobs, iterable_key="jobs")]

    async def tip(self, branch: str) -> Mapping[str, Any]:
        """GET /commits/{branch}: the branch's head commit."""
        found: Mapping[str, Any] = await self.api.getitem(
            f"{self.path}/commits/{part(branch, slashes=True)}"
        )
        return found

    async def git_commit(self, sha: str) -> Mapping[str, Any]:
        found: Mapping[str, Any] = await self.api.getitem(f"{self.path}/git/commits/{part(sha)}")
        return found

    async def git_tree(self, sha: str) -> Mapping[str, Any]:
        found: Mapping[str, Any] = await self.api.getitem(f"{self.path}/git/trees/{part(sha)}")
        return found

    async def contents(self, path: str, ref: str) -> Mapping[str, Any]:
        found: Mapping[str, Any] = await self.api.getitem(
            f"{self.path}/contents/{part(path, slashes=True)}{query({'ref': ref})}"
        )
        return found

    async def create_tree(self, base_tree: str, tree: list[Mapping[str, Any]]) -> str:
        made = await self.api.post(
            f"{self.path}/git/trees", data={"base_tree": base_tree, "tree": tree}
        )
        return str(made["sha"])

    async def create_commit(self, message: str, tree: str, parents: list[str]) -> str:
        made = await self.api.post(
            f"{self.path}/git/commits", data={"message": message, "tree": tree, "parents": parents}
        )
        return str(made["sha"])

    async def move_branch(self, branch: str, sha: str) -> None:
        """PATCH /git/refs/heads/{branch}, force false: fast-forward only, so a push made
        meanwhile is refused (422) rather than lost."""
        await self.api.patch(
            f"{self.path}/git/refs/heads/{part(branch, slashes=True)}",
            data={"sha": sha, "force": False},
        )

    # Declared workflows' steps (app/workflows/steps.py).

    async def default_branch(self) -> str:
        """GET /repos/{repo}: the repository's default branch."""
        return str((await self.api.getitem(self.path))["default_branch"])

    async def pull(self, number: int) -> Mapping[str, Any]:
        """GET /pulls/{n}: the pull request as it stands (labels, author_association …)."""
        found: Mapping[str, Any] = await self.api.getitem(f"{self.path}/pulls/{part(number)}")
        return found

    async def open_pulls(self) -> list[Mapping[str, Any]]:
        """GET /pulls?state=open, every page, least recently updated first."""
        params: dict[str, str | int] = {
            "state": "open",
            "sort": "updated",
            "direction": "asc",
            "per_page": 100,
        }
        url = f"{self.path}/pulls{query(params)}"
        return [p async for p in self.api.getiter(url)]

    async def add_labels(self, number: int, labels: list[str]) -> list[str]:
        """POST /issues/{n}/labels (labels a repository lacks are created); the PR's labels."""
        answer = await self.api.post(
            f"{self.path}/issues/{part(number)}/labels", data={"labels": labels}
        )
        return [label["name"] for label in answer]

    async def remove_label(self, number: int, name: str) -> None:
        """DELETE /issues/{n}/labels/{name}; a label the PR does not have is 404."""
        await self.api.delete(f"{self.path}/issues/{part(number)}/labels/{part(name)}")

    async def request_reviewers(
        self, number: int, reviewers: list[str], teams: list[str]
    ) -> Mapping[str, Any]:
        """POST /pulls/{n}/requested_reviewers (teams by slug)."""
        found: Mapping[str, Any] = await self.api.post(
            f"{self.path}/pulls/{part(number)}/requested_reviewers",
            data={"reviewers": reviewers, "team_reviewers": teams},
        )
        return found

    async def add_assignees(self, number: int, assignees: list[str]) -> Mapping[str, Any]:
        """POST /issues/{n}/assignees (who cannot be assigned is left out by GitHub)."""
        found: Mapping[str, Any] = await self.api.post(
            f"{self.path}/issues/{part(number)}/assignees", data={"assignees": assignees}
        )
        return found

    async def permission(self, login: str) -> str:
        """GET /collaborators/{login}/permission: admin, write, read or none (maintain and
        triage read as write and read, GitHub's own mapping in this field)."""
        answer = await self.api.getitem(f"{self.path}/collaborators/{part(login)}/permission")
        return str(answer.get("permission") or "none")

    async def close_pull(self, number: int) -> None:
        """PATCH /pulls/{n} state closed."""
        await self.api.patch(f"{self.path}/pulls/{part(number)}", data={"state": "closed"})


def port(api: GitHubAPI, repo: str) -> RepoPort:
    return RepoPort(api, repo)
