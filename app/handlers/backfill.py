"""`hookwise.backfill` and `hookwise.reconcile`: look at one repository on GitHub and record what
is there as if its webhooks had arrived (app/reconcile.py queues these events).

Both list the open pull requests and the latest check runs of their heads. Reconcile then fetches
one by one what is stored as unfinished but GitHub's lists no longer show: pull requests stored
open (closed or merged while no webhook reached us) and check runs not completed. Rows are written
by the webhook handlers' store functions, so nothing moves backwards, and the state history names
the cause: `manual_check` for a backfill, `reconcile` for a reconcile.

A repository that answers 404 or 403 (gone, or permissions changed) counts a failure and the event
completes, since trying again soon would not help; enough failures in a row mark it error, then
suspended. Rate limits are not failures: RateLimited reschedules the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

from gidgethub import BadRequest

from app.clients.github import GitHubAPI
from app.clients.urls import part, query, repo_url
from app.handlers import check_runs as check_run_handler
from app.handlers import pull_requests as pull_request_handler
from app.handlers.github_payload import ensure_repository, installation_id
from app.reconcile import BACKFILL, RECONCILE
from app.router import HandlerContext, Router
from app.store import check_runs, pull_requests, repositories
from app.store.repositories import Watched

router = Router()

TRIGGERS = {BACKFILL: "manual_check", RECONCILE: "reconcile"}
PER_PAGE = 100
# Answers that say the App may no longer read the repository.
REFUSED = frozenset({HTTPStatus.NOT_FOUND, HTTPStatus.FORBIDDEN})


class NoGitHubApp(Exception):
    """Backfill and reconcile need the GitHub App: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY."""


@dataclass
class Survey:
    """One look at one repository, inside the event's transaction."""

    ctx: HandlerContext
    api: GitHubAPI
    repository: Watched
    trigger: str
    pulls_written: int = 0
    runs_seen: set[int] = field(default_factory=set)
    shas_seen: set[str] = field(default_factory=set)

    @property
    def path(self) -> str:
        return repo_url(self.repository.full_name)

    async def open_pulls(self) -> set[int]:
        """Record every open PR and the latest check runs of its head; their numbers."""
        listed = [
            pr
            async for pr in self.api.getiter(
                f"{self.path}/pulls{query({'state': 'open', 'per_page': PER_PAGE})}"
            )
        ]
        await self.record_pulls(listed)
        for pr in listed:
            await self.head_runs(pr["head"]["sha"])
        return {pr["number"] for pr in listed}

    async def closed_pulls(self, still_open: set[int]) -> None:
        """Fetch the PRs stored open that GitHub no longer lists as open."""
        stored = await pull_requests.open_numbers(self.ctx.conn, self.repository.id)
        for number in sorted(set(stored) - still_open):
            pr = await self.get_or_none(f"{self.path}/pulls/{part(number)}")
            if pr is not None:
                await self.record_pulls([pr])

    async def unfinished_runs(self) -> None:
        """Fetch the check runs stored as not completed that this survey has not seen yet."""
        stored = await check_runs.unfinished(self.ctx.conn, self.repository.id)
        for run_id in stored:
            if run_id not in self.runs_seen:
                run = await self.get_or_none(f"{self.path}/check-runs/{part(run_id)}")
                if run is not None:
                    await self.record_run(run)

    async def record_pulls(self, listed: list[Mapping[str, Any]]) -> None:
        conn = self.ctx.conn
        stored = await pull_requests.stamps(conn, [pr["id"] for pr in listed])
        for pr in listed:
            row = pull_request_handler.to_row(
                pr,
                repository_id=self.repository.id,
                action=None,
                delivery_id=self.ctx.event.delivery_id,
            )
            # Unchanged since stored: rewriting would only replace the webhook's trigger with ours.
            if stored.get(row.github_id) == (row.github_updated_at, row.state):
                continue
            pull_request_id = await pull_requests.upsert(
                conn, replace(row, last_trigger=self.trigger)
            )
            await check_runs.link_orphans(
                conn,
                pull_request_id=pull_request_id,
                repository_id=self.repository.id,
                head_sha=pr["head"]["sha"],
            )
            self.pulls_written += 1

    async def head_runs(self, sha: str) -> None:
        """The latest run of each check on a commit (GitHub's filter=latest, its default)."""
        if sha in self.shas_seen:
            return
        self.shas_seen.add(sha)
        url = f"{self.path}/commits/{part(sha)}/check-runs{query({'per_page': PER_PAGE})}"
        try:
            async for run in self.api.getiter(url, iterable_key="check_runs"):
                await self.record_run(run)
        except BadRequest as exc:
            # A head commit GitHub no longer has (history rewritten): nothing to record for it.
            if exc.status_code != HTTPStatus.UNPROCESSABLE_ENTITY:
                raise
            self.ctx.log.info("no commit %s in %s", sha, self.repository.full_name)

    async def record_run(self, run: Mapping[str, Any]) -> None:
        """As the check_run handler records a run: upsert, then link it to its PR if stored."""
        conn, repository = self.ctx.conn, self.repository
        row = check_run_handler.to_row(run, repository_id=repository.id)
        check_run_id = await check_runs.upsert(conn, row)
        pull_request_id = await check_runs.find_pull_request(
            conn,
            repository_id=repository.id,
            numbers=check_run_handler.listed_numbers(run, repository.github_id),
            head_sha=run["head_sha"],
        )
        if pull_request_id is not None:
            await check_runs.link(conn, check_run_id=check_run_id, pull_request_id=pull_request_id)
        self.runs_seen.add(run["id"])

    async def get_or_none(self, url: str) -> Any:
        """One item; None when only it is gone (the repository answered its list a moment ago)."""
        try:
            return await self.api.getitem(url)
        except BadRequest as exc:
            if exc.status_code != HTTPStatus.NOT_FOUND:
                raise
            self.ctx.log.info("%s: not found", url)
            return None


@router.register("github", BACKFILL)
@router.register("github", RECONCILE)
async def survey(ctx: HandlerContext) -> None:
    github = ctx.app.github
    if github is None:
        raise NoGitHubApp
    repository = await _repository(ctx)
    if repository is None or repository.status in ("removed", "suspended"):
        # Queued before it was removed or suspended: revived by an installation event or by
        # `hookwise reconcile --repo`, which queue a look of their own.
        ctx.log.info("not looking at %s: %s", _name(ctx), repository and repository.status)
        return
    owner = repository.installation_id or installation_id(ctx.payload)
    if owner is None:
        ctx.log.info("not looking at %s: no installation can read it", repository.full_name)
        return
    try:
        api = await github.installation_api(owner)
        found = Survey(ctx, api, repository, TRIGGERS[ctx.event.event_type])
        still_open = await found.open_pulls()
        if ctx.event.event_type == RECONCILE:
            await found.closed_pulls(still_open)
            await found.unfinished_runs()
    except BadRequest as exc:
        if exc.status_code not in REFUSED:
            raise
        await _refused(ctx, repository, exc)
        return
    await repositories.polled(ctx.conn, repository.id)
    ctx.log.info(
        "%s of %s: %d open pull requests, %d written, %d check runs",
        ctx.event.event_type,
        repository.full_name,
        len(still_open),
        found.pulls_written,
        len(found.runs_seen),
        extra={"action": "repository_polled"},
    )


async def _repository(ctx: HandlerContext) -> Watched | None:
    github_id = int(ctx.payload["repository"]["id"])
    stored = await repositories.by_github_id(ctx.conn, github_id)
    if stored is None and ctx.payload["repository"].get("full_name"):
        # Queued by hand or replayed into an emptied database: the payload names enough.
        await ensure_repository(ctx.conn, ctx.payload)
        stored = await repositories.by_github_id(ctx.conn, github_id)
    return stored


def _name(ctx: HandlerContext) -> str:
    repo = ctx.payload.get("repository") or {}
    return str(repo.get("full_name") or repo.get("id"))


async def _refused(ctx: HandlerContext, repository: Watched, exc: BadRequest) -> None:
    settings = ctx.settings
    error = f"{int(exc.status_code)} {exc}"
    status, failures = await repositories.poll_failed(
        ctx.conn,
        repository.id,
        error,
        error_after=settings.reconcile_error_after,
        suspend_after=settings.reconcile_suspend_after,
    )
    ctx.log.warning(
        "%s of %s refused (%s): %d in a row, now %s",
        ctx.event.event_type,
        repository.full_name,
        error,
        failures,
        status,
        extra={"action": "repository_refused"},
    )
